//! The benchmark tools, kept out of the services they measure: no service's manifest carries a
//! load generator, a histogram or the simulator for them. Each tool is a binary of this crate,
//! built on the test harness ([`tests`]: a fresh database per run, a broker topology under its own
//! prefix, stripe-sim in-process, the whole stack in one process) and on the services' own
//! libraries, so a benchmark runs the code that ships.
//!
//! Layout, by what each binary measures:
//! - `ingress-bench` (`src/bin/ingress-bench/`): the two ceilings the ingress is compared with,
//!   an actix endpoint that does no broker work (`http-ceiling`) and confirmed publishing with no
//!   HTTP (`broker-ceiling`), and `cleanup` of a run's topology. The ingress itself is loaded by
//!   `stripe-sim load`. `bench/ingress.sh` runs them all; `bench/ingress-ab.sh` sets two
//!   ingress binaries against each other (CPU per webhook, alternated rounds), and
//!   `bench/ingress-instructions.sh` counts the instructions each executes per webhook
//!   (callgrind: stable where CPU time is noisy).
//! - `worker-bench` (`src/bin/worker-bench/`): the fulfillment's database work alone
//!   (`ceiling`), and the pipeline through worker processes (`pipeline`: saturation, a paced
//!   rate, or Stripe's rate limit), with the CPU each part spends per fulfillment.
//!   `bench/worker.sh` runs the set.
//! - `landing-bench` (`src/bin/landing-bench/`): paid sessions made through the shop form
//!   (`prepare`) and an open-loop GET load with latency percentiles (`run`), against a running
//!   `landing`. `bench/landing.sh` starts the services and runs the rounds.
//! - `checkout-bench`: pay click → success page with the whole stack in one process, and the
//!   Stripe calls each fulfilled order cost.
//! - `notifier-bench`: the notifier's mails per second and announcement → mail latency against a
//!   real SMTP server, beside the mail path's own ceiling.
//! - `console-bench`: the operators' console's pages and query plans on a database the size of a
//!   busy shop's.
//!
//! The results, each with the command that produced it, are recorded in `BENCHMARKS.md` (the
//! summary against the targets, and the whole-stack, notifier and console runs) and in
//! `benchmarks/ingress.md`, `benchmarks/worker.md` and `benchmarks/landing.md`.

/// One line of a benchmark's latency report: count, p50, p90, p99 and max in milliseconds, from
/// a histogram of microseconds.
pub fn report_latency(name: &str, h: &hdrhistogram::Histogram<u64>) {
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "{name:<34} n={:<5} p50={:>7.2} ms  p90={:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms",
        h.len(),
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    );
}
