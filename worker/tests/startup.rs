//! The real `worker` binary at start-up: `worker run` refuses to start without explicit Stripe
//! settings, naming the key; commands that never call Stripe (`migrate`) do not ask for them.

mod support;

use support::worker;

#[test]
fn worker_run_refuses_to_start_without_explicit_stripe_settings_naming_the_key() {
    let output = worker(&["run"], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused");
    assert!(
        stderr.contains("configuration key `stripe.secret_key`: must be set"),
        "{stderr}"
    );
    let output = worker(&["run"], &[("APP_STRIPE__SECRET_KEY", "sk_test_abc")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused");
    assert!(
        stderr.contains("configuration key `stripe.api_base`: must be set"),
        "{stderr}"
    );
}

#[test]
fn worker_migrate_needs_no_stripe_settings() {
    // Stopped by the database (nothing listens on port 1), not by the missing Stripe key.
    let output = worker(
        &["migrate"],
        &[
            ("APP_DATABASE__URL", "postgres://nobody@127.0.0.1:1/none"),
            ("APP_DATABASE__ACQUIRE_TIMEOUT_MS", "500"),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("applying migrations"), "{stderr}");
    assert!(!stderr.contains("stripe"), "{stderr}");
}
