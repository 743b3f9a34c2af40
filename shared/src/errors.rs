//! Error helpers: the whole cause chain in one line, and telling a database error that may pass
//! from one that never will.

/// `error: cause: cause…`, so one log line or header carries the whole chain (an error's
/// `Display` stops at the outermost layer, e.g. reqwest's "error sending request").
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether trying the same work again later may succeed after this database error.
///
/// The rule: an error about the data of this one event (a value Postgres refuses, a constraint
/// it breaks, a row that does not decode) is permanent, since the same event brings the same
/// data every time; anything about the database's state (unreachable, pool exhausted, a
/// serialization conflict or deadlock, a lock or statement timeout, shutting down, out of
/// resources, even a missing column during a botched deploy) is transient, because it fails
/// every event alike and passes for all of them at once. Giving up on every event over the
/// latter would be the worse mistake.
pub fn database_error_may_pass(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => !e.code().is_some_and(|code| is_data_error(&code)),
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::Encode(_)
        | sqlx::Error::TypeNotFound { .. }
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
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn sqlstates_of_the_data_are_permanent_and_of_the_moment_transient() {
        for permanent in ["22021", "22001", "22003", "23505", "23514"] {
            assert!(super::is_data_error(permanent), "{permanent}");
        }
        // Serialization failure, deadlock, lock timeout, statement timeout, shutdown, too many
        // connections, undefined column, insufficient privilege.
        for transient in [
            "40001", "40P01", "55P03", "57014", "57P01", "53300", "42703", "42501",
        ] {
            assert!(!super::is_data_error(transient), "{transient}");
        }
        assert!(super::database_error_may_pass(&sqlx::Error::PoolTimedOut));
        assert!(!super::database_error_may_pass(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn the_whole_chain_is_reported() {
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(super::error_chain(&error), "outer: inner");
    }
}
