//! Building the worker from settings, and running it until its [`StopHandle`] is stopped
//! (`main`: until SIGTERM, see [`Application::run_until_terminated`]).
//!
//! [`Application::build`] connects lazily (a Postgres pool sized with the worker's concurrency,
//! a self-repairing publisher connection) and binds the ops port (`/healthz`, `/readyz`, `/metrics`; port 0 picks a free
//! one, reported by [`Application::port`]). [`Application::run_until_stopped`] starts the
//! consumer, the outbox relay and the reconciler, then drains in order on stop:
//! 1. the consumer cancels its subscription and finishes and acks what is in flight;
//! 2. the reconciler steps down (releasing leadership) and the outbox relay makes a last pass,
//!    so announcements of the work just finished leave with this process;
//! 3. the ops server, the broker connection and the pool close.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use anyhow::Context;
use shared::http::{ops_server, Dependencies};
use shared::queue::connection::BrokerOptions;
use shared::queue::{Broker, BrokerEndpoint, Subscription, Topology};
use shared::settings::Uses;
use shared::shutdown::StopHandle;
use shared::stripe::StripeClient;
use shared::{Fulfiller, Settings};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::consumer::{Consumer, ConsumerOptions};
use crate::metrics;
use crate::outbox_relay::{OutboxRelay, RelayOptions};
use crate::process::Processor;
use crate::reconciler::{Reconciler, ReconcilerOptions};

/// Confirm channels on the publisher connection (retry and dead-letter copies, the outbox).
const PUBLISH_CHANNELS: usize = 2;

/// Longest a `/metrics` scrape waits for the database-wide gauges.
const GAUGE_REFRESH_BUDGET: Duration = Duration::from_secs(2);

/// A running worker's parts, built but not started.
pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
    publisher: Broker,
    consumer: Consumer<Processor>,
    relay: OutboxRelay,
    /// `None` when `worker.reconcile_interval_secs` is 0.
    reconciler: Option<Reconciler>,
    processor: Processor,
    leader: Arc<AtomicBool>,
    stop: StopHandle,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .field("reconciler", &self.reconciler.is_some())
            .finish_non_exhaustive()
    }
}

/// What the ops server reports: `/readyz`'s checks, `/metrics`'s database gauges.
struct Readiness {
    pool: PgPool,
    publisher: Broker,
    consuming: Arc<AtomicBool>,
    unfulfilled_threshold: Duration,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.check(Uses::WORKER)?;
        metrics::register();
        // Sized with the worker's concurrency, so a delivery never waits out
        // database.acquire_timeout_ms for a connection (see `Settings::worker_database`).
        let database = settings.worker_database()?;
        tracing::info!(
            max_connections = database.max_connections,
            "database pool sized for the worker"
        );
        let pool = shared::store::pool(&database).context("database.url")?;
        let stripe = StripeClient::new(&settings.stripe).context("building the Stripe client")?;
        let topology = Topology::from_settings(&settings.broker);
        metrics::register_retry_tiers(
            (0..topology.retry_tiers().len()).filter_map(|tier| topology.retry_queue(tier)),
        );
        let broker = &settings.broker;
        let confirm_timeout = broker.confirm_timeout();
        let publisher = Broker::start(BrokerOptions::from_settings(
            broker,
            "worker-publisher",
            PUBLISH_CHANNELS,
        ));
        let processor = Processor::new(
            Fulfiller::from_settings(pool.clone(), stripe, &settings),
            topology.retry_tiers().len(),
        );
        let worker = &settings.worker;
        let consumer = Consumer::new(
            processor.clone(),
            publisher.clone(),
            ConsumerOptions {
                subscription: Subscription {
                    endpoint: BrokerEndpoint::from_settings(broker),
                    prefetch: worker.prefetch.max(1),
                    reconnect_min: broker.reconnect_min(),
                    reconnect_max: broker.reconnect_max(),
                },
                topology: topology.clone(),
                confirm_timeout,
                hand_back_max: worker.hand_back_max(),
            },
        );
        let relay = OutboxRelay::new(
            pool.clone(),
            publisher.clone(),
            RelayOptions {
                exchange: topology.orders_exchange(),
                batch: worker.outbox_batch,
                interval: worker.outbox_interval(),
                confirm_timeout,
            },
            processor.outbox_written(),
        );
        let reconciler = if worker.reconcile_interval_secs == 0 {
            tracing::info!("reconciler disabled (worker.reconcile_interval_secs = 0)");
            None
        } else {
            Some(Reconciler::new(
                processor.clone(),
                ReconcilerOptions::from_settings(&settings).context("database.url")?,
            ))
        };
        let leader = reconciler
            .as_ref()
            .map_or_else(|| Arc::new(AtomicBool::new(false)), Reconciler::leader_flag);

        let listener =
            TcpListener::bind((worker.host.as_str(), worker.port)).with_context(|| {
                format!(
                    "binding worker.host:worker.port {}:{}",
                    worker.host, worker.port
                )
            })?;
        let port = listener.local_addr()?.port();
        let readiness = Readiness {
            pool: pool.clone(),
            publisher: publisher.clone(),
            consuming: consumer.consuming(),
            unfulfilled_threshold: worker.unfulfilled_threshold(),
        };
        let server = ops_server(listener, readiness)?;
        Ok(Self {
            port,
            server,
            pool,
            publisher,
            consumer,
            relay,
            reconciler,
            processor,
            leader,
            stop: StopHandle::new(),
        })
    }

    /// The ops port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops this worker the way SIGTERM does (see [`Self::run_until_stopped`]).
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// True while this process is the reconciler leader.
    pub fn leader_flag(&self) -> Arc<AtomicBool> {
        self.leader.clone()
    }

    /// The processing step this worker uses (for operator commands and tests).
    pub fn processor(&self) -> &Processor {
        &self.processor
    }

    /// Runs until its [`StopHandle`] is stopped (or the ops server fails), then drains (see the
    /// module docs). Installs no signal handler.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let server_handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        // The relay and the reconciler stop after the consumer has drained.
        let after_consumer = CancellationToken::new();
        let shutdown = self.stop.token();
        let consumer = tokio::spawn(self.consumer.run(shutdown.clone()));
        let relay = tokio::spawn(self.relay.run(after_consumer.clone()));
        let reconciler = self
            .reconciler
            .map(|r| tokio::spawn(r.run(after_consumer.clone())));

        let mut server_result = None;
        tokio::select! {
            () = self.stop.stopped() => tracing::info!("stop requested; draining"),
            result = &mut server => server_result = Some(result),
        }
        shutdown.cancel();
        if consumer.await.is_err() {
            tracing::error!("the consumer task panicked");
        }
        after_consumer.cancel();
        if let Some(reconciler) = reconciler {
            let _ = reconciler.await;
        }
        let _ = relay.await;
        server_handle.stop(true).await;
        self.publisher.close().await;
        self.pool.close().await;
        tracing::info!("worker stopped");
        match server_result {
            Some(Ok(Err(e))) => Err(anyhow::Error::new(e).context("the ops server failed")),
            Some(Err(e)) => Err(anyhow::Error::new(e).context("the ops server panicked")),
            _ => Ok(()),
        }
    }

    /// What `main` runs: runs until SIGTERM or SIGINT, then drains as
    /// [`Self::run_until_stopped`] does.
    pub async fn run_until_terminated(self) -> anyhow::Result<()> {
        let stop = self.stop_handle();
        shared::shutdown::run_until_terminated(stop, self.run_until_stopped()).await
    }
}

impl Dependencies for Readiness {
    async fn check(&self) -> Vec<(&'static str, bool)> {
        vec![
            ("database", shared::store::ping(&self.pool).await),
            ("broker", self.publisher.is_connected()),
            ("consumer", self.consuming.load(Ordering::Acquire)),
        ]
    }

    async fn refresh(&self) {
        metrics::refresh_database_gauges(
            &self.pool,
            self.unfulfilled_threshold,
            GAUGE_REFRESH_BUDGET,
        )
        .await;
    }
}
