//! The browser's console, read through chromedriver's log endpoint (`POST /session/{id}/se/log`
//! with `{"type": "browser"}`), which fantoccini has no call for. Chromium reports a
//! Content-Security-Policy violation there ("Refused to load … because it violates the
//! following Content Security Policy directive"), including ones during page load, before any
//! script of the test could listen for them.

use fantoccini::wd::WebDriverCompatibleCommand;

use crate::browser::Browser;

/// One console entry: its level (`SEVERE`, `WARNING`, `INFO`…) and text.
#[derive(Debug, Clone)]
pub struct ConsoleEntry {
    pub level: String,
    pub message: String,
}

#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (reqwest::Method, Option<String>) {
        (
            reqwest::Method::POST,
            Some(r#"{"type":"browser"}"#.to_owned()),
        )
    }
}

impl Browser {
    /// The console entries since the last call (chromedriver hands each out once).
    pub async fn console(&self) -> Vec<ConsoleEntry> {
        let entries = self
            .client()
            .issue_cmd(BrowserLog)
            .await
            .expect("chromedriver returns the browser log");
        entries
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|e| ConsoleEntry {
                        level: e["level"].as_str().unwrap_or_default().to_owned(),
                        message: e["message"].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The console entries since the last call that report a Content-Security-Policy violation.
    pub async fn csp_violations(&self) -> Vec<String> {
        self.console()
            .await
            .into_iter()
            .map(|e| e.message)
            .filter(|m| m.contains("Content Security Policy"))
            .collect()
    }
}
