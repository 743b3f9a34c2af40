//! What the broker-permission tests ask the broker: queue depths and publishes as the test's
//! own (unrestricted) user, and whether an operation as a restricted user is refused with
//! ACCESS_REFUSED (a refused operation closes its channel, so each probe gets a fresh one).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::{ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use shared::queue::{publish_confirmed, OutgoingMessage, PublishError};

use super::broker_users::{BrokerUsers, Login};

/// Long enough for a loaded two-core machine, short enough to fail a test quickly.
pub const WAIT: Duration = Duration::from_secs(20);

/// The management API of the local broker (scripts/ensure-services enables it).
const MANAGEMENT_API: &str = "http://127.0.0.1:15672/api";

/// Ready messages in `queue`, seen by the test's own (unrestricted) user.
pub async fn depth(users: &BrokerUsers, queue: &str) -> u32 {
    let connection = users.vhost.connect().await;
    let channel = connection.create_channel().await.expect("a channel");
    let depth = channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("the queue exists")
        .message_count();
    let _ = connection.close(200, "done").await;
    depth
}

/// Waits (bounded) until `queue` holds at least `at_least` ready messages.
pub async fn wait_for_depth(users: &BrokerUsers, queue: &str, at_least: u32) -> bool {
    crate::eventually(WAIT, || async {
        (depth(users, queue).await >= at_least).then_some(())
    })
    .await
    .is_some()
}

/// Publishes `body` to `exchange` with `routing_key`, confirmed, as the test's own user.
pub async fn publish_as_test_user(
    users: &BrokerUsers,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
) {
    let connection = users.vhost.connect().await;
    let channel = connection.create_channel().await.expect("a channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    publish(&channel, exchange, routing_key, body)
        .await
        .expect("the broker confirms");
    let _ = connection.close(200, "done").await;
}

/// Publishes `body` as the services do (persistent, mandatory, confirmed).
pub async fn publish(
    channel: &lapin::Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
) -> Result<(), PublishError> {
    let message = OutgoingMessage {
        exchange,
        routing_key,
        body,
        message_id: "evt_permissions",
        kind: routing_key,
        headers: FieldTable::default(),
    };
    publish_confirmed(channel, message, Duration::from_secs(5)).await
}

/// A confirm channel of `connection` that remembers why the broker closed it.
pub async fn watched_channel(
    connection: &lapin::Connection,
) -> (lapin::Channel, Arc<Mutex<String>>) {
    let channel = connection.create_channel().await.expect("a channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    let closed = Arc::new(Mutex::new(String::new()));
    let on_error = closed.clone();
    channel.on_error(move |error| *on_error.lock().unwrap() = format!("{error:?}"));
    (channel, closed)
}

/// Asserts that `outcome` failed because the broker refused access, and says which operation.
pub fn assert_refused<T: std::fmt::Debug, E: std::fmt::Debug>(
    what: &str,
    outcome: Result<T, E>,
    closed: &Mutex<String>,
) {
    let shown = match &outcome {
        Ok(value) => panic!("{what} was allowed: {value:?}"),
        Err(error) => format!("{error:?} {}", closed.lock().unwrap()),
    };
    assert!(
        shown.contains("ACCESS_REFUSED") || shown.contains("ACCESSREFUSED"),
        "{what}: refused for another reason: {shown}"
    );
}

/// The management API's answer to `login` on GET /api/whoami: its status and its JSON (null
/// when it is not JSON).
pub async fn management_whoami(login: &Login) -> (reqwest::StatusCode, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(format!("{MANAGEMENT_API}/whoami"))
        .basic_auth(&login.user, Some(&login.password))
        .send()
        .await
        .expect("the management API answers");
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}
