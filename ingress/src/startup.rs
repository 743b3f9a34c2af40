//! Building and running the service: one listener, one shared broker connection, N workers.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use shared::queue::connection::BrokerOptions;
use shared::queue::{Broker, Topology};
use shared::settings::Uses;
use shared::shutdown::StopHandle;
use shared::Settings;

use crate::metrics;
use crate::routes::{self, WebhookContext};
use crate::SERVICE_NAME;

/// A built ingress, bound and connecting to the broker, not yet serving.
pub struct Application {
    port: u16,
    server: Server,
    broker: Broker,
    stop: StopHandle,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .field("broker", &self.broker)
            .finish()
    }
}

impl Application {
    /// Binds `ingress.host:ingress.port` (port 0 picks a free one, see [`Self::port`]) and starts
    /// connecting to the broker in the background: the server answers 503 until it is connected.
    /// Refuses settings an ingress cannot run with (see [`Uses::INGRESS`]): it reads the broker
    /// and the webhook secrets, never a Stripe key or the database.
    pub async fn build(settings: Settings) -> std::io::Result<Self> {
        let listener = TcpListener::bind((settings.ingress.host.as_str(), settings.ingress.port))?;
        Self::build_on(settings, listener).await
    }

    /// [`Self::build`] on a listener the caller bound: a test binds it once and knows the port
    /// before anything starts, with no window for another process to take it.
    pub async fn build_on(settings: Settings, listener: TcpListener) -> std::io::Result<Self> {
        settings
            .check(Uses::INGRESS)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let port = listener.local_addr()?.port();
        let broker = Broker::start(BrokerOptions::from_settings(
            &settings.broker,
            SERVICE_NAME,
            settings.ingress.confirm_channels,
        ));
        let server = serve(listener, &settings, broker.clone())?;
        Ok(Self {
            port,
            server,
            broker,
            stop: StopHandle::new(),
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared broker connection (tests wait on `wait_connected`).
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Stops this application the way SIGTERM does (see [`Self::run_until_stopped`]).
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Serves until its [`StopHandle`] is stopped (or the server fails), then stops accepting,
    /// answers the requests in flight (their publishes confirmed or refused within the ack
    /// budget) and closes the broker connection. Installs no signal handler.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = shared::shutdown::serve_until_stopped(self.server, &self.stop).await;
        self.broker.close().await;
        tracing::info!("ingress stopped");
        served.context("the ingress server failed")
    }

    /// What `main` runs: serves until SIGTERM or SIGINT, then drains as
    /// [`Self::run_until_stopped`] does.
    pub async fn run_until_terminated(self) -> anyhow::Result<()> {
        let stop = self.stop_handle();
        shared::shutdown::run_until_terminated(stop, self.run_until_stopped()).await
    }
}

fn serve(listener: TcpListener, settings: &Settings, broker: Broker) -> std::io::Result<Server> {
    metrics::register();
    let ingress = &settings.ingress;
    let topology = Topology::from_settings(&settings.broker);
    let ack_budget = ingress.ack_budget();
    let context = web::Data::from(Arc::new(WebhookContext {
        secrets: settings.webhook_secrets(),
        tolerance: settings.webhook_tolerance(),
        body_limit: ingress.body_limit_bytes,
        body_read_timeout: ingress.body_read_timeout(),
        ack_budget,
        retry_after: Duration::from_secs(u64::from(ingress.retry_after_secs)),
        exchange: topology.checkout_exchange(),
        broker,
    }));
    let path = ingress.path.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(context.clone())
            .service(
                web::resource(path.as_str())
                    .route(web::post().to(routes::receive))
                    .default_service(web::to(routes::method_not_allowed)),
            )
            .route("/healthz", web::get().to(shared::http::healthz))
            .route("/readyz", web::get().to(routes::readyz))
            .route("/metrics", web::get().to(routes::metrics))
    })
    // Answers are one small write each; never hold one back waiting for an ACK (Nagle), since
    // the customer's redirect waits on it.
    .tcp_nodelay(true)
    // Idle connections stay open longer than a sender keeps them pooled: a server closing one
    // just as the sender writes the next webhook on it turns that delivery into a connection
    // error and a retry much later.
    .keep_alive(ingress.keep_alive())
    // A connection can be idle before its first request too (a proxy's pool keeps one it dialed
    // for a request another connection served): actix-web's first-request head timeout (5 s by
    // default) would answer it 408 just as the proxy writes a webhook on it.
    .client_request_timeout(ingress.keep_alive())
    // A draining request waits at most the ack budget for its confirm; one more second covers
    // writing the answer.
    .shutdown_timeout(ack_budget.as_secs() + 1)
    // Signals are the Application's to handle (`run_until_terminated`), not every server's:
    // tests build many in one process.
    .disable_signals()
    .listen(listener)?;
    if ingress.workers > 0 {
        server = server.workers(ingress.workers);
    }
    Ok(server.run())
}
