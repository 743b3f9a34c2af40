//! Injected failures: the way tests make "Stripe" slow, rate-limited or broken on purpose.

use std::time::Duration;

/// Which requests a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// `GET`, `POST`…; `None`: any method.
    pub method: Option<String>,
    /// Matched against the request path, e.g. `/v1/checkout/sessions/`.
    pub path_prefix: String,
}

impl RouteMatch {
    /// Every `/v1/` request.
    pub fn any() -> Self {
        RouteMatch {
            method: None,
            path_prefix: "/v1/".into(),
        }
    }

    /// Requests with this method whose path starts with `path_prefix`.
    pub fn new(method: &str, path_prefix: &str) -> Self {
        RouteMatch {
            method: Some(method.to_ascii_uppercase()),
            path_prefix: path_prefix.into(),
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.starts_with(&self.path_prefix)
    }
}

/// What a faulted request gets instead of (or before) its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// 500 with an `api_error`.
    Status500,
    /// 429 `rate_limit` with `Stripe-Should-Retry: true`.
    RateLimited,
    /// Any status with a matching Stripe error body.
    Status(u16),
    /// 401 worded as for a key Stripe no longer accepts (rolled or expired): `Invalid API Key
    /// provided: sk_test_****abcd`, naming the request's own key.
    Unauthorized,
    /// This status with `Stripe-Should-Retry: true`, Stripe's word that the same request may
    /// succeed later whatever the status says (e.g. a 400 while the object is locked).
    ShouldRetry(u16),
    /// The normal answer, this much later.
    Delay(Duration),
}

/// A fault and how many matching requests it hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub route: RouteMatch,
    pub kind: FaultKind,
    /// Matching requests affected before the fault disarms itself; 0: every matching request
    /// until the faults are cleared.
    pub count: u32,
}

/// The armed faults, first armed first matched.
#[derive(Debug, Default)]
pub(crate) struct FaultTable {
    armed: Vec<Armed>,
}

#[derive(Debug)]
struct Armed {
    route: RouteMatch,
    kind: FaultKind,
    /// `None`: unlimited.
    remaining: Option<u32>,
}

impl FaultTable {
    pub(crate) fn arm(&mut self, fault: Fault) {
        self.armed.push(Armed {
            route: fault.route,
            kind: fault.kind,
            remaining: (fault.count > 0).then_some(fault.count),
        });
    }

    pub(crate) fn clear(&mut self) {
        self.armed.clear();
    }

    /// The fault this request hits, if any; spends one of its uses.
    pub(crate) fn take(&mut self, method: &str, path: &str) -> Option<FaultKind> {
        let i = self
            .armed
            .iter()
            .position(|a| a.route.matches(method, path))?;
        let kind = self.armed[i].kind;
        if let Some(remaining) = &mut self.armed[i].remaining {
            *remaining -= 1;
            if *remaining == 0 {
                self.armed.remove(i);
            }
        }
        Some(kind)
    }

    pub(crate) fn len(&self) -> usize {
        self.armed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_fault_disarms_after_its_count() {
        let mut table = FaultTable::default();
        table.arm(Fault {
            route: RouteMatch::new("get", "/v1/events"),
            kind: FaultKind::Status500,
            count: 2,
        });
        assert_eq!(table.take("POST", "/v1/events"), None);
        assert_eq!(table.take("GET", "/v1/checkout/sessions"), None);
        assert_eq!(table.take("GET", "/v1/events"), Some(FaultKind::Status500));
        assert_eq!(
            table.take("GET", "/v1/events/evt_1"),
            Some(FaultKind::Status500)
        );
        assert_eq!(table.take("GET", "/v1/events"), None);
    }

    #[test]
    fn a_zero_count_fault_stays_until_cleared() {
        let mut table = FaultTable::default();
        table.arm(Fault {
            route: RouteMatch::any(),
            kind: FaultKind::RateLimited,
            count: 0,
        });
        for _ in 0..5 {
            assert_eq!(
                table.take("GET", "/v1/prices"),
                Some(FaultKind::RateLimited)
            );
        }
        table.clear();
        assert_eq!(table.take("GET", "/v1/prices"), None);
    }
}
