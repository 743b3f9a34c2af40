//! Every `…_ms` and `…_secs` setting as a [`Duration`], so that callers never convert units by
//! hand (the raw fields stay public for the checks and the tests that set them).

use std::time::Duration;

use super::{
    BrokerSettings, ConsoleSettings, DatabaseSettings, IngressSettings, LandingSettings,
    NotifierSettings, StripeSettings, WorkerSettings,
};

impl DatabaseSettings {
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }
}

impl BrokerSettings {
    pub fn confirm_timeout(&self) -> Duration {
        Duration::from_millis(self.confirm_timeout_ms)
    }

    pub fn reconnect_min(&self) -> Duration {
        Duration::from_millis(self.reconnect_min_ms)
    }

    pub fn reconnect_max(&self) -> Duration {
        Duration::from_millis(self.reconnect_max_ms)
    }

    /// The retry tiers' delays, shortest first.
    pub fn retry_tiers(&self) -> Vec<Duration> {
        self.retry_tiers_ms
            .iter()
            .map(|&ms| Duration::from_millis(ms))
            .collect()
    }
}

impl StripeSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn retry_base(&self) -> Duration {
        Duration::from_millis(self.retry_base_ms)
    }

    pub fn retry_max(&self) -> Duration {
        Duration::from_millis(self.retry_max_ms)
    }

    pub fn claim_wait(&self) -> Duration {
        Duration::from_millis(self.claim_wait_ms)
    }
}

impl IngressSettings {
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }

    pub fn keep_alive(&self) -> Duration {
        Duration::from_secs(self.keep_alive_secs)
    }

    pub fn ack_budget(&self) -> Duration {
        Duration::from_millis(self.ack_budget_ms)
    }
}

impl WorkerSettings {
    pub fn hand_back_max(&self) -> Duration {
        Duration::from_millis(self.hand_back_max_ms)
    }

    pub fn outbox_interval(&self) -> Duration {
        Duration::from_millis(self.outbox_interval_ms)
    }

    /// Zero turns the reconciler off (see `worker.reconcile_interval_secs`).
    pub fn reconcile_interval(&self) -> Duration {
        Duration::from_secs(self.reconcile_interval_secs)
    }

    pub fn reconcile_overlap(&self) -> Duration {
        Duration::from_secs(self.reconcile_overlap_secs)
    }

    pub fn unfulfilled_threshold(&self) -> Duration {
        Duration::from_secs(self.unfulfilled_threshold_secs)
    }
}

impl LandingSettings {
    pub fn fulfill_deadline(&self) -> Duration {
        Duration::from_millis(self.fulfill_deadline_ms)
    }

    pub fn catalog_ttl(&self) -> Duration {
        Duration::from_secs(self.catalog_ttl_secs)
    }

    pub fn stripe_check(&self) -> Duration {
        Duration::from_secs(self.stripe_check_secs)
    }

    pub fn keep_alive(&self) -> Duration {
        Duration::from_secs(self.keep_alive_secs)
    }
}

impl NotifierSettings {
    pub fn send_timeout(&self) -> Duration {
        Duration::from_millis(self.send_timeout_ms)
    }

    pub fn retry_max(&self) -> Duration {
        Duration::from_millis(self.retry_max_ms)
    }
}

impl ConsoleSettings {
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_secs)
    }

    pub fn action_timeout(&self) -> Duration {
        Duration::from_millis(self.action_timeout_ms)
    }

    pub fn refresh(&self) -> Duration {
        Duration::from_secs(self.refresh_secs)
    }
}
