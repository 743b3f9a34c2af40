//! Building the notifier from settings, and running it until its [`StopHandle`] is stopped
//! (`main`: until SIGTERM, see [`Application::run_until_terminated`]).
//!
//! [`Application::build`] checks the settings, parses the templates (a broken one stops it
//! here), connects lazily (a small Postgres pool) and binds the ops port (`/healthz`,
//! `/readyz`, `/metrics`; port 0 picks a free one, reported by [`Application::port`]).
//! [`Application::run_until_stopped`] consumes, then drains on stop like the worker: the
//! consumer cancels its subscription and finishes, records and acks the sends in flight
//! (deliveries waiting out a retry pause are requeued at once); then the ops server and the
//! pool close.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::dev::Server;
use anyhow::Context;
use shared::http::{ops_server, Dependencies};
use shared::queue::{BrokerEndpoint, Subscription, Topology};
use shared::settings::Uses;
use shared::shutdown::StopHandle;
use shared::Settings;
use sqlx::PgPool;

use crate::callback::{Callback, Caller};
use crate::consumer::{Consumer, ConsumerOptions};
use crate::dispatch::Dispatcher;
use crate::mail::Mailer;
use crate::metrics;

/// A running notifier's parts, built but not started.
pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
    consumer: Consumer,
    stop: StopHandle,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// What `/readyz` checks.
struct Readiness {
    pool: PgPool,
    consuming: Arc<AtomicBool>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.check(Uses::NOTIFIER)?;
        metrics::register();
        let notifier = &settings.notifier;
        let pool = shared::store::pool(&settings.database).context("database.url")?;
        let mailer = notifier
            .customer_mail
            .then(|| Mailer::new(notifier, &settings.landing.shop_name))
            .transpose()?;
        let caller = Caller::new(notifier.callback_secret.clone(), notifier.send_timeout())
            .context("building the callback client")?;
        let callbacks: Vec<Callback> = notifier
            .callbacks()
            .into_iter()
            .map(Callback::new)
            .collect();
        tracing::info!(
            smtp = %mailer.as_ref().map_or("off".to_owned(), |_| format!("{}:{}", notifier.smtp_host, notifier.smtp_port)),
            callbacks = callbacks.len(),
            "notifier channels"
        );
        let dispatcher = Dispatcher::new(
            pool.clone(),
            mailer,
            caller,
            callbacks,
            notifier.send_timeout(),
        );
        let broker = &settings.broker;
        let consumer = Consumer::new(
            dispatcher,
            ConsumerOptions {
                subscription: Subscription {
                    endpoint: BrokerEndpoint::from_settings(broker),
                    prefetch: notifier.prefetch,
                    reconnect_min: broker.reconnect_min(),
                    reconnect_max: broker.reconnect_max(),
                },
                topology: Topology::from_settings(broker),
                retry_max: notifier.retry_max(),
            },
        );
        let listener =
            TcpListener::bind((notifier.host.as_str(), notifier.port)).with_context(|| {
                format!(
                    "binding notifier.host:notifier.port {}:{}",
                    notifier.host, notifier.port
                )
            })?;
        let port = listener.local_addr()?.port();
        let server = ops_server(
            listener,
            Readiness {
                pool: pool.clone(),
                consuming: consumer.consuming(),
            },
        )?;
        Ok(Self {
            port,
            server,
            pool,
            consumer,
            stop: StopHandle::new(),
        })
    }

    /// The ops port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops this notifier the way SIGTERM does (see [`Self::run_until_stopped`]).
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Runs until its [`StopHandle`] is stopped (or the ops server fails), then drains (see the
    /// module docs). Installs no signal handler.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let server_handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        let shutdown = self.stop.token();
        let consumer = tokio::spawn(self.consumer.run(shutdown.clone()));
        let mut server_result = None;
        tokio::select! {
            () = self.stop.stopped() => tracing::info!("stop requested; draining"),
            result = &mut server => server_result = Some(result),
        }
        shutdown.cancel();
        if consumer.await.is_err() {
            tracing::error!("the consumer task panicked");
        }
        server_handle.stop(true).await;
        self.pool.close().await;
        tracing::info!("notifier stopped");
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
            ("consumer", self.consuming.load(Ordering::Acquire)),
        ]
    }
}
