//! What the worker's binary tests share: running the real binary.

use std::process::{Command, Output};

/// `worker ARGS` with exactly `env` (plus PATH) as its environment, whatever the developer's
/// shell exports, run to its end (each case stops by itself within seconds: a refusal, a
/// printed document, or a database that does not answer).
pub fn worker(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_worker"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("the worker binary runs")
}
