//! The ingress keeps an idle connection open longer than a webhook sender keeps it in its pool.
//!
//! A sender reuses its connections. When the server closes an idle one just as the sender
//! writes the next webhook on it, that delivery fails with a connection error instead of an
//! answer, and is retried later for nothing. actix-web's default keep-alive is 5 s: at a steady
//! trickle of webhooks after a burst (the burst grew the sender's pool, the trickle leaves most
//! of it idle), the live cluster run saw exactly that.
//!
//! A connection can also be idle before its first request: a proxy's pool (Go's, in the edge)
//! keeps a connection it dialed for a request that another connection served first. actix-web
//! answers such a connection 408 after its first-request head timeout (5 s by default), and a
//! webhook the proxy writes on it at that moment gets the 408: the live cluster run saw that too.

use std::time::Duration;

use tests::ingress_support::TestIngress;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longer than actix-web's default keep-alive (5 s), and than a typical client's idle timeout
/// is shorter than ours.
const IDLE: Duration = Duration::from_secs(8);

/// Sends `GET /healthz` on `stream` and reads one whole answer; its status line, or the error.
async fn health_on(stream: &mut TcpStream) -> Result<String, String> {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: ingress\r\n\r\n")
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .map_err(|_| "no answer within 5 s".to_owned())?
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(format!(
                "the server closed the connection (after {} bytes)",
                answer.len()
            ));
        }
        answer.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                return Ok(head.lines().next().unwrap_or_default().to_owned());
            }
        }
    }
}

#[tokio::test]
async fn an_idle_connection_still_answers_after_several_seconds() {
    let ingress = TestIngress::spawn().await;
    let mut stream = TcpStream::connect(("127.0.0.1", ingress.port))
        .await
        .expect("connect to the ingress");
    stream.set_nodelay(true).unwrap();
    assert_eq!(
        health_on(&mut stream).await.as_deref(),
        Ok("HTTP/1.1 200 OK")
    );
    // Not a wait for anything to settle: the idle time is what is tested.
    tokio::time::sleep(IDLE).await;
    assert_eq!(
        health_on(&mut stream).await.as_deref(),
        Ok("HTTP/1.1 200 OK"),
        "the same connection answers after {IDLE:?} idle"
    );
}

#[tokio::test]
async fn a_connection_idle_before_its_first_request_still_answers_after_several_seconds() {
    let ingress = TestIngress::spawn().await;
    let mut stream = TcpStream::connect(("127.0.0.1", ingress.port))
        .await
        .expect("connect to the ingress");
    stream.set_nodelay(true).unwrap();
    // Not a wait for anything to settle: the idle time before the first request is what is
    // tested.
    tokio::time::sleep(IDLE).await;
    assert_eq!(
        health_on(&mut stream).await.as_deref(),
        Ok("HTTP/1.1 200 OK"),
        "a connection's first request answers after {IDLE:?} idle"
    );
}
