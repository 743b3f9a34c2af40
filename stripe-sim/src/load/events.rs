//! The webhook bodies: Stripe-shaped `checkout.session.completed` events, each with a unique
//! event id, made from templates prepared before the measured window.
//!
//! Two sources:
//! - **Real sessions** ([`EventSource::from_sim_api`], [`EventSource::from_sim_state`]): sessions
//!   are created and paid in the simulator first, and the simulator's own
//!   `checkout.session.completed` events become the templates, so that a worker can later
//!   retrieve and fulfill every session named.
//! - **Synthetic** ([`EventSource::synthetic`]): session ids that exist nowhere, for measuring
//!   the ingress alone.
//!
//! A template is the event's JSON cut at its id (and, for synthetic ones, at the session id);
//! rendering one is two or three copies, so the generator spends its time sending, not building.

use anyhow::{bail, Context};
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Value};

use crate::state::{CreateSession, Customer, LineItemParams, PaymentOutcome, SimState};

/// Stands for the event id while a template is cut.
const EVENT_ID_SLOT: &str = "evt_loadgen_event_id_slot";
/// Stands for the session id in synthetic templates.
const SESSION_ID_SLOT: &str = "cs_test_loadgenSessionIdSlot";
/// How many create-and-complete calls run at once against the simulator's API.
const SETUP_CONCURRENCY: usize = 16;

#[derive(Debug, Clone)]
enum Piece {
    Literal(Bytes),
    EventId,
    SessionId,
}

/// One event body with holes for the ids.
#[derive(Debug, Clone)]
pub struct Template {
    pieces: Vec<Piece>,
    length: usize,
}

impl Template {
    fn cut(event: &Value) -> anyhow::Result<Template> {
        let text = serde_json::to_string_pretty(event)? + "\n";
        let mut pieces = Vec::new();
        let mut rest = text.as_str();
        let mut length = 0;
        loop {
            let next = [
                (rest.find(EVENT_ID_SLOT), EVENT_ID_SLOT, Piece::EventId),
                (
                    rest.find(SESSION_ID_SLOT),
                    SESSION_ID_SLOT,
                    Piece::SessionId,
                ),
            ]
            .into_iter()
            .filter_map(|(at, slot, piece)| at.map(|at| (at, slot, piece)))
            .min_by_key(|(at, _, _)| *at);
            let Some((at, slot, piece)) = next else {
                break;
            };
            pieces.push(Piece::Literal(Bytes::copy_from_slice(
                &rest.as_bytes()[..at],
            )));
            pieces.push(piece);
            length += at;
            rest = &rest[at + slot.len()..];
        }
        length += rest.len();
        pieces.push(Piece::Literal(Bytes::copy_from_slice(rest.as_bytes())));
        if !pieces.iter().any(|p| matches!(p, Piece::EventId)) {
            bail!("an event template has no event id slot");
        }
        Ok(Template { pieces, length })
    }

    fn render(&self, event_id: &str, session_id: &str) -> Bytes {
        let mut body = BytesMut::with_capacity(self.length + 2 * event_id.len() + session_id.len());
        for piece in &self.pieces {
            match piece {
                Piece::Literal(bytes) => body.put_slice(bytes),
                Piece::EventId => body.put_slice(event_id.as_bytes()),
                Piece::SessionId => body.put_slice(session_id.as_bytes()),
            }
        }
        body.freeze()
    }
}

/// Where event bodies come from during a run.
#[derive(Debug, Clone)]
pub struct EventSource {
    templates: Vec<Template>,
    /// Distinguishes this run's ids from every other run's.
    run: String,
    synthetic: bool,
}

impl EventSource {
    /// Events about sessions that exist nowhere: for measuring the ingress alone.
    pub fn synthetic() -> anyhow::Result<EventSource> {
        let event = completed_event_shape(SESSION_ID_SLOT);
        Ok(EventSource {
            templates: vec![Template::cut(&event)?],
            run: run_id(),
            synthetic: true,
        })
    }

    /// Creates and pays `sessions` sessions directly in an embedded simulator's state.
    pub fn from_sim_state(state: &SimState, sessions: usize) -> anyhow::Result<EventSource> {
        let mut templates = Vec::with_capacity(sessions);
        for i in 0..sessions {
            let session = state
                .create_session(new_session_params(i))
                .map_err(|e| anyhow::anyhow!("creating a session: {e:?}"))?;
            let id = session["id"].as_str().context("a session id")?.to_owned();
            let event = state
                .complete_session(&id, PaymentOutcome::Paid, load_customer(i))
                .map_err(|e| anyhow::anyhow!("completing {id}: {e:?}"))?;
            templates.push(Template::cut(&with_event_id_slot(event)?)?);
        }
        Self::real(templates)
    }

    /// Creates and pays `sessions` sessions through a running simulator's HTTP API
    /// (`POST /v1/checkout/sessions`, then `POST /_sim/checkout/sessions/{id}/complete`).
    pub async fn from_sim_api(
        base_url: &str,
        api_key: &str,
        sessions: usize,
    ) -> anyhow::Result<EventSource> {
        use futures::StreamExt;

        let base = url::Url::parse(base_url).context("the simulator URL")?;
        let host = base.host_str().context("the simulator URL has no host")?;
        super::target::resolve_loopback(host, base.port_or_known_default().unwrap_or(80)).await?;
        let client = reqwest::Client::new();
        let base = base_url.trim_end_matches('/').to_owned();
        let events: Vec<anyhow::Result<Value>> = futures::stream::iter(0..sessions)
            .map(|i| create_and_pay(&client, &base, api_key, i))
            .buffer_unordered(SETUP_CONCURRENCY)
            .collect()
            .await;
        let mut templates = Vec::with_capacity(sessions);
        for event in events {
            templates.push(Template::cut(&with_event_id_slot(event?)?)?);
        }
        Self::real(templates)
    }

    fn real(templates: Vec<Template>) -> anyhow::Result<EventSource> {
        if templates.is_empty() {
            bail!("at least one session is needed");
        }
        Ok(EventSource {
            templates,
            run: run_id(),
            synthetic: false,
        })
    }

    pub fn is_synthetic(&self) -> bool {
        self.synthetic
    }

    pub fn sessions(&self) -> usize {
        self.templates.len()
    }

    /// Event number `seq` of the run: a fresh event id; real sessions are used in turn.
    pub fn body(&self, seq: u64) -> Bytes {
        let template = &self.templates[(seq % self.templates.len() as u64) as usize];
        let event_id = format!("evt_load{}{seq:010}", self.run);
        let session_id = format!("cs_test_load{}{seq:010}", self.run);
        template.render(&event_id, &session_id)
    }
}

/// Creates session number `i` in a running simulator at `base` through its API (one to three
/// T-shirts) and pays it through the control API, as a customer would on the hosted page; returns
/// the `checkout.session.completed` event the simulator then delivers to its webhook endpoints.
pub async fn create_and_pay(
    client: &reqwest::Client,
    base: &str,
    api_key: &str,
    i: usize,
) -> anyhow::Result<Value> {
    let quantity = (i % 3 + 1).to_string();
    let form = [
        ("mode", "payment"),
        ("line_items[0][price]", "price_tshirt"),
        ("line_items[0][quantity]", quantity.as_str()),
        (
            "success_url",
            "http://127.0.0.1/order/success?session_id={CHECKOUT_SESSION_ID}",
        ),
    ];
    let session: Value = client
        .post(format!("{base}/v1/checkout/sessions"))
        .bearer_auth(api_key)
        .form(&form)
        .send()
        .await
        .context("creating a session in the simulator")?
        .error_for_status()
        .context("creating a session in the simulator")?
        .json()
        .await?;
    let id = session["id"].as_str().context("the session has an id")?;
    let customer = load_customer(i);
    let event: Value = client
        .post(format!("{base}/_sim/checkout/sessions/{id}/complete"))
        .json(&json!({"payment": "paid", "name": customer.name, "email": customer.email}))
        .send()
        .await
        .context("completing a session in the simulator")?
        .error_for_status()
        .context("completing a session in the simulator")?
        .json()
        .await?;
    Ok(event)
}

fn new_session_params(i: usize) -> CreateSession {
    CreateSession {
        line_items: vec![LineItemParams::catalog("price_tshirt", (i % 3 + 1) as i64)],
        success_url: Some("http://127.0.0.1/order/success?session_id={CHECKOUT_SESSION_ID}".into()),
        ..CreateSession::default()
    }
}

fn load_customer(i: usize) -> Customer {
    Customer {
        name: format!("Load Customer {i}"),
        email: format!("load{i}@example.com"),
        shipping: None,
    }
}

fn with_event_id_slot(mut event: Value) -> anyhow::Result<Value> {
    if event["type"] != "checkout.session.completed" {
        bail!("the simulator answered with a {} event", event["type"]);
    }
    event["id"] = Value::String(EVENT_ID_SLOT.to_owned());
    Ok(event)
}

fn run_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// A `checkout.session.completed` event shaped like Stripe's (and the simulator's), about
/// `session_id`.
fn completed_event_shape(session_id: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    json!({
        "id": EVENT_ID_SLOT,
        "object": "event",
        "api_version": "2024-06-20",
        "created": now,
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "amount_subtotal": 2000,
                "amount_total": 2000,
                "client_reference_id": null,
                "created": now,
                "currency": "usd",
                "customer": null,
                "customer_details": {
                    "address": null,
                    "email": "load@example.com",
                    "name": "Load Customer",
                    "phone": null,
                    "tax_exempt": "none",
                    "tax_ids": []
                },
                "expires_at": now + 86_400,
                "livemode": false,
                "metadata": {},
                "mode": "payment",
                "payment_intent": "pi_loadgen",
                "payment_method_types": ["card"],
                "payment_status": "paid",
                "status": "complete",
                "success_url": "http://127.0.0.1/order/success?session_id={CHECKOUT_SESSION_ID}",
                "url": null
            }
        },
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "checkout.session.completed"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_events_are_unique_and_name_unique_sessions() {
        let source = EventSource::synthetic().unwrap();
        let a: Value = serde_json::from_slice(&source.body(1)).unwrap();
        let b: Value = serde_json::from_slice(&source.body(2)).unwrap();
        assert_ne!(a["id"], b["id"]);
        assert_ne!(a["data"]["object"]["id"], b["data"]["object"]["id"]);
        assert!(a["id"].as_str().unwrap().starts_with("evt_"));
        let session = a["data"]["object"]["id"].as_str().unwrap();
        assert!(session.starts_with("cs_test_"));
        assert!(
            session[8..].bytes().all(|b| b.is_ascii_alphanumeric()),
            "{session}"
        );
        assert_eq!(a["type"], "checkout.session.completed");
    }

    #[test]
    fn real_sessions_are_used_in_turn_with_fresh_event_ids() {
        let state = SimState::new(&crate::SimConfig::default(), "http://127.0.0.1:1");
        let source = EventSource::from_sim_state(&state, 2).unwrap();
        let bodies: Vec<Value> = (0..4)
            .map(|seq| serde_json::from_slice(&source.body(seq)).unwrap())
            .collect();
        let session = |i: usize| {
            bodies[i]["data"]["object"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(session(0), session(2));
        assert_ne!(session(0), session(1));
        assert_eq!(bodies[0]["data"]["object"]["payment_status"], "paid");
        let ids: std::collections::HashSet<_> = bodies.iter().map(|b| b["id"].clone()).collect();
        assert_eq!(ids.len(), 4);
    }
}
