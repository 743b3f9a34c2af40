//! The headers that carry a delivery's story from one attempt to the next, read and written
//! here only: `x-attempts` (how many attempts it has had), `x-attempt-history` (one line per
//! failed attempt) and, on a dead letter, `x-dead-reason`. Where the next attempt goes is
//! [`crate::disposition`]'s.

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use shared::queue::topology::headers;

/// Headers a republished copy must not carry over: the quorum queue's own redelivery counter
/// describes the original delivery, not the copy.
const DROPPED_HEADERS: &[&str] = &[headers::DELIVERY_COUNT];

/// The attempts a message has had before this one, from its `x-attempts` header (0 when
/// absent or unreadable: a fresh message).
pub fn previous_attempts(headers: Option<&FieldTable>) -> u32 {
    count_header(headers, headers::ATTEMPTS)
}

/// A count carried in header `name`, whatever integer type (or decimal text) the publisher
/// chose; 0 when absent, negative or unreadable.
pub fn count_header(headers: Option<&FieldTable>, name: &str) -> u32 {
    let Some(value) = headers.and_then(|h| h.inner().get(name)) else {
        return 0;
    };
    let n: i64 = match value {
        AMQPValue::ShortShortInt(n) => (*n).into(),
        AMQPValue::ShortShortUInt(n) => (*n).into(),
        AMQPValue::ShortInt(n) => (*n).into(),
        AMQPValue::ShortUInt(n) => (*n).into(),
        AMQPValue::LongInt(n) => (*n).into(),
        AMQPValue::LongUInt(n) => (*n).into(),
        AMQPValue::LongLongInt(n) => *n,
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0),
        _ => 0,
    };
    u32::try_from(n).unwrap_or(0)
}

/// The headers of a copy sent to a retry tier after failed attempt `attempt` (1-based).
pub fn retry_headers(original: Option<&FieldTable>, attempt: u32, error: &str) -> FieldTable {
    carried_headers(original, attempt, error)
}

/// The headers of a copy dead-lettered after attempt `attempt` (1-based): its history and why.
pub fn dead_letter_headers(
    original: Option<&FieldTable>,
    attempt: u32,
    reason: &str,
) -> FieldTable {
    let mut headers = carried_headers(original, attempt, reason);
    headers.insert(
        ShortString::from(headers::DEAD_REASON),
        AMQPValue::LongString(LongString::from(reason)),
    );
    headers
}

/// The original headers, minus the broker's own counters, with failed attempt `attempt` (1-based)
/// counted and appended to the history (`attempt=N error=…`, one line per failed attempt).
fn carried_headers(original: Option<&FieldTable>, attempt: u32, error: &str) -> FieldTable {
    let mut headers = FieldTable::default();
    let mut history = String::new();
    if let Some(original) = original {
        for (key, value) in original.inner() {
            if DROPPED_HEADERS.contains(&key.as_str()) {
                continue;
            }
            if key.as_str() == headers::ATTEMPT_HISTORY {
                if let AMQPValue::LongString(s) = value {
                    history = String::from_utf8_lossy(s.as_bytes()).into_owned();
                }
                continue;
            }
            headers.insert(key.clone(), value.clone());
        }
    }
    if !history.is_empty() {
        history.push('\n');
    }
    // One line per attempt; a newline inside an error would break that.
    history.push_str(&format!(
        "attempt={attempt} error={}",
        error.replace('\n', " ")
    ));
    headers.insert(
        ShortString::from(headers::ATTEMPT_HISTORY),
        AMQPValue::LongString(LongString::from(history)),
    );
    headers.insert(
        ShortString::from(headers::ATTEMPTS),
        AMQPValue::LongUInt(attempt),
    );
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::{LongString, ShortString};

    #[test]
    fn attempts_are_read_from_any_integer_header_type() {
        assert_eq!(previous_attempts(None), 0);
        let mut h = FieldTable::default();
        h.insert(ShortString::from(headers::ATTEMPTS), AMQPValue::LongUInt(3));
        assert_eq!(previous_attempts(Some(&h)), 3);
        h.insert(
            ShortString::from(headers::ATTEMPTS),
            AMQPValue::LongLongInt(7),
        );
        assert_eq!(previous_attempts(Some(&h)), 7);
        h.insert(
            ShortString::from(headers::ATTEMPTS),
            AMQPValue::LongString(LongString::from("2")),
        );
        assert_eq!(previous_attempts(Some(&h)), 2);
        h.insert(
            ShortString::from(headers::ATTEMPTS),
            AMQPValue::LongLongInt(-1),
        );
        assert_eq!(previous_attempts(Some(&h)), 0);
    }
}
