//! A service running inside the test process, and the one way tests stop it: ask it to stop
//! (what SIGTERM does in production) and wait, bounded, for its `run_until_stopped` to report a
//! clean drain.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use shared::shutdown::StopHandle;
use tokio::task::JoinHandle;

/// The longest a stopping service may take to drain. Longer than every service's own shutdown
/// timeout for connections still open (the console's 25 s, landing's 10 s, the ingress's ack
/// budget plus 1 s, the worker's and the notifier's ops servers' 5 s after their in-flight
/// deliveries), so running out of it means the service does not drain.
pub const DRAIN_BOUND: Duration = Duration::from_secs(30);

/// A spawned `Application::run_until_stopped`, with the handle that stops it.
#[derive(Debug)]
pub struct RunningService {
    name: &'static str,
    stop: StopHandle,
    run: JoinHandle<anyhow::Result<()>>,
}

impl RunningService {
    /// Spawns `run` (the application's `run_until_stopped`); `stop` is its `stop_handle()`.
    pub fn spawn(
        name: &'static str,
        stop: StopHandle,
        run: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) -> Self {
        Self {
            name,
            stop,
            run: tokio::spawn(run),
        }
    }

    /// A handle on the service's stop, for tests that stop it from elsewhere.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// True once the service's run has returned (by itself, or after a stop).
    pub fn is_finished(&self) -> bool {
        self.run.is_finished()
    }

    /// Stops the service gracefully and waits at most [`DRAIN_BOUND`] for it to drain. An error
    /// names the service and says what went wrong: it did not drain in time, its run panicked,
    /// or its run failed (with the cause).
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.stop().await;
        self.finished().await
    }

    /// Waits at most [`DRAIN_BOUND`] for the service's run to return (after a stop requested
    /// elsewhere), with the same errors as [`Self::stop`].
    pub async fn finished(self) -> anyhow::Result<()> {
        let name = self.name;
        match tokio::time::timeout(DRAIN_BOUND, self.run).await {
            Err(_) => anyhow::bail!("{name} did not drain within {DRAIN_BOUND:?} of its stop"),
            Ok(Err(e)) => Err(e).with_context(|| format!("{name}'s run panicked")),
            Ok(Ok(run)) => run.with_context(|| format!("{name} did not stop cleanly")),
        }
    }
}
