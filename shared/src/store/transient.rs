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

/// Whether trying the same work again later may succeed after this database error.
///
/// Transient: an expired bound (above), and anything about the database's state (unreachable,
/// the pool's wait, a serialization conflict or deadlock, shutting down, too many connections,
/// even a missing column during a botched deploy): it fails every event alike and passes for
/// all of them at once, and giving up on every event over it would be the worse mistake.
/// Permanent: an error about the data of this one event (a value Postgres refuses, a constraint
/// it breaks: SQLSTATE classes 22 and 23), or a row our own code cannot read, which the same
/// event brings again every time.
pub fn is_transient(error: &sqlx::Error) -> bool {
    if expired_bound(error).is_some() {
        return true;
    }
    match error {
        sqlx::Error::Database(db) => !db.code().is_some_and(|code| is_data_error(&code)),
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::Encode(_)
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::RowNotFound => false,
        _ => true,
    }
}

/// SQLSTATE classes 22 (data exception: a value too long, out of range, a NUL in text, …) and
/// 23 (integrity constraint violation).
fn is_data_error(sqlstate: &str) -> bool {
    sqlstate.starts_with("22") || sqlstate.starts_with("23")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_of_the_data_are_permanent_and_of_the_moment_transient() {
        for permanent in ["22021", "22001", "22003", "23505", "23514"] {
            assert!(is_data_error(permanent), "{permanent}");
        }
        // Serialization failure, deadlock, lock timeout, statement timeout, shutdown, too many
        // connections, undefined column, insufficient privilege.
        for transient in [
            "40001", "40P01", "55P03", "57014", "57P01", "53300", "42703", "42501",
        ] {
            assert!(!is_data_error(transient), "{transient}");
        }
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
    }

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
