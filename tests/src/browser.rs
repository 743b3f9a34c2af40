//! A real browser for tests: headless Chromium (Debian's `chromium` and `chromium-driver`
//! packages) driven over WebDriver with fantoccini.
//!
//! [`Browser::start`] launches `chromedriver` on a free port with a fresh profile directory and
//! opens a session; [`Browser::screenshot`] saves a PNG under `target/artifacts/` (a test
//! artifact, never committed); [`Browser::close`] ends the session, which quits Chromium, then
//! stops the driver and removes the profile. If a test panics before `close`, `Drop` kills the
//! driver's process group (Chromium included) and removes the profile.
//!
//! `CHROMIUM_BINARY` and `CHROMEDRIVER` override the default paths.

use crate::free_port;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;

use crate::eventually;

const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
const DEFAULT_CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long chromedriver may take to answer `/status` after it is spawned.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);

/// One headless Chromium session with its own chromedriver.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    processes: Processes,
}

/// What a session leaves on the machine: the driver (Chromium runs in its process group) and
/// the profile directory. Dropping it removes both.
#[derive(Debug)]
struct Processes {
    driver: Option<tokio::process::Child>,
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session with a `width`×`height` window.
    pub async fn start_with_window(width: u32, height: u32) -> Browser {
        Self::launch(width, height, false).await
    }

    /// A desktop-sized window that accepts a certificate it cannot verify: the compose stack's
    /// edge on `localhost`, whose certificate comes from a local authority this browser's fresh
    /// profile has never been told about (the tests check that certificate themselves, with the
    /// authority's root).
    pub async fn start_accepting_local_certificates() -> Browser {
        Self::launch(1280, 1000, true).await
    }

    async fn launch(width: u32, height: u32, accept_insecure_certs: bool) -> Browser {
        let chromium = env_or("CHROMIUM_BINARY", DEFAULT_CHROMIUM);
        let chromedriver = env_or("CHROMEDRIVER", DEFAULT_CHROMEDRIVER);
        let port = free_port();
        let profile =
            std::env::temp_dir().join(format!("chromium-profile-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&profile).expect("create the browser profile directory");
        let driver = tokio::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that Drop can stop Chromium with it.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {chromedriver} (apt-get install -y chromium chromium-driver): {e}")
            });
        let processes = Processes {
            driver: Some(driver),
            profile,
        };
        let webdriver = format!("http://127.0.0.1:{port}");
        let ready = eventually(DRIVER_START_TIMEOUT, || async {
            let status: serde_json::Value = reqwest::get(format!("{webdriver}/status"))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            status["value"]["ready"].as_bool().filter(|ready| *ready)
        })
        .await;
        assert!(
            ready.is_some(),
            "chromedriver did not become ready on port {port}"
        );
        let capabilities = serde_json::json!({
            "acceptInsecureCerts": accept_insecure_certs,
            // Keep every console message, so a test can fail on a CSP violation.
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    format!("--user-data-dir={}", processes.profile.display()),
                    format!("--window-size={width},{height}"),
                ]
            }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .expect("open a WebDriver session in Chromium");
        Browser { client, processes }
    }

    /// A desktop-sized window (1280×1000).
    pub async fn start() -> Browser {
        Self::start_with_window(1280, 1000).await
    }

    /// The WebDriver client: `goto`, `find`, `wait`, `execute`…
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Saves a screenshot of the viewport as `target/artifacts/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("take a screenshot");
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).expect("create target/artifacts");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// Ends the session (Chromium quits), stops chromedriver, removes the profile.
    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        if let Some(mut driver) = self.processes.driver.take() {
            let _ = driver.kill().await;
        }
        // Dropping `processes` removes the profile.
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.take() {
            // Not closed (the test failed first): stop the whole group we started, by its id.
            if let Some(pid) = driver.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `target/artifacts`, honouring `CARGO_TARGET_DIR`.
pub fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        });
    target.join("artifacts")
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}
