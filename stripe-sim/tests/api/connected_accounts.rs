//! Connected accounts (Stripe Connect): `Stripe-Account` scopes sessions and events, the events
//! of a connected account carry `account`, and only Connect endpoints receive them.

use serde_json::Value;
use stripe_sim::{Customer, PaymentOutcome, SimConfig, WebhookEndpoint};

use crate::helpers::{form, Reply, TestSim, KEY};
use crate::receiver::Receiver;

const ACCOUNT: &str = "acct_1ConnectedShop";
const OTHER_ACCOUNT: &str = "acct_1OtherShop";

fn customer() -> Customer {
    Customer {
        name: "Jenny Rosen".into(),
        email: "jenny@example.com".into(),
        shipping: None,
    }
}

impl TestSim {
    /// `GET` on behalf of `account` (`Stripe-Account`).
    async fn get_on(&self, account: &str, path: &str) -> Reply {
        self.send(
            self.client
                .get(self.url(path))
                .bearer_auth(KEY)
                .header("Stripe-Account", account),
        )
        .await
    }

    /// Creates a session of one mug on behalf of `account`.
    async fn create_session_on(&self, account: &str) -> Value {
        let form = form(&[
            ("mode", "payment"),
            ("success_url", "https://shop.test/ok"),
            ("line_items[0][price]", "price_mug"),
            ("line_items[0][quantity]", "1"),
        ]);
        let reply = self
            .send(
                self.client
                    .post(self.url("/v1/checkout/sessions"))
                    .bearer_auth(KEY)
                    .header("Stripe-Account", account)
                    .form(&form),
            )
            .await;
        assert_eq!(reply.status, 200, "{:#}", reply.body);
        reply.body
    }
}

#[tokio::test]
async fn a_connected_accounts_session_is_found_only_with_its_account() {
    let t = TestSim::spawn().await;
    let session = t.create_session_on(ACCOUNT).await;
    let id = session["id"].as_str().unwrap();
    let path = format!("/v1/checkout/sessions/{id}?expand[]=line_items");

    let found = t.get_on(ACCOUNT, &path).await;
    assert_eq!(found.status, 200, "{:#}", found.body);
    assert_eq!(found.body["id"], id);
    assert_eq!(
        found.body["line_items"]["data"].as_array().unwrap().len(),
        1
    );
    let lines = t
        .get_on(ACCOUNT, &format!("/v1/checkout/sessions/{id}/line_items"))
        .await;
    assert_eq!(lines.status, 200, "{:#}", lines.body);

    // Without the header (the platform) or for another account, it does not exist.
    t.get(&path).await.assert_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("session"),
    );
    t.get_on(OTHER_ACCOUNT, &path).await.assert_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("session"),
    );
    t.get(&format!("/v1/checkout/sessions/{id}/line_items"))
        .await
        .assert_error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("session"),
        );

    // Nor can the platform's session be reached through an account.
    let platform = t.create_session(&[("price_mug", 1)]).await;
    let platform_id = platform["id"].as_str().unwrap();
    t.get_on(ACCOUNT, &format!("/v1/checkout/sessions/{platform_id}"))
        .await
        .assert_error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("session"),
        );
    let listed = t.get_on(ACCOUNT, "/v1/checkout/sessions").await;
    let ids: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id], "an account lists its own sessions only");
}

#[tokio::test]
async fn a_connected_accounts_events_carry_it_and_are_listed_under_it() {
    let t = TestSim::spawn().await;
    let session = t.create_session_on(ACCOUNT).await;
    let id = session["id"].as_str().unwrap();
    let event = t
        .state()
        .complete_session(id, PaymentOutcome::Paid, customer())
        .unwrap();
    assert_eq!(event["account"], ACCOUNT);
    let platform = t.create_session(&[("price_mug", 1)]).await;
    let platform_event = t
        .state()
        .complete_session(
            platform["id"].as_str().unwrap(),
            PaymentOutcome::Paid,
            customer(),
        )
        .unwrap();
    assert!(
        platform_event.get("account").is_none(),
        "a platform's event has no account, as Stripe's fixture: {platform_event:#}"
    );

    let listed = t
        .get_on(ACCOUNT, "/v1/events?type=checkout.session.*")
        .await;
    let events = listed.body["data"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{:#}", listed.body);
    assert_eq!(events[0]["id"], event["id"]);
    assert_eq!(events[0]["account"], ACCOUNT);
    let on_platform = t.get("/v1/events?type=checkout.session.*").await;
    let platform_ids: Vec<&Value> = on_platform.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["id"])
        .collect();
    assert_eq!(platform_ids, vec![&platform_event["id"]]);

    let event_id = event["id"].as_str().unwrap();
    assert_eq!(
        t.get_on(ACCOUNT, &format!("/v1/events/{event_id}"))
            .await
            .status,
        200
    );
    t.get(&format!("/v1/events/{event_id}")).await.assert_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
}

#[tokio::test]
async fn a_malformed_account_header_or_an_unscoped_resource_is_refused() {
    let t = TestSim::spawn().await;
    for value in ["cus_123", "acct_", "acct_1;drop"] {
        let reply = t.get_on(value, "/v1/checkout/sessions").await;
        reply.assert_error(400, "invalid_request_error", None, None);
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("acct_"),
            "{:#}",
            reply.body
        );
    }
    let prices = t.get_on(ACCOUNT, "/v1/prices").await;
    prices.assert_error(400, "invalid_request_error", None, None);
}

#[tokio::test]
async fn only_connect_endpoints_receive_a_connected_accounts_events() {
    let platform = Receiver::ok().await;
    let connect = Receiver::ok().await;
    let t = TestSim::spawn_with(SimConfig {
        webhook_endpoints: vec![
            WebhookEndpoint::new(&platform.url, &["whsec_platform"]),
            WebhookEndpoint::for_connected_accounts(&connect.url, &["whsec_connect"]),
        ],
        ..SimConfig::default()
    })
    .await;

    let connected = t.create_session_on(ACCOUNT).await;
    t.state()
        .complete_session(
            connected["id"].as_str().unwrap(),
            PaymentOutcome::Paid,
            customer(),
        )
        .unwrap();
    let received = connect.wait_for(1).await;
    assert_eq!(received[0].event()["account"], ACCOUNT);
    assert_eq!(received[0].event()["pending_webhooks"], 1);
    received[0]
        .verify(&["whsec_connect"])
        .expect("signed with the Connect endpoint's secret");

    let own = t.create_session(&[("price_mug", 1)]).await;
    let own_event = t
        .state()
        .complete_session(
            own["id"].as_str().unwrap(),
            PaymentOutcome::Paid,
            customer(),
        )
        .unwrap();
    let own_id = own_event["id"].as_str().unwrap();
    let received = platform.wait_for(1).await;
    assert_eq!(
        received.len(),
        1,
        "the platform endpoint hears its own event only"
    );
    assert_eq!(received[0].event_id(), own_id);
    // Deliveries are registered for every endpoint at once, before any is sent: the platform's
    // event has exactly one, to the platform endpoint.
    let deliveries = t
        .control_get(&format!("/_sim/deliveries?event={own_id}"))
        .await;
    let endpoints: Vec<&str> = deliveries["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(endpoints, vec![platform.url.as_str()]);
}
