//! Building the HTTP app and running it on a socket, in a binary or inside a test.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::config::{validate_business_name, validate_catalog, validate_delivery, SimConfig};
use crate::state::SimState;
use crate::{api, checkout_page, control, payment_link_page, request_id, stripe_js, webhooks};

/// Large enough for a session with the maximum number of line items.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// How long `stop` lets in-flight requests (a delayed one, say) finish.
const SHUTDOWN_GRACE_SECS: u64 = 5;
/// How late a connection's first request may be (see `serve`).
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A simulator serving on a socket.
#[derive(Debug)]
pub struct RunningSim {
    /// `http://127.0.0.1:PORT`: what a Stripe client uses as its API base.
    pub base_url: String,
    pub port: u16,
    /// The same state the HTTP API serves, for driving and inspecting it from tests.
    pub state: SimState,
    handle: ServerHandle,
    task: JoinHandle<std::io::Result<()>>,
    /// Stops webhook delivery (retries, delayed payments) when the simulator is stopped or
    /// dropped: a simulator that is gone must not keep calling a test's endpoints.
    delivery: DropGuard,
}

impl RunningSim {
    /// Starts on a free port of 127.0.0.1.
    pub async fn start(config: SimConfig) -> anyhow::Result<RunningSim> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        Self::start_on(config, listener).await
    }

    /// Starts on a socket the caller bound (so the port is known, or chosen, before start).
    pub async fn start_on(config: SimConfig, listener: TcpListener) -> anyhow::Result<RunningSim> {
        validate_catalog(&config.catalog)?;
        validate_business_name(&config.business_name)?;
        validate_delivery(&config)?;
        let address = listener.local_addr()?;
        let base_url = format!("http://{address}");
        let public_base_url = config
            .public_base_url
            .clone()
            .unwrap_or_else(|| base_url.clone());
        let state = SimState::new(&config, &public_base_url);
        // Subscribed to the event feed before the first request can create an event.
        let delivery = CancellationToken::new();
        webhooks::start(state.clone(), delivery.clone())?;
        listener.set_nonblocking(true)?;
        let server = serve(state.clone(), listener)?;
        let handle = server.handle();
        let task = tokio::spawn(server);
        tracing::info!(%base_url, %public_base_url, "stripe-sim listening");
        Ok(RunningSim {
            base_url,
            port: address.port(),
            state,
            handle,
            task,
            delivery: delivery.drop_guard(),
        })
    }

    /// Stops accepting, lets in-flight requests finish (within a grace period), and returns
    /// once the server is down.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        // The server task's own I/O error, if any, no longer matters to a caller that is
        // shutting it down.
        let _ = self.task.await;
        // After the server: a payment page still answering may be waiting for a delivery.
        drop(self.delivery);
    }
}

fn serve(state: SimState, listener: TcpListener) -> std::io::Result<Server> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(4);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .wrap(from_fn(request_id::assign))
            .configure(api::configure)
            .configure(control::configure)
            .configure(checkout_page::configure)
            .configure(payment_link_page::configure)
            .configure(stripe_js::configure)
            .default_service(web::to(api::unrecognized))
    })
    .workers(workers)
    // Stripe answers a client that is slow to send its request; actix-web's default answers
    // 408 once a connection's first request head is 5 s late, which a starved host (the compose
    // cluster run under load) reaches, refusing payments no real Stripe would refuse.
    .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
    // The embedding program (a test, or our `main`) owns signal handling and calls `stop`.
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_GRACE_SECS)
    .listen(listener)?
    .run();
    Ok(server)
}
