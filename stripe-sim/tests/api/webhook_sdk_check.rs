//! Deliveries verified by the official stripe-python SDK: `sdk-check/webhook_receiver.py` is the
//! endpoint, answering 200 only when `stripe.Webhook.construct_event` accepts the delivery.

use std::process::Stdio;
use std::time::Duration;

use stripe_sim::{DeliveryStatus, PaymentOutcome, SimConfig, WebhookEndpoint};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::helpers::{bank_transfer_form, card_form, TestSim};

/// A cold Python start with the SDK import can be slow on a busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const LINE_TIMEOUT: Duration = Duration::from_secs(20);

/// The Python receiver, running until dropped.
struct PythonReceiver {
    url: String,
    lines: Lines<BufReader<ChildStdout>>,
    _child: Child,
}

impl PythonReceiver {
    async fn start(secrets: &[&str]) -> PythonReceiver {
        let script = format!(
            "{}/sdk-check/webhook_receiver.py",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut child = Command::new("python3")
            .arg(&script)
            .args(secrets)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs (it is needed for the official SDK check)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(START_TIMEOUT, lines.next_line())
            .await
            .expect("the receiver starts in time")
            .expect("its stdout is readable")
            .expect(
                "the receiver prints its port (is the stripe SDK installed? \
                 pip install -r stripe-sim/sdk-check/requirements.txt)",
            );
        let port = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"));
        PythonReceiver {
            url: format!("http://127.0.0.1:{port}/webhook"),
            lines,
            _child: child,
        }
    }

    /// The receiver's next verdict line.
    async fn next_verdict(&mut self) -> String {
        tokio::time::timeout(LINE_TIMEOUT, self.lines.next_line())
            .await
            .expect("a verdict in time")
            .expect("stdout is readable")
            .expect("the receiver is still running")
    }
}

#[tokio::test]
async fn the_official_python_sdk_verifies_every_delivery_during_a_secret_rotation() {
    let secrets = ["whsec_sdk_check_old", "whsec_sdk_check_new"];
    let mut receiver = PythonReceiver::start(&secrets).await;
    let t = TestSim::spawn_with(SimConfig {
        webhook_endpoints: vec![WebhookEndpoint::new(&receiver.url, &secrets)],
        retry_schedule: vec![],
        ..SimConfig::default()
    })
    .await;
    let card = t
        .create_session(&[("price_tshirt", 2), ("price_mug", 1)])
        .await;
    let transfer = t.create_session(&[("price_tenugui", 3)]).await;

    let paid = t.pay(&card, &card_form("4242424242424242")).await;
    let unpaid = t.pay(&transfer, &bank_transfer_form()).await;
    t.state()
        .succeed_async_payment(transfer["id"].as_str().unwrap())
        .unwrap();

    assert_eq!(paid.status, 303);
    assert_eq!(unpaid.status, 303);
    let mut verdicts = Vec::new();
    for _ in 0..3 {
        verdicts.push(receiver.next_verdict().await);
    }
    assert!(
        verdicts.iter().all(|v| v.starts_with("verified evt_")),
        "{verdicts:?}"
    );
    let mut changes = t.state().watch_deliveries();
    let all_acknowledged = async {
        loop {
            let deliveries = t.state().deliveries();
            if deliveries.len() == 3
                && deliveries
                    .iter()
                    .all(|d| d.status == DeliveryStatus::Succeeded)
            {
                return deliveries;
            }
            changes.changed().await.unwrap();
        }
    };
    let deliveries = tokio::time::timeout(LINE_TIMEOUT, all_acknowledged)
        .await
        .expect("every delivery acknowledged");
    for d in &deliveries {
        assert!(d.attempts[0].outcome.is_success(), "{d:?}");
        assert_eq!(d.attempts.len(), 1);
    }
}

#[tokio::test]
async fn the_official_python_sdk_rejects_a_delivery_signed_with_another_secret() {
    let mut receiver = PythonReceiver::start(&["whsec_the_receivers_secret"]).await;
    let t = TestSim::spawn_with(SimConfig {
        webhook_endpoints: vec![WebhookEndpoint::new(&receiver.url, &["whsec_not_it"])],
        retry_schedule: vec![],
        ..SimConfig::default()
    })
    .await;
    let session = t.create_session(&[("price_mug", 1)]).await;

    t.state()
        .complete_session(
            session["id"].as_str().unwrap(),
            PaymentOutcome::Paid,
            stripe_sim::Customer {
                name: "Jenny Rosen".into(),
                email: "jenny@example.com".into(),
                shipping: None,
            },
        )
        .unwrap();

    let verdict = receiver.next_verdict().await;
    assert!(verdict.starts_with("rejected"), "{verdict}");
    let mut changes = t.state().watch_deliveries();
    let failed = async {
        loop {
            if let Some(d) = t
                .state()
                .deliveries()
                .into_iter()
                .find(|d| d.status == DeliveryStatus::Failed)
            {
                return d;
            }
            changes.changed().await.unwrap();
        }
    };
    let delivery = tokio::time::timeout(LINE_TIMEOUT, failed)
        .await
        .expect("the delivery fails");
    assert_eq!(
        delivery.attempts[0].outcome,
        stripe_sim::AttemptOutcome::Response { status: 400 }
    );
}
