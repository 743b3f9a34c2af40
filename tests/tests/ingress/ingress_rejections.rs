//! G4/G5 at the webhook: every malformed, forged, stale or unusable request gets its status and
//! a short reason, and nothing reaches the broker.

use shared::signature::{sign, signature_header, unix_now};
use tests::ingress_support::*;
use tests::WEBHOOK_SECRET;

/// Asserts the status, the JSON reason, that the answer does not echo the secret, and that
/// nothing was published.
async fn assert_refused(
    ingress: &TestIngress,
    response: reqwest::Response,
    status: u16,
    reason: &str,
) {
    assert_eq!(response.status().as_u16(), status);
    let text = response.text().await.expect("a body");
    assert!(
        !text.contains(WEBHOOK_SECRET),
        "the answer never shows a secret: {text}"
    );
    let body: serde_json::Value = serde_json::from_str(&text).expect("a JSON answer");
    assert_eq!(body["reason"], reason, "{text}");
    ingress.assert_nothing_published().await;
}

#[tokio::test]
async fn a_request_without_a_signature_header_is_refused() {
    let ingress = TestIngress::spawn().await;
    let (_, body) = completed_event();
    let response = ingress.post_webhook(&body, None).await;
    assert_refused(&ingress, response, 400, "missing_header").await;
}

#[tokio::test]
async fn a_garbage_signature_header_is_refused() {
    let ingress = TestIngress::spawn().await;
    let (_, body) = completed_event();
    let response = ingress.post_webhook(&body, Some("garbage")).await;
    assert_refused(&ingress, response, 400, "malformed_header").await;
    let response = ingress
        .post_webhook(&body, Some("t=notanumber,v1=abc"))
        .await;
    assert_refused(&ingress, response, 400, "invalid_timestamp").await;
}

#[tokio::test]
async fn an_event_signed_with_another_secret_is_refused() {
    let ingress = TestIngress::spawn().await;
    let (_, body) = completed_event();
    let header = signature_header(&body, &["whsec_someone_else"], unix_now());
    let response = ingress.post_webhook(&body, Some(&header)).await;
    assert_refused(&ingress, response, 400, "no_matching_signature").await;
}

#[tokio::test]
async fn a_tampered_body_is_refused() {
    let ingress = TestIngress::spawn().await;
    let (_, body) = completed_event();
    let header = sign_now(&body);
    let tampered = String::from_utf8(body)
        .unwrap()
        .replace("\"amount_total\": 2000", "\"amount_total\": 1");
    let response = ingress
        .post_webhook(tampered.as_bytes(), Some(&header))
        .await;
    assert_refused(&ingress, response, 400, "no_matching_signature").await;
}

#[tokio::test]
async fn a_tampered_signature_is_refused() {
    let ingress = TestIngress::spawn().await;
    let (_, body) = completed_event();
    let now = unix_now();
    let mut signature = sign(&body, WEBHOOK_SECRET, now).into_bytes();
    signature[10] = if signature[10] == b'0' { b'1' } else { b'0' };
    let header = format!("t={now},v1={}", String::from_utf8(signature).unwrap());
    let response = ingress.post_webhook(&body, Some(&header)).await;
    assert_refused(&ingress, response, 400, "no_matching_signature").await;
}

#[tokio::test]
async fn a_timestamp_301_seconds_old_is_refused_as_stale() {
    let ingress = TestIngress::spawn().await;
    let (_, body) = completed_event();
    let header = signature_header(&body, &[WEBHOOK_SECRET], unix_now() - 301);
    let response = ingress.post_webhook(&body, Some(&header)).await;
    assert_refused(&ingress, response, 400, "timestamp_too_old").await;
}

#[tokio::test]
async fn a_timestamp_301_seconds_in_the_future_is_refused() {
    let ingress = TestIngress::spawn().await;
    let (_, body) = completed_event();
    let header = signature_header(&body, &[WEBHOOK_SECRET], unix_now() + 301);
    let response = ingress.post_webhook(&body, Some(&header)).await;
    assert_refused(&ingress, response, 400, "timestamp_in_future").await;
}

#[tokio::test]
async fn a_header_with_only_a_v0_signature_is_refused() {
    let ingress = TestIngress::spawn().await;
    let (_, body) = completed_event();
    let now = unix_now();
    // A correct HMAC under the v0 key: v0 is never accepted, whatever it holds.
    let header = format!("t={now},v0={}", sign(&body, WEBHOOK_SECRET, now));
    let response = ingress.post_webhook(&body, Some(&header)).await;
    assert_refused(&ingress, response, 400, "no_v1_signature").await;
}

#[tokio::test]
async fn a_body_of_two_mebibytes_is_refused_and_the_service_keeps_answering() {
    let ingress = TestIngress::spawn().await;
    let mut body = vec![b' '; 2 * 1024 * 1024];
    body[0] = b'{';
    *body.last_mut().unwrap() = b'}';
    let response = ingress.post_signed(&body).await;
    assert_refused(&ingress, response, 413, "body_too_large").await;

    let (_, body) = completed_event();
    let response = ingress.post_signed(&body).await;
    assert_eq!(response.status(), 200, "the service still answers");
}

#[tokio::test]
async fn an_authentic_body_that_is_not_json_is_refused() {
    let ingress = TestIngress::spawn().await;
    let body = b"this is not json, though it is signed";
    let response = ingress.post_signed(body).await;
    assert_refused(&ingress, response, 400, "not_json").await;
}

#[tokio::test]
async fn an_authentic_checkout_event_without_data_object_id_is_refused() {
    let ingress = TestIngress::spawn().await;
    let body = serde_json::to_vec(&serde_json::json!({
        "id": new_event_id(),
        "object": "event",
        "type": "checkout.session.completed",
        "created": unix_now(),
        "livemode": false,
        "data": {"object": {"object": "checkout.session"}}
    }))
    .unwrap();
    let response = ingress.post_signed(&body).await;
    let expected_reason = "missing_field";
    assert_eq!(response.status(), 400);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["reason"], expected_reason);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("data.object.id"),
        "the answer names the field: {answer}"
    );
    ingress.assert_nothing_published().await;
}

#[tokio::test]
async fn a_checkout_event_naming_something_other_than_a_session_is_refused() {
    let ingress = TestIngress::spawn().await;
    let body = event_body(&new_event_id(), "checkout.session.completed", "pi_123");
    let response = ingress.post_signed(&body).await;
    assert_refused(&ingress, response, 400, "invalid_session_id").await;
}

#[tokio::test]
async fn get_on_the_webhook_path_is_method_not_allowed() {
    let ingress = TestIngress::spawn().await;
    let response = ingress.get("/webhook").await;
    assert_eq!(response.headers()["allow"], "POST");
    assert_refused(&ingress, response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn refusals_are_counted_by_outcome_and_reason() {
    let ingress = TestIngress::spawn().await;
    let (_, body) = completed_event();
    let response = ingress.post_webhook(&body, Some("garbage")).await;
    assert_eq!(response.status(), 400);
    let metrics = ingress.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"ingress_webhook_requests_total{outcome="bad_signature",reason="malformed_header"}"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains("ingress_webhook_ack_seconds_bucket"));
}

#[tokio::test]
async fn a_chunked_body_is_refused_as_soon_as_it_passes_the_limit() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let ingress = TestIngress::spawn().await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", ingress.port))
        .await
        .unwrap();
    let head = "POST /webhook HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\
                Stripe-Signature: t=1,v1=00\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    // 1 MiB + 64 KiB, no length announced, and the body never ends: the answer cannot wait for
    // the end of the body.
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..17 {
        stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        stream.write_all(&chunk).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
    }
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered without waiting for the end of the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    ingress.assert_nothing_published().await;
}

/// How long a raw-socket test waits for the ingress's answer.
const ANSWER_BOUND: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens a connection to the ingress and sends `head` (request line and headers) only.
async fn send_head(ingress: &TestIngress, head: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;

    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", ingress.port))
        .await
        .unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// The first bytes of the answer on `stream`, which must come within [`ANSWER_BOUND`].
async fn answer_within_bound(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;

    let mut answer = vec![0u8; 2048];
    let n = tokio::time::timeout(ANSWER_BOUND, stream.read(&mut answer))
        .await
        .expect("answered within the bound")
        .unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[tokio::test]
async fn a_request_without_a_signature_header_is_refused_before_its_body_is_read() {
    let ingress = TestIngress::spawn().await;
    // Half a mebibyte announced (under the size limit), and never sent.
    let mut stream = send_head(
        &ingress,
        "POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: 524288\r\n\r\n",
    )
    .await;
    let answer = answer_within_bound(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains(r#""reason":"missing_header""#), "{answer}");
    ingress.assert_nothing_published().await;
}

/// An ingress that waits at most half a second for a request's body.
async fn ingress_with_a_short_body_timeout() -> TestIngress {
    TestIngress::spawn_with(None, |s| s.ingress.body_read_timeout_ms = 500).await
}

/// A signed head announcing `body`, so that only a slow body stands in the way.
fn signed_head(body: &[u8]) -> String {
    format!(
        "POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Stripe-Signature: {}\r\nContent-Length: {}\r\n\r\n",
        sign_now(body),
        body.len()
    )
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_within_the_body_read_timeout() {
    use tokio::io::AsyncWriteExt;

    let ingress = ingress_with_a_short_body_timeout().await;
    let (_, body) = completed_event();
    let mut stream = send_head(&ingress, &signed_head(&body)).await;
    // A tenth of the body, then nothing.
    stream.write_all(&body[..body.len() / 10]).await.unwrap();
    let answer = answer_within_bound(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains(r#""reason":"body_read_timeout""#),
        "{answer}"
    );
    ingress.assert_nothing_published().await;
}

#[tokio::test]
async fn a_body_trickled_a_byte_at_a_time_is_cut_off_at_the_body_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let ingress = ingress_with_a_short_body_timeout().await;
    let (_, body) = completed_event();
    let stream = send_head(&ingress, &signed_head(&body)).await;
    let (mut reader, mut writer) = stream.into_split();
    // Every byte comes well within the timeout of the one before: the timeout bounds the whole
    // body, not the gaps.
    let trickle = tokio::spawn(async move {
        for byte in body {
            if writer.write_all(&[byte]).await.is_err() {
                break;
            }
            // The trickle itself (one byte every 50 ms), not a wait for anything to settle.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    });
    let mut answer = vec![0u8; 2048];
    let n = tokio::time::timeout(ANSWER_BOUND, reader.read(&mut answer))
        .await
        .expect("answered within the bound")
        .unwrap();
    trickle.abort();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    ingress.assert_nothing_published().await;
}
