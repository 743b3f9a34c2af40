//! The native run path, as a developer uses it: `scripts/run --check` builds the services,
//! starts stripe-sim, the ingress, two workers and landing wired to each other, waits until each
//! is ready, runs one checkout through the simulator (shop form → payment page → signed webhook →
//! ingress → queue → worker → success page), and stops them all.
//!
//! Run here against a fresh database, a unique broker prefix and free ports, with the debug
//! binaries (RUN_PROFILE=debug), so it never meets a developer's own `scripts/run`.

use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use tests::deploy_support::repo_root;
use tests::free_port;
use tests::{TestBroker, TestDb};
use tokio::process::Command;

/// Building the four binaries can wait on other cargo processes; the run itself takes seconds.
const RUN_BUDGET: Duration = Duration::from_secs(14 * 60);

fn logs(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        out.push_str(&format!("\n--- {} ---\n", entry.path().display()));
        for line in tail.into_iter().rev() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[tokio::test]
async fn scripts_run_check_starts_everything_fulfills_one_checkout_through_the_simulator_and_stops()
{
    let (db, broker) = tokio::join!(TestDb::create(), TestBroker::create());
    let log_dir = std::env::temp_dir().join(format!(
        "deploy-native-run-{}",
        broker.prefix.trim_end_matches('.')
    ));
    let tiers = broker
        .topology
        .retry_tiers()
        .iter()
        .map(|d| d.as_millis().to_string())
        .collect::<Vec<_>>()
        .join(",");
    // The broker settings the services run with; the operator commands below must declare the
    // same queue arguments.
    let broker_env = [
        ("APP_BROKER__URL", tests::amqp_url()),
        ("APP_BROKER__PREFIX", broker.prefix.clone()),
        ("APP_BROKER__RETRY_TIERS_MS", tiers),
        ("APP_BROKER__DELIVERY_LIMIT", "5".to_owned()),
    ];
    let ports: Vec<u16> = (0..8).map(|_| free_port()).collect();
    let landing_port = ports[2];

    let mut child = Command::new("bash")
        .arg(repo_root().join("scripts/run"))
        .arg("--check")
        .current_dir(repo_root())
        // The test runner's CARGO_MANIFEST_DIR would reach the build `scripts/run` starts and
        // dirty ring's build script (it tracks that variable): the whole TLS stack, and
        // everything above it, would be rebuilt here and again by the next ordinary build.
        .env_remove("CARGO_MANIFEST_DIR")
        .env("RUN_PROFILE", "debug")
        .env("RUN_LOG_DIR", &log_dir)
        .env("DB_NAME", &db.name)
        .env("APP_DATABASE__URL", &db.url)
        .envs(broker_env.clone())
        .env("SIM_PORT", ports[0].to_string())
        .env("INGRESS_PORT", ports[1].to_string())
        .env("LANDING_PORT", landing_port.to_string())
        .env("WORKER_PORTS", format!("{} {}", ports[3], ports[4]))
        .env("NOTIFIER_PORT", ports[5].to_string())
        .env("SMTP_PORT", ports[6].to_string())
        .env("CONSOLE_PORT", ports[7].to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("bash runs scripts/run");
    let pid = child.id().expect("the script is running");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let read_all = |mut stream: Box<dyn tokio::io::AsyncRead + Unpin + Send>| async move {
        let mut text = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut text).await;
        text
    };
    let out_task = tokio::spawn(read_all(Box::new(stdout)));
    let err_task = tokio::spawn(read_all(Box::new(stderr)));

    let status = match tokio::time::timeout(RUN_BUDGET, child.wait()).await {
        Ok(status) => status.expect("wait for scripts/run"),
        Err(_) => {
            // SIGTERM lets the script's trap stop the services it started.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
            panic!(
                "scripts/run --check did not finish within {RUN_BUDGET:?}{}",
                logs(&log_dir)
            );
        }
    };
    let out = out_task.await.unwrap();
    let err = err_task.await.unwrap();
    let diagnostics = format!("stdout:\n{out}\nstderr:\n{err}{}", logs(&log_dir));
    assert!(
        status.success(),
        "scripts/run --check failed ({status}):\n{diagnostics}"
    );

    // Started and announced.
    assert!(
        out.contains(&format!(
            "shop (landing)      http://127.0.0.1:{landing_port}/"
        )),
        "{diagnostics}"
    );
    // The queue dashboard is announced, and answers with the run's queue in it.
    assert!(
        out.contains("RabbitMQ queues     http://127.0.0.1:15672/#/queues"),
        "{diagnostics}"
    );
    assert!(
        out.contains(&format!(
            "check: the RabbitMQ management UI lists {}checkout.fulfillment",
            broker.prefix
        )),
        "{diagnostics}"
    );
    // The operators' console is announced, and its operator found the order there.
    assert!(
        out.contains(&format!(
            "operators' console  http://127.0.0.1:{}/   (operator / ",
            ports[7]
        )),
        "{diagnostics}"
    );
    assert!(
        out.contains("check: the operators' console finds the order by its customer's email"),
        "{diagnostics}"
    );
    // One checkout went all the way through.
    let check = out
        .lines()
        .find(|l| l.starts_with("check: cs_"))
        .unwrap_or_else(|| panic!("no check line:\n{diagnostics}"));
    assert!(
        check.contains("paid, acknowledged, fulfilled by the"),
        "{check}"
    );
    let session = check.split_whitespace().nth(1).unwrap();
    let (state, name): (String, Option<String>) =
        sqlx::query_as("SELECT state, customer_name FROM checkout_orders WHERE session_id = $1")
            .bind(session)
            .fetch_one(&db.pool)
            .await
            .expect("the order is in the database");
    assert_eq!(state, "fulfilled");
    assert_eq!(name.as_deref(), Some("Run Check"));
    let webhook_events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM stripe_events WHERE session_id = $1 AND event_type = 'checkout.session.completed'",
    )
    .bind(session)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        webhook_events, 1,
        "the completed event reached a worker through the queue once"
    );
    // The notifier mailed the confirmation to the local SMTP server, which kept it.
    assert!(
        out.contains("check: the confirmation mail reached the customer"),
        "{diagnostics}"
    );
    let mails: Vec<String> = std::fs::read_dir(log_dir.join("mail/new"))
        .expect("the SMTP server's maildir")
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
        .collect();
    assert_eq!(mails.len(), 1, "one confirmation: {mails:#?}");
    assert!(
        mails[0].contains("To: run.check@example.com") && mails[0].contains("Hello Run Check,"),
        "{}",
        mails[0]
    );

    // And stopped: every service drained and let go of its port.
    assert!(out.contains("stopped"), "{diagnostics}");
    for port in ports {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "something still listens on {port} after the script stopped"
        );
    }
    let _ = std::fs::remove_dir_all(&log_dir);

    // The operator commands print their report alone on stdout, to be read by a script; what
    // they log goes to stderr.
    for (binary, report) in [
        ("worker", "redriven: 0; still dead: 0"),
        ("notifier", "redriven: 0; still dead: 0"),
    ] {
        let out = Command::new(repo_root().join("target/debug").join(binary))
            .arg("redrive")
            .current_dir(repo_root())
            .env_remove("RUST_LOG")
            .envs(broker_env.clone())
            .env("APP_LOG__FORMAT", "json")
            .env("APP_LOG__FILTER", "info")
            .output()
            .await
            .expect("the binary scripts/run built");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{binary} redrive: {stdout}{stderr}");
        assert_eq!(stdout.trim_end(), report, "{binary} redrive's stdout");
        assert!(
            stderr.contains("redrove parked messages"),
            "{binary} redrive logs what it moved on stderr: {stderr}"
        );
    }
}
