//! The real `ingress` binary at start-up: it refuses to start without a webhook secret, naming
//! the key, and starts with only its webhook secrets and the broker (no Stripe key, no database
//! URL): what a deployment that gives it nothing else sees.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary with exactly `env` (plus PATH) as its environment.
fn ingress(env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ingress"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ingress binary runs")
}

/// `GET /healthz` over HTTP/1.0: the status line, when something answers.
fn healthz(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.lines().next().map(str::to_owned)
}

#[test]
fn without_a_webhook_secret_the_ingress_refuses_to_start_naming_the_key() {
    let child = ingress(&[("APP_INGRESS__PORT", "0")]);
    let output = child.wait_with_output().expect("the ingress exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused");
    assert!(
        stderr.contains("configuration key `webhook.secrets`: must be set"),
        "{stderr}"
    );
}

#[test]
fn with_only_its_webhook_secrets_and_the_broker_the_ingress_starts() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut child = ingress(&[
        ("APP_WEBHOOK__SECRETS", "whsec_only_this"),
        // Nothing listens there: alive (not ready) without its broker, and nothing is declared
        // on anybody's broker.
        ("APP_BROKER__URL", "amqp://guest:guest@127.0.0.1:1/%2f"),
        // Blank, as a deployment that gives none has them.
        ("APP_DATABASE__URL", ""),
        ("APP_STRIPE__SECRET_KEY", ""),
        ("APP_STRIPE__API_BASE", ""),
        ("APP_INGRESS__HOST", "127.0.0.1"),
        ("APP_INGRESS__PORT", &port),
        ("APP_INGRESS__WORKERS", "1"),
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            panic!("the ingress exited ({status}): {stderr}");
        }
        if let Some(answer) = healthz(port.parse().unwrap()) {
            break answer;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the ingress did not answer /healthz within 30 s");
        }
        // The pause between two probes of a bounded wait.
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.contains(" 200 "), "{answer}");
}
