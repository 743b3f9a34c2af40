//! Request counters, so tests can assert what reached "Stripe" (or that nothing did).

use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct RequestStats {
    pub total: u64,
    /// Per path, so `requests_to(prefix)` can add up any family of endpoints.
    pub by_path: BTreeMap<String, u64>,
}

impl RequestStats {
    pub(crate) fn record(&mut self, path: &str) {
        self.total += 1;
        *self.by_path.entry(path.to_string()).or_default() += 1;
    }

    pub(crate) fn to_prefix(&self, prefix: &str) -> u64 {
        self.by_path
            .iter()
            .filter(|(path, _)| path.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }
}
