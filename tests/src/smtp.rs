//! A real SMTP server for tests: Debian's aiosmtpd (`python3-aiosmtpd`, which
//! scripts/ensure-services installs), storing every mail it accepts as a file in a maildir, and
//! the mails read back as a customer's mail client would see their headers and body.

use std::path::PathBuf;
use std::time::Duration;

use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::eventually;

/// The longest a test waits for the server to listen or for mail to arrive.
const WAIT: Duration = Duration::from_secs(30);

/// Debian's aiosmtpd package installs for the system interpreter.
const PYTHON: &str = "/usr/bin/python3";

/// `python3 -m aiosmtpd` on `port`, every accepted mail a file in its maildir; killed when
/// dropped.
#[derive(Debug)]
pub struct SmtpServer {
    child: Child,
    maildir: PathBuf,
}

/// One delivered mail: its headers and body as the server stored them.
#[derive(Debug, Clone)]
pub struct Mail {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Mail {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl SmtpServer {
    /// Starts the server and waits (bounded) until it accepts connections.
    pub async fn start(port: u16) -> SmtpServer {
        let maildir = std::env::temp_dir().join(format!("notifier-mail-{}", Uuid::new_v4()));
        let child = Command::new(PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .kill_on_drop(true)
            .spawn()
            .expect("aiosmtpd starts (apt-get install python3-aiosmtpd; scripts/ensure-services)");
        let listening = eventually(WAIT, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        assert!(listening.is_some(), "aiosmtpd listens on {port}");
        SmtpServer { child, maildir }
    }

    /// Every mail delivered so far.
    pub fn mails(&self) -> Vec<Mail> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
            .map(|text| parse_mail(&text))
            .collect()
    }

    /// How many mails were delivered so far (without reading them).
    pub fn count(&self) -> usize {
        std::fs::read_dir(self.maildir.join("new")).map_or(0, |entries| entries.count())
    }

    /// Every mail delivered so far with the moment the server stored it (its file's
    /// modification time), for latency measurements.
    pub fn mails_with_arrival(&self) -> Vec<(Mail, std::time::SystemTime)> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let arrived = std::fs::metadata(&path).ok()?.modified().ok()?;
                let text = std::fs::read_to_string(&path).ok()?;
                Some((parse_mail(&text), arrived))
            })
            .collect()
    }

    /// Waits (bounded) until at least `count` mails arrived, and returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Mail> {
        eventually(WAIT, || async {
            let mails = self.mails();
            (mails.len() >= count).then_some(mails)
        })
        .await
        .unwrap_or_else(|| panic!("{count} mail(s) within {WAIT:?}; got {:?}", self.mails()))
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

/// Headers (unfolded) up to the first blank line, then the body.
fn parse_mail(text: &str) -> Mail {
    let text = text.replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    Mail {
        headers,
        body: body.to_owned(),
    }
}
