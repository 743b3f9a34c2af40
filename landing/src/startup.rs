//! Building the server from settings, binding its port (0 in tests: the real one is reported),
//! and running it until it is stopped.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use shared::settings::{DatabaseSettings, Uses};
use shared::shutdown::StopHandle;
use shared::stripe::StripeClient;
use shared::{Fulfiller, Settings};
use tracing_actix_web::TracingLogger;

use crate::access_log::RedactedRootSpan;
use crate::state::AppState;
use crate::{headers, metrics, routes};

/// How often idle clients are dropped from the rate limiters' tables, so that a crawl from many
/// addresses does not grow them forever.
const LIMITER_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// How long a stopping server lets in-flight pages finish (each is bounded by the fulfillment
/// deadline, which is seconds).
const SHUTDOWN_TIMEOUT_SECS: u64 = 10;

/// This service waits for a database connection at most this fraction of the success page's
/// deadline (see [`database_settings`]).
const CONNECTION_WAIT_DIVISOR: u64 = 3;

/// The running service: its port, and the server to await.
pub struct Application {
    port: u16,
    server: Server,
    sweeper: tokio::task::JoinHandle<()>,
    stop: StopHandle,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects lazily (the service starts, and reports not ready, while Postgres or Stripe is
    /// down), binds `landing.host:landing.port`, and builds the server without running it yet.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let address = (settings.landing.host.as_str(), settings.landing.port);
        let listener = TcpListener::bind(address)
            .with_context(|| format!("binding {}:{}", address.0, address.1))?;
        Self::build_on(settings, listener).await
    }

    /// [`Self::build`] on a listener the caller bound: a test binds it once and knows the port
    /// (the success URL is built from it) before anything starts, with no window for another
    /// process to take it.
    pub async fn build_on(settings: Settings, listener: TcpListener) -> anyhow::Result<Self> {
        settings.check(Uses::LANDING)?;
        crate::shop_name::set(&settings.landing.shop_name);
        let pool =
            shared::store::pool(&database_settings(&settings)).context("database settings")?;
        let stripe = StripeClient::new(&settings.stripe).context("building the Stripe client")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let fulfiller = Fulfiller::from_settings(pool, stripe, &settings);
        let state = web::Data::new(AppState::new(&settings, fulfiller)?);
        metrics::register();
        let sweeper = tokio::spawn(sweep_limiters(state.clone()));
        let keep_alive = settings.landing.keep_alive();
        let server = run(listener, state, keep_alive)?;
        Ok(Self {
            port,
            server,
            sweeper,
            stop: StopHandle::new(),
        })
    }

    /// The port actually bound (the configured one, or the one the OS chose for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops this application the way SIGTERM does (see [`Self::run_until_stopped`]).
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Serves until its [`StopHandle`] is stopped (or the server fails), then stops accepting
    /// and lets in-flight pages finish (up to the shutdown timeout). Installs no signal handler,
    /// so a test process embedding the service still dies of SIGTERM like any other.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = shared::shutdown::serve_until_stopped(self.server, &self.stop).await;
        self.sweeper.abort();
        served.context("the landing server failed")
    }

    /// What `main` runs: serves until SIGTERM or SIGINT, then drains as
    /// [`Self::run_until_stopped`] does.
    pub async fn run_until_terminated(self) -> anyhow::Result<()> {
        let stop = self.stop_handle();
        shared::shutdown::run_until_terminated(stop, self.run_until_stopped()).await
    }
}

/// The shared database settings with the connection wait capped at a third of the success
/// page's deadline. A database that is down shows up as a connection wait that runs out (the
/// pool keeps retrying a refused connection until then); were that wait as long as the
/// deadline, the deadline would always pass first and a customer would be told "confirming"
/// for something that cannot happen, instead of the 503 page that says to retry. A third
/// leaves the rest of the deadline for the queries and Stripe once connected.
fn database_settings(settings: &Settings) -> DatabaseSettings {
    let cap = (settings.landing.fulfill_deadline_ms / CONNECTION_WAIT_DIVISOR).max(1);
    let mut database = settings.database.clone();
    if database.acquire_timeout_ms > cap {
        tracing::info!(
            configured_ms = database.acquire_timeout_ms,
            used_ms = cap,
            "the database connection wait is capped at a third of the fulfillment deadline"
        );
        database.acquire_timeout_ms = cap;
    }
    database
}

/// The HTTP server on `listener`, with every route and middleware. An idle connection stays open
/// for `keep_alive`, before its first request as between two (see `landing.keep_alive_secs`).
pub fn run(
    listener: TcpListener,
    state: web::Data<AppState>,
    keep_alive: Duration,
) -> std::io::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .wrap(headers::security())
            .wrap(TracingLogger::<RedactedRootSpan>::new())
            .app_data(state.clone())
            .configure(routes::configure)
    })
    // Signals are handled by `Application::run_until_terminated`, not by every server built
    // (tests build many in one process).
    .disable_signals()
    .keep_alive(keep_alive)
    // actix-web's first-request head timeout (5 s by default) would otherwise close, with a 408,
    // a connection the proxy in front pooled before using it.
    .client_request_timeout(keep_alive)
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
    .listen(listener)?
    .run();
    Ok(server)
}

async fn sweep_limiters(state: web::Data<AppState>) {
    let mut interval = tokio::time::interval(LIMITER_SWEEP_INTERVAL);
    loop {
        interval.tick().await;
        state.success_limiter.forget_idle();
        state.status_limiter.forget_idle();
        state.checkout_limiter.forget_idle();
    }
}
