//! Webhook verification cost: `cargo bench -p shared --bench signature`.
//!
//! Prints the median time per `verify` of a 2 KB event (one secret, and two during a rotation)
//! beside the median of a bare HMAC-SHA256 over the same bytes — the floor any verifier pays.

use std::hint::black_box;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use shared::signature::{signature_header, verify, WebhookSecrets, DEFAULT_TOLERANCE};

const ROUNDS: usize = 15;
const PER_ROUND: u32 = 20_000;

fn median_per_op(mut f: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..PER_ROUND {
                f();
            }
            start.elapsed() / PER_ROUND
        })
        .collect();
    samples.sort();
    samples[ROUNDS / 2]
}

fn main() {
    let body = format!(
        "{{\"id\":\"evt_1\",\"object\":\"event\",\"pad\":\"{}\"}}",
        "x".repeat(2000)
    );
    let body = body.as_bytes();
    let t = 1_700_000_000;
    let one = WebhookSecrets::from_strs(&["whsec_current"]);
    let two = WebhookSecrets::from_strs(&["whsec_old", "whsec_current"]);
    let header = signature_header(body, &["whsec_current"], t);

    let hmac = median_per_op(|| {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_current").unwrap();
        mac.update(black_box(body));
        black_box(mac.finalize());
    });
    let verify_one = median_per_op(|| {
        black_box(verify(black_box(body), &header, &one, DEFAULT_TOLERANCE, t)).unwrap();
    });
    let verify_two = median_per_op(|| {
        black_box(verify(black_box(body), &header, &two, DEFAULT_TOLERANCE, t)).unwrap();
    });
    println!("2 KB event, median of {ROUNDS} rounds x {PER_ROUND}:");
    println!("  bare HMAC-SHA256 (baseline)  {hmac:>10?}");
    println!(
        "  verify, 1 secret             {verify_one:>10?}  ({:.2}x baseline)",
        verify_one.as_secs_f64() / hmac.as_secs_f64()
    );
    println!(
        "  verify, 2 secrets (rotation) {verify_two:>10?}  ({:.2}x baseline)",
        verify_two.as_secs_f64() / hmac.as_secs_f64()
    );
}
