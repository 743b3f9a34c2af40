//! What the landing tests share: the real landing app on port 0, a fresh database, an
//! in-process simulator, and a client that does not follow redirects.
//!
//! Landing needs no broker, so this builds its settings without one.

#![allow(dead_code)] // each test file uses its own part of this module

use std::net::IpAddr;
use std::time::Duration;

use crate::service::RunningService;
use crate::{start_sim, TestDb, SIM_KEY, WEBHOOK_SECRET};
use futures::FutureExt;
use landing::Application;
use shared::settings::Uses;
use shared::stripe::StripeClient;
use shared::{CheckoutSessionId, Fulfiller, Settings};
use stripe_sim::RunningSim;

/// The landing service under test, and what it talks to.
#[derive(Debug)]
pub struct Landing {
    pub db: TestDb,
    pub sim: RunningSim,
    pub settings: Settings,
    /// A second `fulfill_checkout` caller, standing in for the worker.
    pub fulfiller: Fulfiller,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    pub http: reqwest::Client,
    /// `None` once [`Landing::stop`] has drained it.
    service: Option<RunningService>,
}

/// A page as the browser would get it.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The one-time token of a shop page's forms.
    pub fn form_token(&self) -> String {
        form_token_in(&self.body)
            .unwrap_or_else(|| panic!("no form token on the page:\n{}", self.body))
            .to_owned()
    }

    /// Asserts the body contains every one of `texts`, showing the page when it does not.
    pub fn assert_shows(&self, texts: &[&str]) {
        for text in texts {
            assert!(
                self.body.contains(text),
                "the page lacks {text:?}:\n{}",
                self.body
            );
        }
    }
}

impl Landing {
    pub async fn start() -> Landing {
        Self::start_with(|_| {}).await
    }

    /// Starts with the settings changed by `edit` after the harness's own (the test's values
    /// win), then checked as landing checks them at start-up.
    pub async fn start_with(edit: impl FnOnce(&mut Settings)) -> Landing {
        let (db, sim) = tokio::join!(TestDb::create(), start_sim());
        let vars: Vec<(String, String)> = [
            ("APP_DATABASE__URL", db.url.as_str()),
            ("APP_STRIPE__API_BASE", sim.base_url.as_str()),
            ("APP_STRIPE__SECRET_KEY", SIM_KEY),
            ("APP_STRIPE__RETRY_BASE_MS", "10"),
            ("APP_STRIPE__RETRY_MAX_MS", "50"),
            ("APP_STRIPE__RATE_LIMIT_PER_SEC", "10000"),
            ("APP_WEBHOOK__SECRETS", WEBHOOK_SECRET),
            ("APP_LANDING__HOST", "127.0.0.1"),
            ("APP_LANDING__PORT", "0"),
            ("APP_LANDING__PUBLIC_BASE_URL", "http://shop.test"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut settings =
            Settings::load_from(Uses::LANDING, vars).expect("the harness's settings are valid");
        edit(&mut settings);
        settings
            .check(Uses::LANDING)
            .expect("test settings are valid");
        let stripe = StripeClient::new(&settings.stripe).expect("build the Stripe client");
        let fulfiller = Fulfiller::from_settings(db.pool.clone(), stripe, &settings);
        let app = Application::build(settings.clone())
            .await
            .expect("landing builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let service = RunningService::spawn("landing", app.stop_handle(), app.run_until_stopped());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build the HTTP client");
        Landing {
            db,
            sim,
            settings,
            fulfiller,
            address,
            http,
            service: Some(service),
        }
    }

    pub async fn get(&self, path_and_query: &str) -> Page {
        let response = self
            .http
            .get(format!("{}{path_and_query}", self.address))
            .send()
            .await
            .expect("landing answers");
        into_page(response).await
    }

    /// `GET /order/success?session_id=<raw, percent-encoded>`.
    pub async fn success_page(&self, raw_session_id: &str) -> Page {
        self.get(&success_path(raw_session_id)).await
    }

    /// A fresh form token, from the shop page as a customer's browser gets it.
    pub async fn form_token(&self) -> String {
        self.get("/").await.form_token()
    }

    /// A client whose connections come from `local` (any 127.x.y.z reaches the service): to
    /// the service, another customer.
    pub fn http_from(&self, local: IpAddr) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .local_address(local)
            .build()
            .expect("build the HTTP client")
    }

    /// `GET path_and_query` with one extra header.
    pub async fn get_with_header(&self, path_and_query: &str, name: &str, value: &str) -> Page {
        send(
            self.http
                .get(format!("{}{path_and_query}", self.address))
                .header(name, value),
        )
        .await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .http
            .post(format!("{}{path}", self.address))
            .form(form)
            .send()
            .await
            .expect("landing answers");
        into_page(response).await
    }

    /// The session's order state, if it has an order.
    pub async fn order_state(&self, id: &CheckoutSessionId) -> Option<String> {
        crate::probes::order_state(&self.db.pool, id.as_str()).await
    }

    pub async fn order_number(&self, id: &CheckoutSessionId) -> i64 {
        sqlx::query_scalar("SELECT order_number FROM checkout_orders WHERE session_id = $1")
            .bind(id.as_str())
            .fetch_one(&self.db.pool)
            .await
            .expect("the order exists")
    }

    /// Stops landing gracefully and waits for the drain; panics when it does not drain.
    pub async fn stop(&mut self) {
        if let Some(service) = self.service.take() {
            service.stop().await.expect("landing drains");
        }
    }
}

impl Drop for Landing {
    fn drop(&mut self) {
        // The stop is requested at once (it never waits); the server winds down as the test's
        // runtime ends.
        if let Some(service) = &self.service {
            let _ = service.stop_handle().stop().now_or_never();
        }
    }
}

/// The one-time token of the forms on a shop page's HTML, if it has one.
pub fn form_token_in(html: &str) -> Option<&str> {
    html.split("name=\"form_token\" value=\"")
        .nth(1)?
        .split('"')
        .next()
}

pub fn success_path(raw_session_id: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("session_id", raw_session_id)
        .finish();
    format!("/order/success?{query}")
}

/// Sends `request` (from any client) and reads the page.
pub async fn send(request: reqwest::RequestBuilder) -> Page {
    into_page(request.send().await.expect("landing answers")).await
}

async fn into_page(response: reqwest::Response) -> Page {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.expect("read the body");
    Page {
        status,
        headers,
        body,
    }
}

/// The customer's name as the page shows it after HTML escaping.
pub fn escaped(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}
