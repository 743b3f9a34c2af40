//! The real `landing` binary at start-up: no Stripe settings, or a live key sent anywhere but
//! https, and it refuses to start, naming the keys (never the key itself).

use std::process::{Command, Output};

/// `landing` with exactly `env` (plus PATH) as its environment, run to its end (a refusal).
fn landing(env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_landing"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("the landing binary runs")
}

#[test]
fn landing_refuses_to_start_without_a_stripe_key_naming_it() {
    let output = landing(&[("APP_STRIPE__API_BASE", "https://api.stripe.com")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused");
    assert!(
        stderr.contains("configuration key `stripe.secret_key`: must be set"),
        "{stderr}"
    );
}

#[test]
fn landing_refuses_a_live_key_over_http_naming_both_keys() {
    let output = landing(&[
        ("APP_STRIPE__API_BASE", "http://stripe-sim:12111"),
        ("APP_STRIPE__SECRET_KEY", "sk_live_not_a_real_key"),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused");
    assert!(stderr.contains("`stripe.api_base`"), "{stderr}");
    assert!(
        stderr.contains("stripe.secret_key is a live key"),
        "{stderr}"
    );
    assert!(!stderr.contains("sk_live_not_a_real_key"), "{stderr}");
}
