//! `TestSim`: a simulator on port 0 plus a client, with one method per kind of call.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;
use stripe_sim::{RunningSim, SimConfig, SimState};

/// The key tests authenticate with; any `sk_test_` key is accepted by default.
pub const KEY: &str = "sk_test_tests_4242";

/// Bound on every request, so a hung simulator fails a test instead of stalling it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub struct TestSim {
    pub sim: RunningSim,
    pub client: reqwest::Client,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a Stripe error object with this status, type, code and param.
    #[track_caller]
    pub fn assert_error(
        &self,
        status: u16,
        error_type: &str,
        code: Option<&str>,
        param: Option<&str>,
    ) {
        assert_eq!(self.status, status, "{:#}", self.body);
        let error = &self.body["error"];
        assert_eq!(error["type"], error_type, "{:#}", self.body);
        assert_eq!(error["code"].as_str(), code, "{:#}", self.body);
        assert_eq!(error["param"].as_str(), param, "{:#}", self.body);
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{:#}",
            self.body
        );
    }
}

impl TestSim {
    pub async fn spawn() -> TestSim {
        Self::spawn_with(SimConfig::default()).await
    }

    pub async fn spawn_with(config: SimConfig) -> TestSim {
        let sim = RunningSim::start(config)
            .await
            .expect("the simulator starts");
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("a reqwest client");
        TestSim { sim, client }
    }

    pub fn state(&self) -> &SimState {
        &self.sim.state
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the simulator answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("a JSON body ({e}), got {status}: {text}"));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `GET` with the test key; `path` may carry a query string.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path)).bearer_auth(KEY))
            .await
    }

    /// `POST` a form with the test key.
    pub async fn post_form(&self, path: &str, form: &[(String, String)]) -> Reply {
        self.send(self.client.post(self.url(path)).bearer_auth(KEY).form(form))
            .await
    }

    /// `POST` a form under an `Idempotency-Key`.
    pub async fn post_form_idempotent(
        &self,
        path: &str,
        form: &[(String, String)],
        key: &str,
    ) -> Reply {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(KEY)
                .header("Idempotency-Key", key)
                .form(form),
        )
        .await
    }

    /// `POST` JSON to the control API (no key).
    pub async fn control(&self, path: &str, body: Value) -> Reply {
        self.send(self.client.post(self.url(path)).json(&body))
            .await
    }

    /// `GET` a JSON control route (no key).
    pub async fn control_get(&self, path: &str) -> Value {
        self.send(self.client.get(self.url(path))).await.body
    }

    /// Creates a session over HTTP with catalog prices; returns it.
    pub async fn create_session(&self, lines: &[(&str, i64)]) -> Value {
        let mut form = form(&[
            ("mode", "payment"),
            (
                "success_url",
                "https://shop.test/order/success?session_id={CHECKOUT_SESSION_ID}",
            ),
            ("cancel_url", "https://shop.test/cancel"),
        ]);
        for (i, (price, quantity)) in lines.iter().enumerate() {
            form.push((format!("line_items[{i}][price]"), price.to_string()));
            form.push((format!("line_items[{i}][quantity]"), quantity.to_string()));
        }
        let reply = self.post_form("/v1/checkout/sessions", &form).await;
        assert_eq!(reply.status, 200, "{:#}", reply.body);
        reply.body
    }
}

/// A page (HTML) response, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The text of the element with this id (its content up to the next tag), if present.
    pub fn element_text(&self, id: &str) -> Option<String> {
        let start = self.text.find(&format!("id=\"{id}\""))?;
        let open_end = start + self.text[start..].find('>')? + 1;
        let close = open_end + self.text[open_end..].find('<')?;
        Some(unescape(self.text[open_end..close].trim()))
    }
}

impl TestSim {
    /// A browser-like client that does not follow redirects, so tests see the 303.
    pub fn page_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a reqwest client")
    }

    async fn read_page(response: reqwest::Response) -> Page {
        Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.expect("a body"),
        }
    }

    /// `GET` a page (an absolute URL, e.g. a session's `url`).
    pub async fn get_page(&self, url: &str) -> Page {
        let response = self.page_client().get(url).send().await.expect("an answer");
        Self::read_page(response).await
    }

    /// Submits the payment form of `session` with `fields`.
    pub async fn pay(&self, session: &Value, fields: &[(&str, &str)]) -> Page {
        let url = session["url"].as_str().expect("an open session has a url");
        let response = self
            .page_client()
            .post(url)
            .form(fields)
            .send()
            .await
            .expect("an answer");
        Self::read_page(response).await
    }
}

/// Undoes the HTML escaping of text (the entities the page's templates produce).
fn unescape(html: &str) -> String {
    html.replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}

/// The payment form filled in with a card number, otherwise valid.
pub fn card_form(number: &str) -> Vec<(&str, &str)> {
    vec![
        ("email", "jenny.rosen@example.com"),
        ("payment-method", "card"),
        ("card-number", number),
        ("card-expiry", "12 / 34"),
        ("card-cvc", "123"),
        ("cardholder-name", "Jenny Rosen"),
        ("billing-postal-code", "94103"),
    ]
}

/// The payment form filled in for a bank transfer.
pub fn bank_transfer_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("email", "jenny.rosen@example.com"),
        ("payment-method", "bank_transfer"),
        ("cardholder-name", "Jenny Rosen"),
    ]
}

/// A form from string pairs.
pub fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A fixture from `stripe-sim/fixtures/`, located independently of the working directory.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Asserts that `actual` has every field of `fixture` with the same JSON type. At the top
/// level a field may be `null` only if it is in `nullable`; below it, any field may be `null`
/// (Stripe's sub-objects are full of optional fields). A `null` in the fixture says nothing
/// about the type, so any value matches it.
#[track_caller]
pub fn assert_fixture_shape(fixture: &Value, actual: &Value, nullable: &[&str]) {
    let fixture = fixture.as_object().expect("a fixture object");
    for (key, expected) in fixture {
        let Some(got) = actual.get(key) else {
            panic!("field {key} is missing from {actual:#}");
        };
        if expected.is_null() {
            continue;
        }
        if got.is_null() {
            assert!(
                nullable.contains(&key.as_str()),
                "field {key} is null but the fixture has {expected}"
            );
            continue;
        }
        assert_eq!(
            json_type(got),
            json_type(expected),
            "field {key}: {got} vs fixture {expected}"
        );
        assert_nested_shape(key, expected, got);
    }
}

fn assert_nested_shape(path: &str, expected: &Value, got: &Value) {
    let (Some(expected), Some(got)) = (expected.as_object(), got.as_object()) else {
        return;
    };
    for (key, e) in expected {
        let here = format!("{path}.{key}");
        let Some(g) = got.get(key) else {
            panic!("field {here} is missing");
        };
        if e.is_null() || g.is_null() {
            continue;
        }
        assert_eq!(
            json_type(g),
            json_type(e),
            "field {here}: {g} vs fixture {e}"
        );
        assert_nested_shape(&here, e, g);
    }
}

/// Fields of `checkout.session` that Stripe documents as nullable: the `nullable: true` ones of
/// its OpenAPI spec (shared/stripe/openapi-checkout-subset.json) and, for fields newer than that
/// spec, the current API reference.
pub const SESSION_NULLABLE: &[&str] = &[
    "after_expiration",
    "allow_promotion_codes",
    "amount_subtotal",
    "amount_total",
    "billing_address_collection",
    "cancel_url",
    "client_reference_id",
    "client_secret",
    "collected_information",
    "consent",
    "consent_collection",
    "currency",
    "currency_conversion",
    "customer",
    "customer_account",
    "customer_creation",
    "customer_details",
    "customer_email",
    "integration_identifier",
    "invoice",
    "invoice_creation",
    "locale",
    "metadata",
    "origin_context",
    "payment_intent",
    "payment_link",
    "payment_method_collection",
    "payment_method_configuration_details",
    "payment_method_options",
    "permissions",
    "recovered_from",
    "saved_payment_method_options",
    "setup_intent",
    "shipping_address_collection",
    "shipping_cost",
    "status",
    "submit_type",
    "subscription",
    "success_url",
    "total_details",
    "ui_mode",
    "url",
    "wallet_options",
];

/// Nullable fields of the line `item` and its `price` (same sources).
pub const LINE_ITEM_NULLABLE: &[&str] = &[
    "adjustable_quantity",
    "custom_unit_amount",
    "lookup_key",
    "metadata",
    "nickname",
    "recurring",
    "tiers_mode",
    "transform_quantity",
];
