//! The notifier tells people exactly once: the customer's mail arrives on a real SMTP server
//! once per announcement even when the announcement is published twice; the payment-failed mail;
//! a signed callback the receiver can verify; a mail server that is down delays the mail, which
//! arrives once it is back; a callback refused for good dead-letters the announcement. With the
//! whole stack: the success page promises the confirmation only while it is pending or sent.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use secrecy::SecretString;
use shared::queue::BrokerEndpoint;
use shared::signature::{verify, WebhookSecrets};
use stripe_sim::PaymentOutcome;
use tests::free_port;
use tests::notifier_support::{
    announce, fulfilled, notification, payment_failed, NotifierQueues, RunningNotifier, WAIT,
};
use tests::smtp::SmtpServer;
use tests::stack::Stack;
use tests::{completed_session, eventually, TestBroker, TestDb};
use uuid::Uuid;

const CALLBACK_SECRET: &str = "callback_secret_for_tests_0001";

/// Settings that make the notifier POST every announcement to `url`, signed with
/// [`CALLBACK_SECRET`].
fn calls_back_to(settings: &mut shared::Settings, url: &str) {
    settings.notifier.callback_urls = vec![url.to_owned()];
    settings.notifier.callback_secret = CALLBACK_SECRET.to_owned().into();
}

/// A broker whose queues allow many deliveries, so a retried announcement outlasts a mail
/// server's restart.
async fn broker() -> (TestBroker, NotifierQueues) {
    let broker = TestBroker::with_tiers(vec![Duration::from_millis(200)], 50).await;
    let queues = NotifierQueues(broker.topology.clone());
    (broker, queues)
}

#[tokio::test]
async fn one_confirmation_per_order_even_when_the_announcement_is_published_twice() {
    let ((broker, _queues), db) = tokio::join!(broker(), TestDb::create());
    let port = free_port();
    let smtp = SmtpServer::start(port).await;
    let notifier = RunningNotifier::start(&db, &broker, |s| s.notifier.smtp_port = port).await;

    let id = Uuid::new_v4();
    let body = serde_json::to_vec(&fulfilled("cs_test_twice", Some("jenny@example.com"))).unwrap();
    announce(&broker, id, "order.fulfilled", &body).await;
    announce(&broker, id, "order.fulfilled", &body).await;

    let mails = smtp.wait_for(1).await;
    // The second copy is handled: skipped as sent, or held while the first was sending and
    // then skipped.
    let duplicate = eventually(WAIT, || async {
        let skipped = notifier::metrics::NOTIFICATIONS
            .with_label_values(&["email", "duplicate"])
            .get();
        (skipped >= 1).then_some(())
    })
    .await;
    assert!(duplicate.is_some(), "the second copy was handled");
    let scraped = reqwest::get(format!("http://127.0.0.1:{}/metrics", notifier.port))
        .await
        .expect("the notifier serves /metrics")
        .text()
        .await
        .unwrap();
    assert!(
        scraped.contains(r#"notifier_notifications_total{channel="email",outcome="duplicate"} 1"#),
        "{scraped}"
    );
    notifier.stop().await;
    assert_eq!(
        broker.depth(&broker.topology.notifier_queue()).await,
        0,
        "both copies were acked"
    );
    let mails_after = smtp.mails();
    assert_eq!(mails_after.len(), 1, "one mail: {mails_after:?}");
    let mail = &mails[0];
    assert_eq!(mail.header("To"), Some("jenny@example.com"));
    assert_eq!(
        mail.header("Subject"),
        Some("Your order #1042 at Corner Store")
    );
    assert_eq!(
        mail.header("Message-ID"),
        Some(format!("<{id}@example.com>").as_str()),
        "the idempotency key a mail client can use"
    );
    assert!(
        mail.body.contains("2 x T-shirt: 45.00 USD"),
        "{}",
        mail.body
    );
    assert_eq!(
        notification(&db, id, "email").await,
        Some((1, None, true)),
        "sent once, recorded"
    );
}

#[tokio::test]
async fn a_failed_bank_payment_tells_the_customer() {
    let ((broker, _queues), db) = tokio::join!(broker(), TestDb::create());
    let port = free_port();
    let smtp = SmtpServer::start(port).await;
    let notifier = RunningNotifier::start(&db, &broker, |s| s.notifier.smtp_port = port).await;

    let id = Uuid::new_v4();
    let body = serde_json::to_vec(&payment_failed("cs_test_failed", "jenny@example.com")).unwrap();
    announce(&broker, id, "order.payment_failed", &body).await;

    let mails = smtp.wait_for(1).await;
    notifier.stop().await;
    let mail = &mails[0];
    assert_eq!(mail.header("To"), Some("jenny@example.com"));
    assert_eq!(
        mail.header("Subject"),
        Some("Your payment to Corner Store did not go through")
    );
    assert!(mail.body.contains("45.00 USD"), "{}", mail.body);
    assert!(mail.body.contains("not been charged"), "{}", mail.body);
}

/// What a callback receiver got: headers and body.
#[derive(Debug, Clone)]
struct Received {
    signature: String,
    idempotency_key: String,
    event: String,
    body: Vec<u8>,
}

/// An HTTP server answering `status` to every POST, keeping what it received.
async fn callback_receiver(status: u16) -> (String, Arc<Mutex<Vec<Received>>>) {
    let (url, received, _) = switchable_callback_receiver(status).await;
    (url, received)
}

/// [`callback_receiver`] whose answer the test can change while it runs.
async fn switchable_callback_receiver(
    status: u16,
) -> (String, Arc<Mutex<Vec<Received>>>, Arc<AtomicU16>) {
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let kept = web::Data::new(received.clone());
    let answer = Arc::new(AtomicU16::new(status));
    let answering = web::Data::new(answer.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/orders", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(kept.clone())
            .app_data(answering.clone())
            .route(
                "/orders",
                web::post().to(
                    move |request: HttpRequest,
                          body: web::Bytes,
                          kept: web::Data<Arc<Mutex<Vec<Received>>>>,
                          answering: web::Data<Arc<AtomicU16>>| async move {
                        let header = |name: &str| {
                            request
                                .headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        kept.lock().unwrap().push(Received {
                            signature: header("Notifier-Signature"),
                            idempotency_key: header("Idempotency-Key"),
                            event: header("Notifier-Event"),
                            body: body.to_vec(),
                        });
                        let status = answering.load(Ordering::SeqCst);
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                            .finish()
                    },
                ),
            )
    })
    .listen(listener)
    .unwrap()
    .workers(1)
    .disable_signals()
    .run();
    tokio::spawn(server);
    (url, received, answer)
}

#[tokio::test]
async fn a_callback_carries_a_signature_the_receiver_verifies_and_the_idempotency_key() {
    let ((broker, _queues), db) = tokio::join!(broker(), TestDb::create());
    let (url, received) = callback_receiver(204).await;
    let notifier = RunningNotifier::start(&db, &broker, |s| calls_back_to(s, &url)).await;

    // No customer address: the callback is the only channel.
    let id = Uuid::new_v4();
    let body = serde_json::to_vec(&fulfilled("cs_test_callback", None)).unwrap();
    announce(&broker, id, "order.fulfilled", &body).await;

    let got = eventually(WAIT, || async { received.lock().unwrap().first().cloned() })
        .await
        .expect("the callback arrives");
    notifier.stop().await;
    assert_eq!(got.body, body, "the announcement exactly as published");
    assert_eq!(got.idempotency_key, id.to_string());
    assert_eq!(got.event, "order.fulfilled");
    let now = shared::signature::unix_now();
    let signed = verify(
        &got.body,
        &got.signature,
        &WebhookSecrets::from_strs(&[CALLBACK_SECRET]),
        Duration::from_secs(300),
        now,
    );
    assert!(signed.is_ok(), "{:?}: {signed:?}", got.signature);
    let forged = verify(
        &got.body,
        &got.signature,
        &WebhookSecrets::from_strs(&["another_secret_entirely_0001"]),
        Duration::from_secs(300),
        now,
    );
    assert!(forged.is_err(), "only the shared secret verifies it");
    assert_eq!(received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_callback_refused_for_good_dead_letters_the_announcement_with_the_reason_recorded() {
    let ((broker, _queues), db) = tokio::join!(broker(), TestDb::create());
    let (url, received) = callback_receiver(400).await;
    let notifier = RunningNotifier::start(&db, &broker, |s| calls_back_to(s, &url)).await;

    let id = Uuid::new_v4();
    let body = serde_json::to_vec(&fulfilled("cs_test_refused", None)).unwrap();
    announce(&broker, id, "order.fulfilled", &body).await;

    let dead = broker
        .next(&broker.topology.notifier_dead_queue(), WAIT)
        .await
        .expect("dead-lettered into notifier.orders.dead");
    notifier.stop().await;
    assert_eq!(
        dead.delivery
            .properties
            .message_id()
            .as_ref()
            .map(|m| m.to_string()),
        Some(id.to_string())
    );
    assert_eq!(received.lock().unwrap().len(), 1, "tried once, not retried");
    let channel: String =
        sqlx::query_scalar("SELECT channel FROM notifications WHERE message_id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let (_, last_error, sent) = notification(&db, id, &channel).await.unwrap();
    assert!(!sent);
    assert_eq!(
        last_error.as_deref(),
        Some("callback answered 400 Bad Request")
    );
}

#[tokio::test]
async fn a_mail_server_that_is_down_delays_the_mail_which_arrives_once_it_is_back() {
    let ((broker, _queues), db) = tokio::join!(broker(), TestDb::create());
    let port = free_port();
    let notifier = RunningNotifier::start(&db, &broker, |s| s.notifier.smtp_port = port).await;

    let id = Uuid::new_v4();
    let body =
        serde_json::to_vec(&fulfilled("cs_test_smtp_down", Some("jenny@example.com"))).unwrap();
    announce(&broker, id, "order.fulfilled", &body).await;

    // Tried, refused (nothing listens), recorded as a failure that may pass.
    let failed = eventually(WAIT, || async {
        match notification(&db, id, "email").await {
            Some((attempts, Some(error), false)) if attempts >= 1 => Some(error),
            _ => None,
        }
    })
    .await
    .expect("a failed attempt is recorded");
    assert!(failed.starts_with("SMTP:"), "{failed}");

    let smtp = SmtpServer::start(port).await;
    let mails = smtp.wait_for(1).await;
    let sent = eventually(WAIT, || async {
        notification(&db, id, "email")
            .await
            .filter(|(_, _, sent)| *sent)
    })
    .await
    .expect("the send is recorded");
    notifier.stop().await;
    assert!(sent.0 >= 2, "sent on a later attempt: {sent:?}");
    assert_eq!(smtp.mails().len(), 1, "{mails:?}");
    assert_eq!(mails[0].header("To"), Some("jenny@example.com"));
    assert_eq!(
        broker.depth(&broker.topology.notifier_dead_queue()).await,
        0
    );
}

#[tokio::test]
async fn a_redriven_announcement_sends_only_the_channel_that_failed() {
    let ((broker, _queues), db) = tokio::join!(broker(), TestDb::create());
    let smtp_port = free_port();
    let smtp = SmtpServer::start(smtp_port).await;
    let (url, received, answer) = switchable_callback_receiver(400).await;
    let notifier = RunningNotifier::start(&db, &broker, |s| {
        s.notifier.smtp_port = smtp_port;
        calls_back_to(s, &url);
    })
    .await;

    // The mail goes out; the callback is refused for good, so the announcement is dead.
    let id = Uuid::new_v4();
    let body =
        serde_json::to_vec(&fulfilled("cs_test_redrive", Some("jenny@example.com"))).unwrap();
    announce(&broker, id, "order.fulfilled", &body).await;
    smtp.wait_for(1).await;
    let dead_queue = broker.topology.notifier_dead_queue();
    let dead = eventually(WAIT, || async {
        (broker.depth(&dead_queue).await >= 1).then_some(())
    })
    .await;
    assert!(dead.is_some(), "dead-lettered into {dead_queue}");

    // The receiver is fixed; the operator redrives.
    answer.store(204, Ordering::SeqCst);
    let endpoint = BrokerEndpoint::new(SecretString::from(tests::amqp_url()));
    let report =
        notifier::redrive::redrive(&endpoint, &broker.topology, None, Duration::from_secs(5))
            .await
            .expect("notifier redrive");
    assert_eq!(report.moved, 1);
    let delivered = eventually(WAIT, || async {
        let received = received.lock().unwrap();
        (received.len() == 2).then(|| received[1].idempotency_key.clone())
    })
    .await;
    assert_eq!(
        delivered,
        Some(id.to_string()),
        "the callback is sent again, with the same idempotency key"
    );
    let sent = eventually(WAIT, || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT sent_at IS NOT NULL FROM notifications \
             WHERE message_id = $1 AND channel LIKE 'callback:%'",
        )
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .ok()
        .filter(|sent| *sent)
    })
    .await;
    notifier.stop().await;
    assert!(sent.is_some(), "the callback is recorded sent");
    assert_eq!(
        smtp.mails().len(),
        1,
        "the mail, already sent, is not sent again"
    );
    assert_eq!(broker.depth(&dead_queue).await, 0);
}

/// The success page of the whole stack, its text about the confirmation mail (the line marked
/// `confirmation-mail`), or `None` when it says nothing about one.
async fn success_page_mail_line(stack: &Stack, id: &str) -> Option<String> {
    let response = reqwest::get(format!("{}/order/success?session_id={id}", stack.shop))
        .await
        .expect("landing answers");
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Thanks for your order"), "{html}");
    html.lines()
        .find(|line| line.contains(r#"data-testid="confirmation-mail""#))
        .map(str::to_owned)
}

/// The announcement's id (the notifications' message_id) of a session's order.
async fn announcement_of(stack: &Stack, id: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM outbox WHERE session_id = $1 AND topic = 'order.fulfilled'")
        .bind(id)
        .fetch_one(&stack.db.pool)
        .await
        .expect("the order was announced")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_success_page_promises_the_confirmation_while_pending_not_while_failing_and_says_when_sent(
) {
    let stack = Stack::start().await;
    let _queues = NotifierQueues(stack.broker.topology.clone());
    // The notifier's queue exists before the order is announced (as in the compose stack);
    // the notifier itself starts later.
    stack
        .broker
        .topology
        .declare_notifier(&stack.broker.channel)
        .await
        .expect("declare the notifier's queues");
    let id = completed_session(
        &stack.sim,
        &[("price_mug", 1)],
        PaymentOutcome::Paid,
        "Jenny Rosen",
    );
    let id = id.as_str();

    // Fulfilled, announced, no notifier yet: the mail was recorded as pending with the order.
    let pending = success_page_mail_line(&stack, id)
        .await
        .expect("the page speaks of the mail");
    assert!(
        pending.contains("A confirmation is on its way to")
            && pending.contains("jenny.rosen@example.com"),
        "{pending}"
    );
    let message_id = announcement_of(&stack, id).await;
    assert_eq!(
        notification(&stack.db, message_id, "email").await,
        Some((0, None, false)),
        "pending, recorded with the order"
    );

    // A notifier whose mail server is down: the send fails, and the page stops promising.
    let smtp_port = free_port();
    let notifier = RunningNotifier::start(&stack.db, &stack.broker, |s| {
        s.notifier.smtp_port = smtp_port;
        // Slow enough retries that the delivery limit outlasts the mail server's start.
        s.notifier.retry_max_ms = 2000;
    })
    .await;
    eventually(WAIT, || async {
        notification(&stack.db, message_id, "email")
            .await
            .and_then(|(_, error, _)| error)
    })
    .await
    .expect("a failed send is recorded");
    assert_eq!(success_page_mail_line(&stack, id).await, None);

    // The mail server is back: the mail goes out once, and the page says so.
    let smtp = SmtpServer::start(smtp_port).await;
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].header("To"), Some("jenny.rosen@example.com"));
    eventually(WAIT, || async {
        notification(&stack.db, message_id, "email")
            .await
            .filter(|(_, _, sent)| *sent)
    })
    .await
    .expect("the send is recorded");
    let sent = success_page_mail_line(&stack, id)
        .await
        .expect("the page speaks of the mail");
    assert!(sent.contains("We’ve emailed a confirmation to"), "{sent}");
    notifier.stop().await;
    stack.stop().await;
    assert_eq!(smtp.mails().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_customer_mail_the_success_page_promises_none_and_nothing_is_pending() {
    let stack = Stack::start_with(|s| s.notifier.customer_mail = false).await;
    let id = completed_session(
        &stack.sim,
        &[("price_mug", 1)],
        PaymentOutcome::Paid,
        "Jenny Rosen",
    );
    assert_eq!(success_page_mail_line(&stack, id.as_str()).await, None);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications")
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    stack.stop().await;
}

#[tokio::test]
async fn without_customer_mail_the_notifier_mails_no_one_and_still_calls_back() {
    let ((broker, _queues), db) = tokio::join!(broker(), TestDb::create());
    let port = free_port();
    let smtp = SmtpServer::start(port).await;
    let (url, received) = callback_receiver(204).await;
    let notifier = RunningNotifier::start(&db, &broker, |s| {
        s.notifier.customer_mail = false;
        s.notifier.smtp_port = port;
        calls_back_to(s, &url);
    })
    .await;

    let id = Uuid::new_v4();
    let body =
        serde_json::to_vec(&fulfilled("cs_test_no_mail", Some("jenny@example.com"))).unwrap();
    announce(&broker, id, "order.fulfilled", &body).await;

    // Mail would be sent before the callbacks: once the callback is here, no mail came first.
    eventually(WAIT, || async { received.lock().unwrap().first().cloned() })
        .await
        .expect("the callback arrives");
    notifier.stop().await;
    assert_eq!(smtp.mails().len(), 0, "no mail: {:?}", smtp.mails());
    assert_eq!(notification(&db, id, "email").await, None);
}
