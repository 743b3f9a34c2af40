//! Request counters, so tests can assert what reached "Stripe" (or that nothing did), and how
//! many of those requests "Stripe" turned away with a 429.

use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct RequestStats {
    pub total: u64,
    /// Per path, so `requests_to(prefix)` can add up any family of endpoints.
    pub by_path: BTreeMap<String, u64>,
    /// 429s served, by path: the account's rate limit and injected 429 faults alike.
    pub rate_limited_by_path: BTreeMap<String, u64>,
}

impl RequestStats {
    pub(crate) fn record(&mut self, path: &str) {
        self.total += 1;
        *self.by_path.entry(path.to_string()).or_default() += 1;
    }

    pub(crate) fn record_rate_limited(&mut self, path: &str) {
        *self
            .rate_limited_by_path
            .entry(path.to_string())
            .or_default() += 1;
    }

    pub(crate) fn to_prefix(&self, prefix: &str) -> u64 {
        sum_prefix(&self.by_path, prefix)
    }

    pub(crate) fn rate_limited_to_prefix(&self, prefix: &str) -> u64 {
        sum_prefix(&self.rate_limited_by_path, prefix)
    }
}

fn sum_prefix(counts: &BTreeMap<String, u64>, prefix: &str) -> u64 {
    counts
        .iter()
        .filter(|(path, _)| path.starts_with(prefix))
        .map(|(_, n)| n)
        .sum()
}
