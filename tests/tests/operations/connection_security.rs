//! Reaching a managed broker and database safely: AMQP over TLS with a private CA
//! (`broker.ca_file`), Postgres over TLS with `sslmode=verify-full` and `sslrootcert`, and
//! passwords that a URL cannot hold as they are (`database.password`, `broker.password`, or
//! percent-encoded in the URL), each through the services' own connection code against real
//! servers.

use std::time::Duration;

use secrecy::SecretString;
use shared::queue::connection::BrokerOptions;
use shared::queue::{BrokerEndpoint, OutgoingMessage, Topology};
use shared::settings::{Settings, Uses};
use shared::signature::{signature_header, unix_now};
use tests::TestDb;

use tests::security_support::certs::{path, TestCertificates};
use tests::security_support::rabbit_node::{node_ports, TlsRabbitNode};
use tests::security_support::{PgRole, RabbitUser, AWKWARD_PASSWORD, AWKWARD_PASSWORD_ENCODED};

const WEBHOOK_SECRET: &str = "whsec_connection_security";

/// Where `scripts/ensure-services` leaves the CA that signed the shared Postgres's certificate.
const POSTGRES_CA: &str = "/var/lib/postgresql/fulfillment-test-tls/ca.pem";

/// The defaults, changed by `edit`, then checked for what `uses` names.
fn settings(uses: Uses, edit: impl FnOnce(&mut Settings)) -> Settings {
    let mut settings = Settings::load_from(Uses::COMMON, Vec::new()).expect("the defaults load");
    edit(&mut settings);
    settings.check(uses).expect("valid settings");
    settings
}

/// The broker at `url`, trusting the CA in the PEM file `ca_file` (`broker.ca_file`).
fn tls_endpoint(url: &str, ca_file: &std::path::Path) -> BrokerEndpoint {
    BrokerEndpoint::from_settings(
        &settings(Uses::BROKER, |s| {
            s.broker.url = url.to_owned().into();
            s.broker.ca_file = path(ca_file).into();
        })
        .broker,
    )
}

/// Settings read from environment variables, as a service reads its own: what the password
/// tests check is that a password given there is taken as it is.
fn settings_from_env(uses: Uses, list: &[(&str, &str)]) -> Settings {
    Settings::load_from(
        uses,
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>(),
    )
    .expect("valid settings")
}

/// A signed `checkout.session.completed` event for a new session.
fn signed_event() -> (String, Vec<u8>, String) {
    let event_id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let body = serde_json::to_vec_pretty(&serde_json::json!({
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "type": "checkout.session.completed",
        "created": unix_now(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "data": { "object": {
            "id": format!("cs_test_{}", uuid::Uuid::new_v4().simple()),
            "object": "checkout.session",
            "payment_status": "paid",
            "status": "complete",
        } },
    }))
    .unwrap();
    let signature = signature_header(&body, &[WEBHOOK_SECRET], unix_now());
    (event_id, body, signature)
}

#[tokio::test]
async fn a_broker_behind_a_private_ca_is_reached_over_amqps_only_with_broker_ca_file() {
    let certs = TestCertificates::generate();
    let node = match TlsRabbitNode::start(&certs) {
        Ok(node) => node,
        Err(reason) => {
            println!("SKIPPED: {reason}");
            return;
        }
    };
    let url = node.amqps_url();

    // Without the CA: the broker's certificate chains to nothing this machine trusts.
    let refused = shared::queue::connect(&SecretString::from(url.clone()), "tls-test")
        .await
        .expect_err("an unknown CA is refused");
    let shown = refused.to_string();
    println!("without broker.ca_file: {shown}");
    assert!(
        shown.contains("TLS certificate of the broker at 127.0.0.1 is not trusted"),
        "{shown}"
    );
    assert!(
        shown.contains("set broker.ca_file to the PEM of the CA that signed it"),
        "{shown}"
    );

    // With the wrong CA: refused too, naming the file that was tried.
    let wrong = tls_endpoint(&url, &certs.other_ca);
    let shown = shared::queue::connect(&wrong, "tls-test")
        .await
        .expect_err("a CA that did not sign the certificate is refused")
        .to_string();
    println!("with another CA in broker.ca_file: {shown}");
    assert!(
        shown.contains(&format!("broker.ca_file ({})", path(&certs.other_ca))),
        "{shown}"
    );

    // With the CA: the real ingress takes a webhook, publishes it over TLS and answers 200 only
    // once the broker confirmed it.
    let ingress_settings = settings(Uses::INGRESS, |s| {
        s.broker.url = url.clone().into();
        s.broker.ca_file = path(&certs.ca).into();
        s.webhook.secrets = vec![WEBHOOK_SECRET.to_owned().into()];
        s.ingress.host = "127.0.0.1".into();
        s.ingress.port = 0;
        s.ingress.workers = 1;
        s.log.filter = "warn".into();
    });
    let endpoint = BrokerEndpoint::from_settings(&ingress_settings.broker);
    let topology = Topology::from_settings(&ingress_settings.broker);
    let ingress = ingress::Application::build(ingress_settings)
        .await
        .expect("the ingress builds");
    assert!(
        ingress
            .broker()
            .wait_connected(Duration::from_secs(20))
            .await,
        "the ingress connects over amqps with broker.ca_file"
    );
    let port = ingress.port();
    let stop = ingress.stop_handle();
    let served = tokio::spawn(ingress.run_until_stopped());
    let (event_id, body, signature) = signed_event();
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/webhook"))
        .header("content-type", "application/json")
        .header("Stripe-Signature", signature)
        .body(body.clone())
        .send()
        .await
        .expect("the ingress answers");
    let status = response.status();
    let answer = response.text().await.unwrap_or_default();
    assert_eq!(status, 200, "confirmed by the TLS broker: {answer}");

    // And the worker's way in (the same connect, over TLS) finds the event in its queue.
    let connection = shared::queue::connect(&endpoint, "tls-test-consumer")
        .await
        .expect("connect over amqps with broker.ca_file");
    let channel = connection.create_channel().await.unwrap();
    let message = tests::eventually(Duration::from_secs(5), || async {
        channel
            .basic_get(
                &topology.fulfillment_queue(),
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await
            .expect("basic.get")
    })
    .await
    .expect("the event is in checkout.fulfillment");
    assert_eq!(message.delivery.data, body, "byte for byte");
    assert_eq!(
        message
            .delivery
            .properties
            .message_id()
            .as_ref()
            .unwrap()
            .as_str(),
        event_id
    );
    let _ = connection.close(200, "done").await;
    stop.stop().await;
    served.await.unwrap().unwrap();
}

/// A port another process took while a node booted: RabbitMQ then boots without that
/// listener, and the port answers, but not in TLS. The node is not taken as ready; it is made
/// again on fresh ports, where the broker's TLS answers.
#[tokio::test]
async fn a_tls_node_whose_port_another_process_took_is_made_again_on_fresh_ports() {
    let certs = TestCertificates::generate();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", tests::free_port())).unwrap();
    let taken = squatter.local_addr().unwrap().port();
    let mut tries = 0;
    let node = match TlsRabbitNode::start_with(&certs, || {
        tries += 1;
        let mut ports = node_ports();
        if tries == 1 {
            ports[1] = taken;
        }
        ports
    }) {
        Ok(node) => node,
        Err(reason) => {
            println!("SKIPPED: {reason}");
            return;
        }
    };
    assert_eq!(tries, 2, "the first try, on the taken port, was given up");
    assert_ne!(node.tls_port, taken, "the node's TLS port is its own");
    let endpoint = tls_endpoint(&node.amqps_url(), &certs.ca);
    let connection = shared::queue::connect(&endpoint, "tls-test")
        .await
        .expect("the node answers in TLS on its port");
    let _ = connection.close(200, "done").await;
}

/// The CA `scripts/ensure-services` made for the shared Postgres, if it did.
fn postgres_ca() -> Option<&'static str> {
    if std::path::Path::new(POSTGRES_CA).exists() {
        Some(POSTGRES_CA)
    } else {
        println!(
            "SKIPPED: {POSTGRES_CA} is missing: run scripts/ensure-services, which gives the \
             local PostgreSQL a certificate signed by that CA"
        );
        None
    }
}

/// `url` with TLS parameters added.
fn with_query(url: &str, query: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("a database URL");
    parsed.set_query(Some(query));
    parsed.to_string()
}

#[tokio::test]
async fn postgres_is_reached_with_verify_full_and_the_ca_and_refused_with_a_wrong_root() {
    let Some(ca) = postgres_ca() else { return };
    let db = TestDb::create().await;
    let url = with_query(&db.url, &format!("sslmode=verify-full&sslrootcert={ca}"));
    let verified = settings(Uses::DATABASE, |s| s.database.url = url.into());
    let pool = shared::store::pool(&verified.database).expect("a pool");
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .expect("verify-full with the CA connects");
    assert!(encrypted, "the session is encrypted");
    pool.close().await;

    let certs = TestCertificates::generate();
    let wrong = with_query(
        &db.url,
        &format!("sslmode=verify-full&sslrootcert={}", path(&certs.other_ca)),
    );
    let refused = settings(Uses::DATABASE, |s| {
        s.database.url = wrong.into();
        s.database.acquire_timeout_ms = 5000;
    });
    let pool = shared::store::pool(&refused.database).expect("a lazy pool");
    let error = sqlx::query("SELECT 1")
        .execute(&pool)
        .await
        .expect_err("a root that did not sign the server's certificate is refused");
    let shown = format!("{error:?}");
    println!("with a wrong sslrootcert: {shown}");
    assert!(
        shown.contains("UnknownIssuer") || shown.contains("certificate"),
        "a certificate error: {shown}"
    );
}

#[tokio::test]
async fn a_database_password_with_url_characters_works_as_its_own_setting_or_percent_encoded() {
    let db = TestDb::create().await;
    let role = PgRole::create(AWKWARD_PASSWORD).await;
    for (url, password) in [
        (role.url(&db.name, None), AWKWARD_PASSWORD),
        // The separate setting wins over whatever the URL says.
        (role.url(&db.name, Some("stale")), AWKWARD_PASSWORD),
        (role.url(&db.name, Some(AWKWARD_PASSWORD_ENCODED)), ""),
    ] {
        let settings = settings_from_env(
            Uses::DATABASE,
            &[
                ("APP_DATABASE__URL", &url),
                ("APP_DATABASE__PASSWORD", password),
            ],
        );
        let pool = shared::store::pool(&settings.database).expect("a pool");
        let user: String = sqlx::query_scalar("SELECT current_user::text")
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "the role logs in (separate password: {}): {e}",
                    !password.is_empty()
                )
            });
        assert_eq!(user, role.name);
        pool.close().await;
    }
}

#[tokio::test]
async fn a_broker_password_with_url_characters_works_as_its_own_setting_or_percent_encoded() {
    let account = RabbitUser::create(AWKWARD_PASSWORD);
    for (url, password) in [
        (account.url(None), AWKWARD_PASSWORD),
        (account.url(Some("stale")), AWKWARD_PASSWORD),
        (account.url(Some(AWKWARD_PASSWORD_ENCODED)), ""),
    ] {
        let settings = settings_from_env(
            Uses::BROKER,
            &[
                ("APP_BROKER__URL", &url),
                ("APP_BROKER__PASSWORD", password),
            ],
        );
        // The publisher every service uses: connect, declare the topology (in the user's own
        // vhost, deleted with it), publish, confirm.
        let topology = Topology::new("password-test.", vec![Duration::from_secs(1)], 5);
        let broker = shared::queue::Broker::start(BrokerOptions {
            endpoint: BrokerEndpoint::from_settings(&settings.broker),
            connection_name: "password-test".into(),
            topology: topology.clone(),
            channels: 1,
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_millis(200),
        });
        assert!(
            broker.wait_connected(Duration::from_secs(10)).await,
            "the user logs in (separate password: {})",
            !password.is_empty()
        );
        broker
            .publish(
                OutgoingMessage {
                    exchange: &topology.checkout_exchange(),
                    routing_key: "checkout.session.completed",
                    body: b"{}",
                    message_id: "evt_password_test",
                    kind: "checkout.session.completed",
                    headers: Default::default(),
                },
                Duration::from_secs(5),
            )
            .await
            .expect("published and confirmed");
        broker.close().await;
    }
}
