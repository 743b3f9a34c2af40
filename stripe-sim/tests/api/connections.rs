//! A client slow to send its request still gets an answer. Stripe does not cut a connection
//! whose request head is late by a few seconds; actix-web's default does (408 after 5 s). On a
//! host starved of CPU (the compose stack's cluster run under load) a fresh connection's
//! request can sit unread that long, and a payment the load generator makes was refused with a
//! 408 that no real Stripe would send.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::TestSim;

/// Longer than actix-web's default first-request timeout (5 s).
const LATE: Duration = Duration::from_secs(7);

#[tokio::test]
async fn a_request_sent_seconds_after_connecting_is_answered() {
    let sim = TestSim::spawn().await;
    let address = sim.url("").trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(address).await.expect("connect");
    // Not a wait for anything to settle: the delay before the request is what is tested.
    tokio::time::sleep(LATE).await;
    stream
        .write_all(b"GET /v1/events HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n")
        .await
        .expect("write the request");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("an answer within 5 s")
        .expect("read the answer");
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default();
    // No API key: Stripe's 401, not a timeout.
    assert_eq!(status, "HTTP/1.1 401 Unauthorized", "{answer}");
}
