use serde_json::Value;
use stripe_sim::{
    CreateSession, Customer, LineItemParams, PaymentOutcome, SimState, EVENT_RETENTION_SECS,
};

use crate::helpers::{fixture, TestSim};

const DAY: i64 = 24 * 60 * 60;

fn jenny() -> Customer {
    Customer {
        name: "Jenny Rosen".into(),
        email: "jenny@example.com".into(),
        shipping: None,
    }
}

fn new_session(state: &SimState) -> String {
    let session = state
        .create_session(CreateSession {
            line_items: vec![LineItemParams::catalog("price_mug", 1)],
            ..CreateSession::default()
        })
        .unwrap();
    session["id"].as_str().unwrap().to_string()
}

/// Makes `n` events through the customer's transitions, cycling through the four checkout
/// event types; returns them in creation order.
fn make_events(state: &SimState, n: usize) -> Vec<Value> {
    let mut events = Vec::with_capacity(n);
    while events.len() < n {
        let id = new_session(state);
        match events.len() % 4 {
            0 => events.push(
                state
                    .complete_session(&id, PaymentOutcome::Paid, jenny())
                    .unwrap(),
            ),
            1 => events.push(state.expire_session(&id).unwrap()),
            2 => {
                events.push(
                    state
                        .complete_session(&id, PaymentOutcome::Unpaid, jenny())
                        .unwrap(),
                );
                if events.len() < n {
                    events.push(state.succeed_async_payment(&id).unwrap());
                }
            }
            _ => {
                events.push(
                    state
                        .complete_session(&id, PaymentOutcome::Unpaid, jenny())
                        .unwrap(),
                );
                if events.len() < n {
                    events.push(state.fail_async_payment(&id).unwrap());
                }
            }
        }
    }
    events
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

fn id_of(event: &Value) -> String {
    event["id"].as_str().unwrap().to_string()
}

/// Follows `starting_after` from `first_query` to the end; returns every page.
async fn all_pages(t: &TestSim, first_query: &str) -> Vec<Value> {
    let mut pages: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("{first_query}&starting_after={c}"),
            None => first_query.to_string(),
        };
        let page = t.get(&query).await;
        assert_eq!(page.status, 200, "{query}: {:#}", page.body);
        let has_more = page.body["has_more"].as_bool().unwrap();
        cursor = ids(&page.body).last().cloned();
        pages.push(page.body);
        if !has_more {
            return pages;
        }
        assert!(pages.len() < 50, "pagination does not end");
    }
}

/// 250 events in three batches whose clocks are out of creation order: batch A (100 events)
/// a day ago, batch B (100) three days ago, batch C (50) two days ago.
struct History {
    a: Vec<Value>,
    b: Vec<Value>,
    c: Vec<Value>,
}

impl History {
    fn make(state: &SimState) -> History {
        state.set_clock_offset(-DAY);
        let a = make_events(state, 100);
        state.set_clock_offset(-3 * DAY);
        let b = make_events(state, 100);
        state.set_clock_offset(-2 * DAY);
        let c = make_events(state, 50);
        state.set_clock_offset(0);
        History { a, b, c }
    }

    /// Newest first: by `created`, then by creation order, both descending.
    fn newest_first(&self) -> Vec<String> {
        let mut all: Vec<(i64, usize, String)> = self
            .a
            .iter()
            .chain(&self.b)
            .chain(&self.c)
            .enumerate()
            .map(|(i, e)| (e["created"].as_i64().unwrap(), i, id_of(e)))
            .collect();
        all.sort_by_key(|e| std::cmp::Reverse((e.0, e.1)));
        all.into_iter().map(|(_, _, id)| id).collect()
    }

    fn all(&self) -> impl Iterator<Item = &Value> {
        self.a.iter().chain(&self.b).chain(&self.c)
    }
}

fn created(events: &[Value]) -> (i64, i64) {
    let times = events.iter().map(|e| e["created"].as_i64().unwrap());
    (times.clone().min().unwrap(), times.max().unwrap())
}

#[tokio::test]
async fn two_hundred_fifty_events_list_newest_first_across_pages() {
    let t = TestSim::spawn().await;
    let history = History::make(t.state());
    let expected = history.newest_first();
    // Batch A is newest, then C, then B, although B was created before C.
    assert_eq!(expected[0], id_of(history.a.last().unwrap()));
    assert_eq!(expected[100], id_of(history.c.last().unwrap()));
    assert_eq!(expected[249], id_of(&history.b[0]));

    let pages = all_pages(&t, "/v1/events?limit=100").await;
    let sizes: Vec<usize> = pages.iter().map(|p| ids(p).len()).collect();
    assert_eq!(sizes, vec![100, 100, 50]);
    assert_eq!(pages[0]["url"], "/v1/events");
    let listed: Vec<String> = pages.iter().flat_map(ids).collect();
    assert_eq!(listed, expected);

    // Backwards from the last page's first event: the middle page, then the first.
    let back = t
        .get(&format!(
            "/v1/events?limit=100&ending_before={}",
            ids(&pages[2])[0]
        ))
        .await;
    assert_eq!(ids(&back.body), ids(&pages[1]));
    assert_eq!(back.body["has_more"], true);
    let back = t
        .get(&format!(
            "/v1/events?limit=100&ending_before={}",
            ids(&pages[1])[0]
        ))
        .await;
    assert_eq!(ids(&back.body), ids(&pages[0]));
    assert_eq!(back.body["has_more"], false);

    let default = t.get("/v1/events").await;
    assert_eq!(ids(&default.body), expected[..10].to_vec());
}

#[tokio::test]
async fn type_filters_take_wildcards_and_lists() {
    let t = TestSim::spawn().await;
    let history = History::make(t.state());
    let count_of = |pattern: &dyn Fn(&str) -> bool| {
        history
            .all()
            .filter(|e| pattern(e["type"].as_str().unwrap()))
            .count()
    };

    let everything = all_pages(&t, "/v1/events?limit=100&type=checkout.session.*").await;
    assert_eq!(everything.iter().map(|p| ids(p).len()).sum::<usize>(), 250);

    let completed = all_pages(&t, "/v1/events?limit=100&type=checkout.session.completed").await;
    let completed: Vec<Value> = completed
        .iter()
        .flat_map(|p| p["data"].as_array().unwrap().clone())
        .collect();
    assert_eq!(
        completed.len(),
        count_of(&|t| t == "checkout.session.completed")
    );
    assert!(completed
        .iter()
        .all(|e| e["type"] == "checkout.session.completed"));

    let asynchronous = all_pages(
        &t,
        "/v1/events?limit=100&type=checkout.session.async_payment_*",
    )
    .await;
    assert_eq!(
        asynchronous.iter().map(|p| ids(p).len()).sum::<usize>(),
        count_of(&|t| t.starts_with("checkout.session.async_payment_"))
    );

    for spelling in ["types[]", "types[0]"] {
        let second = if spelling == "types[]" {
            "types[]"
        } else {
            "types[1]"
        };
        let listed = all_pages(
            &t,
            &format!(
                "/v1/events?limit=100&{spelling}=checkout.session.expired&{second}=checkout.session.async_payment_failed"
            ),
        )
        .await;
        let expected = count_of(&|t| {
            t == "checkout.session.expired" || t == "checkout.session.async_payment_failed"
        });
        assert_eq!(
            listed.iter().map(|p| ids(p).len()).sum::<usize>(),
            expected,
            "{spelling}"
        );
    }

    let none = t.get("/v1/events?type=payment_intent.succeeded").await;
    assert_eq!(ids(&none.body).len(), 0);
    assert_eq!(none.body["has_more"], false);

    let too_many: String = (0..21).map(|i| format!("&types[]=t{i}")).collect();
    let reply = t.get(&format!("/v1/events?limit=1{too_many}")).await;
    reply.assert_error(400, "invalid_request_error", None, Some("types"));
    let reply = t.get("/v1/events?type=a&types[]=b").await;
    reply.assert_error(
        400,
        "invalid_request_error",
        Some("parameters_exclusive"),
        Some("type"),
    );
}

#[tokio::test]
async fn created_filters_bound_the_listing() {
    let t = TestSim::spawn().await;
    let history = History::make(t.state());
    let (b_min, b_max) = created(&history.b);
    let (c_min, c_max) = created(&history.c);
    let count = |pages: &[Value]| pages.iter().map(|p| ids(p).len()).sum::<usize>();

    let since_c = all_pages(&t, &format!("/v1/events?limit=100&created[gte]={c_min}")).await;
    assert_eq!(count(&since_c), 150, "batches A and C");
    let before_c = all_pages(&t, &format!("/v1/events?limit=100&created[lt]={c_min}")).await;
    assert_eq!(count(&before_c), 100, "batch B");
    let only_c = all_pages(
        &t,
        &format!("/v1/events?limit=100&created[gt]={b_max}&created[lte]={c_max}"),
    )
    .await;
    assert_eq!(count(&only_c), 50, "batch C");

    let exact = all_pages(&t, &format!("/v1/events?limit=100&created={b_min}")).await;
    let expected = history
        .all()
        .filter(|e| e["created"].as_i64() == Some(b_min))
        .count();
    assert_eq!(count(&exact), expected);

    let reply = t.get("/v1/events?created[gte]=yesterday").await;
    reply.assert_error(
        400,
        "invalid_request_error",
        Some("parameter_invalid_integer"),
        Some("created[gte]"),
    );
}

#[tokio::test]
async fn an_event_is_retrieved_by_id_with_the_fixture_envelope() {
    let t = TestSim::spawn().await;
    let id = new_session(t.state());
    let event = t
        .state()
        .complete_session(&id, PaymentOutcome::Paid, jenny())
        .unwrap();
    let reply = t.get(&format!("/v1/events/{}", id_of(&event))).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, event);

    let envelope = fixture("event.json");
    for key in envelope.as_object().unwrap().keys() {
        assert!(event.get(key).is_some(), "event field {key} missing");
    }
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(event["object"], "event");
    assert_eq!(event["livemode"], false);
    assert!(event["api_version"].is_string());
    assert!(event["pending_webhooks"].is_i64());
    assert_eq!(
        event["request"],
        serde_json::json!({"id": null, "idempotency_key": null})
    );
    assert_eq!(event["data"]["object"]["id"], id.as_str());
    assert!(event["data"]["object"].get("line_items").is_none());

    let missing = t.get("/v1/events/evt_missing").await;
    assert_eq!(
        missing.body,
        serde_json::json!({"error": {
            "code": "resource_missing",
            "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
            "message": "No such event: 'evt_missing'",
            "param": "id",
            "type": "invalid_request_error"
        }})
    );
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn events_older_than_thirty_days_are_neither_listed_nor_retrievable() {
    let t = TestSim::spawn().await;
    let state = t.state();
    state.set_clock_offset(-31 * DAY);
    let old = state.expire_session(&new_session(state)).unwrap();
    state.set_clock_offset(-29 * DAY);
    let recent = state.expire_session(&new_session(state)).unwrap();
    state.set_clock_offset(0);

    let listed = t.get("/v1/events").await;
    assert_eq!(ids(&listed.body), vec![id_of(&recent)]);
    let reply = t.get(&format!("/v1/events/{}", id_of(&old))).await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        t.get(&format!("/v1/events/{}", id_of(&recent)))
            .await
            .status,
        200
    );

    // Two days later the recent one is past the 30 days as well.
    assert_eq!(EVENT_RETENTION_SECS, 30 * DAY);
    state.set_clock_offset(2 * DAY);
    let listed = t.get("/v1/events").await;
    assert!(ids(&listed.body).is_empty());
}
