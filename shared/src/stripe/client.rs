use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::budget::RequestBudget;
use super::embedded_params::CreateEmbeddedCheckoutSession;
use super::error::{ApiError, StripeError};
use super::objects::{CatalogPrice, CheckoutSession, Event, LineItem, List};
use super::params::{CreateCheckoutSession, EventFilter};
use super::payment_link::{CreatePaymentLink, PaymentLink};
use super::retry::{parse_should_retry, should_retry, RetryPolicy};
use crate::domain::{AccountId, CheckoutSessionId};
use crate::errors::error_chain;
use crate::metrics;
use crate::settings::StripeSettings;

/// Stripe's largest page size; fewer round trips for big carts and event sweeps.
const PAGE_LIMIT: &str = "100";

/// The header a platform names a connected account with (Stripe Connect).
const STRIPE_ACCOUNT: &str = "Stripe-Account";

/// Makes `request` on `account`'s behalf, or the platform's when `None`.
fn on_account(request: RequestBuilder, account: Option<&AccountId>) -> RequestBuilder {
    match account {
        Some(account) => request.header(STRIPE_ACCOUNT, account.as_str()),
        None => request,
    }
}

/// A Stripe API client, cheap to clone (one connection pool and one request budget shared by the
/// clones). Build one per process: each one takes a process's share of the deployment's budget.
#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    base: String,
    key: SecretString,
    api_version: String,
    retry: RetryPolicy,
    /// This process's share of the deployment's budget under Stripe's own limit, so bursts (a
    /// backlog, a reconciler sweep, a flood on the shop) queue here instead of drawing 429s
    /// that would slow every other process.
    budget: Arc<RequestBudget>,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient")
            .field("base", &self.base)
            .field("api_version", &self.api_version)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl StripeClient {
    pub fn new(settings: &StripeSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout())
            .timeout(settings.request_timeout())
            .user_agent(concat!("checkout-fulfillment/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            http,
            base: settings.api_base.trim_end_matches('/').to_owned(),
            key: settings.secret_key.clone(),
            api_version: settings.api_version.clone(),
            retry: RetryPolicy {
                max_retries: settings.max_retries,
                base: settings.retry_base(),
                max: settings.retry_max(),
            },
            budget: Arc::new(RequestBudget::new(settings)),
        })
    }

    /// `GET /v1/checkout/sessions/{id}?expand[]=line_items&expand[]=customer&expand[]=subscription`,
    /// with every line item: when the expanded first page says `has_more`, the rest are fetched
    /// from the line-items endpoint. The customer and subscription come expanded so their name,
    /// status and renewal cost no second call.
    pub async fn retrieve_checkout_session(
        &self,
        id: &CheckoutSessionId,
    ) -> Result<CheckoutSession, StripeError> {
        self.retrieve_checkout_session_on(None, id).await
    }

    /// [`Self::retrieve_checkout_session`] on `account`: a connected account's session is
    /// retrieved with `Stripe-Account: acct_…` (without it, Stripe answers 404); `None` is the
    /// platform's own.
    #[tracing::instrument(name = "retrieve_checkout_session", skip(self), fields(session_id = %id, account = account.map(AccountId::as_str)))]
    pub async fn retrieve_checkout_session_on(
        &self,
        account: Option<&AccountId>,
        id: &CheckoutSessionId,
    ) -> Result<CheckoutSession, StripeError> {
        let path = format!("/v1/checkout/sessions/{id}");
        let query = [
            ("expand[]", "line_items"),
            ("expand[]", "customer"),
            ("expand[]", "subscription"),
        ];
        let mut session: CheckoutSession = self
            .send("retrieve_session", Method::GET, &path, |r| {
                on_account(r.query(&query), account)
            })
            .await?;
        if session
            .line_items
            .as_ref()
            .is_some_and(|page| page.has_more)
        {
            let items = self.list_line_items_on(account, id).await?;
            session.line_items = Some(List {
                data: items,
                has_more: false,
                url: None,
            });
        }
        Ok(session)
    }

    /// Every line item of a session, following `starting_after` 100 at a time.
    pub async fn list_line_items(
        &self,
        id: &CheckoutSessionId,
    ) -> Result<Vec<LineItem>, StripeError> {
        self.list_line_items_on(None, id).await
    }

    /// [`Self::list_line_items`] of a session on `account` (`None`: the platform).
    #[tracing::instrument(name = "list_line_items", skip(self), fields(session_id = %id, account = account.map(AccountId::as_str)))]
    pub async fn list_line_items_on(
        &self,
        account: Option<&AccountId>,
        id: &CheckoutSessionId,
    ) -> Result<Vec<LineItem>, StripeError> {
        let path = format!("/v1/checkout/sessions/{id}/line_items");
        self.paginate(
            "list_line_items",
            &path,
            Vec::new(),
            account,
            |item: &LineItem| item.id.clone(),
        )
        .await
    }

    /// One page (up to 100) of the events matching `filter`, newest first. `starting_after`, the
    /// id of the previous page's last (oldest) event, asks for the next, older page; the page
    /// says whether one follows (`has_more`). For callers that must not hold a whole listing.
    pub async fn list_events_page(
        &self,
        filter: &EventFilter,
        starting_after: Option<&str>,
    ) -> Result<List<Event>, StripeError> {
        self.list_events_page_on(None, filter, starting_after).await
    }

    /// [`Self::list_events_page`] of `account` (`Stripe-Account`: a connected account's own
    /// events, which the platform's list does not hold); `None` is the platform's.
    #[tracing::instrument(name = "list_events_page", skip(self), fields(account = account.map(AccountId::as_str)))]
    pub async fn list_events_page_on(
        &self,
        account: Option<&AccountId>,
        filter: &EventFilter,
        starting_after: Option<&str>,
    ) -> Result<List<Event>, StripeError> {
        let mut query = filter.to_query();
        query.push(("limit".to_owned(), PAGE_LIMIT.to_owned()));
        if let Some(id) = starting_after {
            query.push(("starting_after".to_owned(), id.to_owned()));
        }
        self.send("list_events", Method::GET, "/v1/events", |r| {
            on_account(r.query(&query), account)
        })
        .await
    }

    /// Every event matching `filter`, newest first, across all pages.
    #[tracing::instrument(skip(self))]
    pub async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>, StripeError> {
        self.paginate(
            "list_events",
            "/v1/events",
            filter.to_query(),
            None,
            |e: &Event| e.id.clone(),
        )
        .await
    }

    /// Every active price with its product (`GET /v1/prices?active=true&expand[]=data.product`),
    /// across all pages: the catalog a shop page offers.
    #[tracing::instrument(skip(self))]
    pub async fn list_prices(&self) -> Result<Vec<CatalogPrice>, StripeError> {
        let query = vec![
            ("active".to_owned(), "true".to_owned()),
            ("expand[]".to_owned(), "data.product".to_owned()),
        ];
        self.paginate(
            "list_prices",
            "/v1/prices",
            query,
            None,
            |p: &CatalogPrice| p.id.clone(),
        )
        .await
    }

    /// One cheap authenticated call (`GET /v1/prices?limit=1`), for readiness probes: proves the
    /// API answers and accepts our key. Retried like any call, so bound it with a timeout.
    #[tracing::instrument(skip(self))]
    pub async fn ping(&self) -> Result<(), StripeError> {
        let query = [("limit", "1")];
        self.send("ping", Method::GET, "/v1/prices", |r| r.query(&query))
            .await
            .map(|_: serde_json::Value| ())
    }

    /// `POST /v1/checkout/sessions`. The idempotency key makes a retried create return the same
    /// session instead of a second one.
    #[tracing::instrument(skip(self, params))]
    pub async fn create_checkout_session(
        &self,
        params: &CreateCheckoutSession,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        self.create(
            "create_session",
            "/v1/checkout/sessions",
            &params.to_form(),
            idempotency_key,
        )
        .await
    }

    /// `POST /v1/payment_links`. The idempotency key makes a retried create return the same
    /// link instead of a second one.
    #[tracing::instrument(skip(self, params))]
    pub async fn create_payment_link(
        &self,
        params: &CreatePaymentLink,
        idempotency_key: &str,
    ) -> Result<PaymentLink, StripeError> {
        self.create(
            "create_payment_link",
            "/v1/payment_links",
            &params.to_form(),
            idempotency_key,
        )
        .await
    }

    /// `POST /v1/checkout/sessions` with `ui_mode=embedded`; the answer carries the
    /// `client_secret` instead of a `url`. Idempotent like [`Self::create_checkout_session`].
    #[tracing::instrument(skip(self, params))]
    pub async fn create_embedded_checkout_session(
        &self,
        params: &CreateEmbeddedCheckoutSession,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        self.create(
            "create_session",
            "/v1/checkout/sessions",
            &params.to_form(),
            idempotency_key,
        )
        .await
    }

    /// `POST path` with `form`. The idempotency key makes a retried create return the object
    /// the first one made instead of a second one.
    async fn create<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<T, StripeError> {
        self.send(endpoint, Method::POST, path, |r| {
            r.header("Idempotency-Key", idempotency_key).form(form)
        })
        .await
    }

    /// `GET` any list endpoint until `has_more` is false.
    async fn paginate<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: &str,
        mut query: Vec<(String, String)>,
        account: Option<&AccountId>,
        id_of: impl Fn(&T) -> String,
    ) -> Result<Vec<T>, StripeError> {
        query.push(("limit".to_owned(), PAGE_LIMIT.to_owned()));
        let mut all = Vec::new();
        loop {
            let page: List<T> = self
                .send(endpoint, Method::GET, path, |r| {
                    on_account(r.query(&query), account)
                })
                .await?;
            let cursor = page.data.last().map(&id_of);
            all.extend(page.data);
            match cursor {
                Some(last) if page.has_more => {
                    query.retain(|(k, _)| k != "starting_after");
                    query.push(("starting_after".to_owned(), last));
                }
                _ => return Ok(all),
            }
        }
    }

    /// One call within the budget, with G6 retries (each attempt is paid from the budget). `build` adds the query or form to the request
    /// and is called again for every attempt.
    async fn send<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<T, StripeError> {
        let url = format!("{}{}", self.base, path);
        let mut retry = 0;
        loop {
            self.budget.acquire().await;
            let request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.key.expose_secret())
                .header("Stripe-Version", &self.api_version);
            let started = Instant::now();
            let result = build(request).send().await;
            metrics::STRIPE_REQUEST_SECONDS
                .with_label_values(&[endpoint])
                .observe(started.elapsed().as_secs_f64());
            let error = match result {
                Ok(response) if response.status().is_success() => {
                    metrics::STRIPE_REQUESTS
                        .with_label_values(&[endpoint, "ok"])
                        .inc();
                    let body = response.bytes().await.map_err(StripeError::Connection)?;
                    return serde_json::from_slice(&body).map_err(StripeError::Decode);
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let header = |name: &str| {
                        response
                            .headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    let advice = parse_should_retry(header("stripe-should-retry").as_deref());
                    let retryable = should_retry(status, advice);
                    let request_id = header("request-id");
                    let body = response.bytes().await.unwrap_or_default();
                    let mut error = ApiError::parse(status, request_id, &body);
                    // Kept on the error: it also decides whether the caller may retry later.
                    error.should_retry = advice;
                    (StripeError::from_status(error), retryable)
                }
                Err(e) => (StripeError::Connection(e), true),
            };
            let (error, retryable) = error;
            metrics::STRIPE_REQUESTS
                .with_label_values(&[endpoint, error.kind()])
                .inc();
            if !retryable || retry >= self.retry.max_retries {
                return Err(error);
            }
            let delay = self.retry.delay(retry);
            tracing::warn!(error = %error_chain(&error), retry, ?delay, "Stripe call failed; retrying");
            // G6 backoff between attempts (full jitter), not a wait for anything to settle.
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }
}
