//! How every service stops: one contract for the ingress, the worker, landing, the notifier and
//! the console.
//!
//! - `Application::run_until_stopped` installs no signal handler: it serves until its
//!   [`StopHandle`] is stopped (or its server fails), then drains, and its result says whether
//!   the drain went well. Tests embed services this way, so a test process still dies of SIGTERM
//!   like any other.
//! - `Application::run_until_terminated` is what `main` runs: [`run_until_terminated`] stops the
//!   service on the first [`terminate_signal`] and waits for the drain.
//! - [`StopHandle::stop`] only asks for the graceful stop, like SIGTERM; whoever awaits the run
//!   learns when the drain is over, and how it went.

use std::future::Future;

use tokio_util::sync::CancellationToken;

/// Asks a running service to stop the way SIGTERM does: stop taking new work, finish what is in
/// flight, close its connections. Cheap to clone; every clone stops the same service.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(CancellationToken);

impl StopHandle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests the graceful stop; resolves as soon as it is requested (at once). The drain's
    /// outcome is the result of the service's `run_until_stopped`. Stopping twice is harmless.
    pub async fn stop(&self) {
        self.0.cancel();
    }

    /// True once [`Self::stop`] has been called.
    pub fn is_stopped(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Resolves once [`Self::stop`] has been called: what a service's run loop waits on.
    pub async fn stopped(&self) {
        self.0.cancelled().await;
    }

    /// The token behind the handle, for loops that take a [`CancellationToken`].
    pub fn token(&self) -> CancellationToken {
        self.0.clone()
    }
}

/// What the actix-web services' `run_until_stopped` do: serve until `server` fails or `stop` is
/// stopped, then stop accepting and let the requests in flight finish (within the server's own
/// shutdown timeout), resolving once it has drained.
pub async fn serve_until_stopped(
    server: actix_web::dev::Server,
    stop: &StopHandle,
) -> std::io::Result<()> {
    let handle = server.handle();
    let mut server = server;
    tokio::select! {
        served = &mut server => served,
        () = stop.stopped() => {
            tracing::info!("stop requested; finishing the requests in flight");
            // The command is sent now; the server future resolves once it has drained.
            drop(handle.stop(true));
            server.await
        }
    }
}

/// Runs `service` (an `Application::run_until_stopped`) until it ends by itself, or until
/// SIGTERM or SIGINT: then stops it through `stop` and waits for its drain, returning its result.
pub async fn run_until_terminated<R>(stop: StopHandle, service: impl Future<Output = R>) -> R {
    let mut service = std::pin::pin!(service);
    tokio::select! {
        result = &mut service => return result,
        signal = terminate_signal() => tracing::info!(signal, "stopping: draining in-flight work"),
    }
    stop.stop().await;
    service.await
}

/// Resolves on SIGTERM or SIGINT, naming it.
pub async fn terminate_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!(error = %crate::errors::error_chain(&e), "cannot listen for SIGTERM; only Ctrl-C stops the service");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::StopHandle;

    #[tokio::test]
    async fn a_stop_reaches_every_clone_and_resolves_at_once() {
        let stop = StopHandle::new();
        let waiting = {
            let stop = stop.clone();
            tokio::spawn(async move { stop.stopped().await })
        };
        assert!(!stop.is_stopped());
        tokio::time::timeout(Duration::from_secs(1), stop.clone().stop())
            .await
            .expect("stop resolves once requested");
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the service sees the stop")
            .unwrap();
        assert!(stop.is_stopped());
        stop.stop().await;
    }
}
