//! Which database errors may pass by themselves (the caller retries later) and which will not.
//!
//! The bounds every session runs under (`database.lock_timeout_ms`, `statement_timeout_ms`,
//! `idle_in_transaction_timeout_ms`, see [`super::connect_options`]) end a statement with an
//! error on purpose: someone else held a lock too long, or the server was too slow. That is a
//! retry by design, never a reason to dead-letter an event, so those errors are recognised by
//! name here rather than left to a catch-all that a later change could narrow.

/// The setting whose bound ended the statement, when one did: a lock held elsewhere for longer
/// than `database.lock_timeout_ms`, a statement longer than `database.statement_timeout_ms`, or
/// our own session ended after idling in a transaction.
pub fn expired_bound(error: &sqlx::Error) -> Option<&'static str> {
    let sqlx::Error::Database(db) = error else {
        return None;
    };
    bound_of_sqlstate(db.code()?.as_ref())
}

fn bound_of_sqlstate(code: &str) -> Option<&'static str> {
    match code {
        // lock_not_available: "canceling statement due to lock timeout".
        "55P03" => Some("database.lock_timeout_ms"),
        // query_canceled: "canceling statement due to statement timeout" (or a cancel request).
        "57014" => Some("database.statement_timeout_ms"),
        // idle_in_transaction_session_timeout: Postgres ended our session.
        "25P03" => Some("database.idle_in_transaction_timeout_ms"),
        _ => None,
    }
}

/// Whether trying again later may succeed.
///
/// Transient: an expired bound (above); anything about reaching the server (I/O, TLS, the
/// pool's wait, a closed pool); and, until shown otherwise, any other error the server reports
/// (a conflict, a restart, too many connections, …): a retry only costs time, a dead letter
/// needs an operator. Permanent: our own code cannot read what came back (a decode error, a
/// missing column or type), which every later attempt would meet again.
pub fn is_transient(error: &sqlx::Error) -> bool {
    if expired_bound(error).is_some() {
        return true;
    }
    !matches!(
        error,
        sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bound_we_set_is_named_by_its_setting() {
        assert_eq!(bound_of_sqlstate("55P03"), Some("database.lock_timeout_ms"));
        assert_eq!(
            bound_of_sqlstate("57014"),
            Some("database.statement_timeout_ms")
        );
        assert_eq!(
            bound_of_sqlstate("25P03"),
            Some("database.idle_in_transaction_timeout_ms")
        );
        assert_eq!(bound_of_sqlstate("23505"), None);
    }

    #[test]
    fn an_unreachable_server_is_transient_and_an_unreadable_row_is_not() {
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(is_transient(&sqlx::Error::Io(std::io::Error::other(
            "connection reset"
        ))));
        assert!(!is_transient(&sqlx::Error::ColumnNotFound("state".into())));
    }
}
