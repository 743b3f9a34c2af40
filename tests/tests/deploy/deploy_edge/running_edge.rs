//! The shipped Caddyfile run by Debian's `caddy` binary, natively, in front of loopback stand-ins
//! for landing and ingress: what a client writes into X-Forwarded-For never reaches a service, and
//! in `EDGE_TLS=provided` mode the operator's certificate is the one clients get. Only what ties
//! the file to the compose network is substituted: the services' DNS names and ports become
//! loopback ports, the listening ports become free ones on the loopback, and the certificates'
//! mount point becomes a temporary directory. Everything else (routes, header handling, the TLS
//! snippets) is the shipped text.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tests::eventually;
use tests::free_port;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use tests::deploy_support::repo_root;

/// Caddy's start, its local authority's first certificate included.
const STARTUP: Duration = Duration::from_secs(20);

/// What a client sends to pass as someone else (TEST-NET-3, RFC 5737).
const FORGED: &str = "203.0.113.9";

/// The reason to skip when one of `programs` is not on the PATH, printed as `SKIPPED: …`.
fn skipped(programs: &[&str]) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| !std::env::split_paths(&path).any(|dir| dir.join(p).is_file()))
        .collect();
    if missing.is_empty() {
        return false;
    }
    println!(
        "SKIPPED: {} not installed (Debian's packages; scripts/ensure-services installs them)",
        missing.join(", ")
    );
    true
}

/// `text` with every `from` replaced, once it is certain there are `count` of them: a file that
/// changed shape fails here, rather than the test checking something other than the shipped file.
fn substitute(text: &str, file: &str, from: &str, to: &str, count: usize) -> String {
    assert_eq!(
        text.matches(from).count(),
        count,
        "{file} no longer holds {from:?} {count} time(s): adjust this test's substitution"
    );
    text.replace(from, to)
}

/// A stand-in for landing or ingress: answers every request 200 and records, per request, the
/// X-Forwarded-For values it carried (one per header line).
struct Upstream {
    port: u16,
    seen: Arc<Mutex<Vec<Vec<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, recorder.clone()));
            }
        });
        Upstream { port, seen, task }
    }

    fn seen(&self) -> Vec<Vec<String>> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request's head, records its X-Forwarded-For values and answers 200, closing the
/// connection (so that each request the edge forwards is read on its own).
async fn answer(mut stream: TcpStream, seen: Arc<Mutex<Vec<Vec<String>>>>) {
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let forwarded: Vec<String> = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("x-forwarded-for"))
        .map(|(_, value)| value.trim().to_owned())
        .collect();
    seen.lock().unwrap().push(forwarded);
    let _ = stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        .await;
}

/// A directory removed on drop.
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

enum Tls<'a> {
    /// `EDGE_TLS=automatic`: for `localhost`, Caddy's own local authority.
    Automatic,
    /// `EDGE_TLS=provided`, with `cert.pem` and `key.pem` in this directory.
    Provided(&'a Path),
}

/// `caddy run` of the shipped Caddyfile (site `localhost`), stopped on drop.
struct RunningEdge {
    child: Child,
    dir: PathBuf,
    https_port: u16,
}

impl RunningEdge {
    fn start(tls: Tls<'_>, landing: u16, ingress: u16) -> RunningEdge {
        let dir = std::env::temp_dir().join(format!("edge-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("tls")).unwrap();
        let https_port = free_port();
        let shipped = repo_root().join("deploy/edge");
        let caddyfile = std::fs::read_to_string(shipped.join("Caddyfile")).unwrap();
        let name = "deploy/edge/Caddyfile";
        // Ports of our own on the loopback: 80 and 443 may be taken, and tests run side by side.
        let caddyfile = substitute(
            &caddyfile,
            name,
            "\tadmin off\n",
            &format!(
                "\tadmin off\n\thttp_port {}\n\thttps_port {https_port}\n\tdefault_bind 127.0.0.1\n",
                free_port()
            ),
            1,
        );
        let caddyfile = substitute(
            &caddyfile,
            name,
            "dynamic a ingress 8080",
            &format!("dynamic a 127.0.0.1 {ingress}"),
            1,
        );
        let caddyfile = substitute(
            &caddyfile,
            name,
            "dynamic a landing 8082",
            &format!("dynamic a 127.0.0.1 {landing}"),
            1,
        );
        let caddyfile = substitute(
            &caddyfile,
            name,
            "http://:8088",
            &format!("http://:{}", free_port()),
            1,
        );
        std::fs::write(dir.join("Caddyfile"), caddyfile).unwrap();
        for snippet in ["automatic.caddy", "provided.caddy"] {
            let text = std::fs::read_to_string(shipped.join("tls").join(snippet)).unwrap();
            let text = match (&tls, snippet) {
                (Tls::Provided(certificates), "provided.caddy") => substitute(
                    &text,
                    "deploy/edge/tls/provided.caddy",
                    "/etc/caddy/certificates/",
                    &format!("{}/", certificates.display()),
                    2,
                ),
                _ => text,
            };
            std::fs::write(dir.join("tls").join(snippet), text).unwrap();
        }
        let mode = match tls {
            Tls::Automatic => "automatic",
            Tls::Provided(_) => "provided",
        };
        let log = std::fs::File::create(dir.join("caddy.log")).unwrap();
        let child = Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(dir.join("Caddyfile"))
            .env("EDGE_TLS", mode)
            .env("EDGE_SITE_ADDRESS", "localhost")
            // Caddy's storage (the local authority, its certificates) in our directory, never
            // the user's.
            .env("HOME", &dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("caddy starts");
        RunningEdge {
            child,
            dir,
            https_port,
        }
    }

    fn address(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.https_port).into()
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https_port)
    }

    /// The local authority's root certificate, once Caddy has made it (automatic mode).
    fn local_root(&self) -> Option<reqwest::Certificate> {
        let path = self.dir.join("data/caddy/pki/authorities/local/root.crt");
        reqwest::Certificate::from_pem(&std::fs::read(path).ok()?).ok()
    }

    /// Caddy's log so far, and whether it has exited, for a failure message.
    fn report(&mut self) -> String {
        let exited = self.child.try_wait().ok().flatten();
        let log = std::fs::read_to_string(self.dir.join("caddy.log")).unwrap_or_default();
        format!("caddy exited: {exited:?}\n{log}")
    }
}

impl Drop for RunningEdge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn a_forged_x_forwarded_for_never_reaches_landing_or_ingress() {
    if skipped(&["caddy"]) {
        return;
    }
    let landing = Upstream::start().await;
    let ingress = Upstream::start().await;
    let mut edge = RunningEdge::start(Tls::Automatic, landing.port, ingress.port);
    let client = eventually(STARTUP, || async {
        let client = reqwest::Client::builder()
            .add_root_certificate(edge.local_root()?)
            .resolve("localhost", edge.address())
            .build()
            .unwrap();
        // Ready once a request goes through; every probe carries the forged address too.
        let response = client
            .get(edge.url("/order/success?session_id=cs_x"))
            .header("X-Forwarded-For", FORGED)
            .send()
            .await
            .ok()?;
        (response.status() == 200).then_some(client)
    })
    .await;
    let Some(client) = client else {
        panic!(
            "the edge did not proxy to landing within {STARTUP:?}: {}",
            edge.report()
        );
    };
    let webhook = client
        .post(edge.url("/webhook"))
        .header("X-Forwarded-For", format!("{FORGED}, 198.51.100.7"))
        .body("{}")
        .send()
        .await
        .expect("the edge answers the webhook");
    assert_eq!(webhook.status(), 200, "{}", edge.report());

    // The edge writes the header itself: the address the connection came from, and nothing the
    // client wrote (landing's trusted_proxies would otherwise credit a forged address).
    for (service, upstream) in [("landing", &landing), ("ingress", &ingress)] {
        let seen = upstream.seen();
        assert!(!seen.is_empty(), "no request reached {service}");
        for forwarded in seen {
            assert_eq!(
                forwarded,
                vec!["127.0.0.1".to_owned()],
                "{service} was told the client is {forwarded:?}; it connected from 127.0.0.1 \
                 and claimed {FORGED}"
            );
        }
    }
}

#[tokio::test]
async fn in_provided_mode_the_edge_serves_the_operators_certificate() {
    if skipped(&["caddy", "openssl"]) {
        return;
    }
    let directory =
        Removed(std::env::temp_dir().join(format!("edge-certs-{}", uuid::Uuid::new_v4())));
    let certificates = directory.0.as_path();
    std::fs::create_dir_all(certificates).unwrap();
    let subject = format!("/CN=localhost/O=edge test {}", uuid::Uuid::new_v4());
    // A leaf (not a CA) for localhost: a client that trusts exactly this certificate accepts it.
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args([
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &subject,
        ])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(certificates.join("key.pem"))
        .arg("-out")
        .arg(certificates.join("cert.pem"))
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(certificates.join("cert.pem"))
        .output()
        .expect("openssl runs");
    assert!(der.status.success());
    let pem = std::fs::read(certificates.join("cert.pem")).unwrap();

    let landing = Upstream::start().await;
    let ingress = Upstream::start().await;
    let mut edge = RunningEdge::start(Tls::Provided(certificates), landing.port, ingress.port);
    // Trusts this certificate and nothing else: no public authority, no local one.
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .tls_info(true)
        .resolve("localhost", edge.address())
        .build()
        .unwrap();
    let response = eventually(STARTUP, || async {
        client.get(edge.url("/")).send().await.ok()
    })
    .await;
    let Some(response) = response else {
        let error = client.get(edge.url("/")).send().await.err();
        panic!(
            "no handshake with a client trusting only the provided certificate within \
             {STARTUP:?}: {error:?}\n{}",
            edge.report()
        );
    };
    assert_eq!(response.status(), 200, "the edge proxies to landing");
    let served = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the connection's certificate")
        .to_vec();
    assert!(
        served == der.stdout,
        "the edge served another certificate than {}/cert.pem",
        certificates.display()
    );

    // And the handshake succeeded because of that trust: a client with only the public
    // authorities refuses the same edge.
    let stranger = reqwest::Client::builder()
        .resolve("localhost", edge.address())
        .build()
        .unwrap();
    assert!(stranger.get(edge.url("/")).send().await.is_err());
}
