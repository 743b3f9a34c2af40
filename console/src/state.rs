//! What every handler of the console shares, built once at start-up by [`crate::startup`].

use std::sync::Arc;
use std::time::Duration;

use shared::queue::{BrokerEndpoint, Topology};
use shared::Fulfiller;
use sqlx::PgPool;
use worker::reconciler::Reconciler;

use crate::login_throttle::LoginThrottle;
use crate::management::Management;
use crate::operators::Operators;
use crate::proxy_sign_in::ProxySignIn;
use crate::webhooks::Prometheus;

/// What every handler shares; one instance behind `web::Data`.
#[derive(Debug)]
pub struct AppState {
    pub pool: PgPool,
    /// `fulfill_checkout` as the worker and the success page run it.
    pub fulfiller: Fulfiller,
    /// The worker's one-shot reconciler, for "reconcile a time range".
    pub reconciler: Reconciler,
    pub operators: Arc<Operators>,
    pub login_throttle: LoginThrottle,
    /// Sign-in through a trusted single sign-on proxy, when configured.
    pub proxy: Option<ProxySignIn>,
    pub management: Management,
    pub prometheus: Prometheus,
    /// Where redrives connect, and what they declare and move.
    pub broker: BrokerEndpoint,
    pub topology: Topology,
    pub confirm_timeout: Duration,
    pub secure_cookie: bool,
    pub session_ttl: Duration,
    pub list_limit: u32,
    /// How often the overview refreshes itself when asked to.
    pub refresh: Duration,
    pub action_timeout: Duration,
}
