//! Building the console from settings, binding its port (0 in tests: the real one is reported),
//! and running it until it is stopped.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use secrecy::ExposeSecret;
use shared::queue::{BrokerEndpoint, Topology};
use shared::settings::Uses;
use shared::shutdown::StopHandle;
use shared::stripe::StripeClient;
use shared::{Fulfiller, Settings};
use tracing_actix_web::TracingLogger;

use worker::reconciler::Reconciler;

use crate::login_throttle::LoginThrottle;
use crate::management::Management;
use crate::operators::Operators;
use crate::proxy_sign_in::ProxySignIn;
use crate::state::AppState;
use crate::webhooks::Prometheus;

/// How long a stopping console lets in-flight pages and actions finish.
const SHUTDOWN_TIMEOUT_SECS: u64 = 25;

/// The running console: its port, and the server to await.
pub struct Application {
    port: u16,
    server: Server,
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
    /// Reads the operators (a bad list stops start-up, naming the line), connects lazily
    /// (the console starts, and says what it cannot reach, while Postgres is down), binds
    /// `console.host:console.port` and builds the server without running it yet.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.check(Uses::CONSOLE)?;
        let console = &settings.console;
        let operators = Operators::parse(console.operators.expose_secret())?;
        let pool = shared::store::pool(&settings.database).context("database settings")?;
        let stripe = StripeClient::new(&settings.stripe).context("building the Stripe client")?;
        let management =
            Management::new(console, &settings.broker).context("building the management client")?;
        let address = (console.host.as_str(), console.port);
        let listener = TcpListener::bind(address)
            .with_context(|| format!("binding {}:{}", address.0, address.1))?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let fulfiller = Fulfiller::from_settings(pool.clone(), stripe, &settings);
        let reconciler =
            Reconciler::one_shot(fulfiller.clone(), &settings).context("database settings")?;
        let state = web::Data::new(AppState {
            fulfiller,
            reconciler,
            pool,
            operators: Arc::new(operators),
            login_throttle: LoginThrottle::per_minute(console.login_failures_per_minute),
            proxy: ProxySignIn::from_settings(console)?,
            management,
            prometheus: Prometheus::new(&console.prometheus_url)
                .context("building the Prometheus client")?,
            broker: BrokerEndpoint::from_settings(&settings.broker),
            topology: Topology::from_settings(&settings.broker),
            confirm_timeout: settings.broker.confirm_timeout(),
            secure_cookie: console.secure_cookie,
            session_ttl: console.session_ttl(),
            list_limit: console.list_limit,
            refresh: console.refresh(),
            action_timeout: console.action_timeout(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .wrap(security_headers())
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .configure(crate::routes::configure)
        })
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .run();
        Ok(Self {
            port,
            server,
            stop: StopHandle::new(),
        })
    }

    /// The port actually bound (the configured one, or the one the OS chose for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops this console the way SIGTERM does (see [`Self::run_until_stopped`]).
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Serves until its [`StopHandle`] is stopped (or the server fails), then stops accepting
    /// and lets in-flight pages and actions finish (up to the shutdown timeout). Installs no
    /// signal handler.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        shared::shutdown::serve_until_stopped(self.server, &self.stop)
            .await
            .context("the console server failed")
    }

    /// What `main` runs: serves until SIGTERM or SIGINT, then drains as
    /// [`Self::run_until_stopped`] does.
    pub async fn run_until_terminated(self) -> anyhow::Result<()> {
        let stop = self.stop_handle();
        shared::shutdown::run_until_terminated(stop, self.run_until_stopped()).await
    }
}

/// Pages of an operators' tool: never cached, never framed, no script or style from elsewhere,
/// no referrer leaking session ids to other sites.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Cache-Control", "no-store"))
        .add((
            "Content-Security-Policy",
            "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
}
