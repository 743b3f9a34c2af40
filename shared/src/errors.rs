//! Error helpers: the whole cause chain in one line.

/// `error: cause: cause…`, so one log line or header carries the whole chain (an error's
/// `Display` stops at the outermost layer, e.g. reqwest's "error sending request", which hides
/// the refused connection underneath). A cause that an error's `Display` already ends with
/// (`#[error("…: {0}")]` on a `#[from]` field, lettre's SMTP errors) is not repeated.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Middle(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("top")]
    struct Top(#[source] Middle);

    /// Says what its cause says, as `#[error("…: {0}")]` with `#[from]` does.
    #[derive(Debug, thiserror::Error)]
    #[error("sending: {0}")]
    struct Repeats(#[from] Middle);

    #[test]
    fn the_whole_chain_is_reported() {
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(super::error_chain(&error), "outer: inner");
    }

    #[test]
    fn a_nested_cause_two_levels_down_appears() {
        let error = Top(Middle(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        )));
        assert_eq!(error.to_string(), "top", "Display alone loses the causes");
        assert_eq!(
            super::error_chain(&error),
            "top: middle: connection refused"
        );
    }

    #[test]
    fn a_cause_the_message_already_ends_with_is_not_repeated() {
        let error = Repeats(Middle(std::io::Error::other("refused")));
        assert_eq!(super::error_chain(&error), "sending: middle: refused");
    }
}
