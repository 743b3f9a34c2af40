//! Graceful stop (what SIGTERM does): stop accepting, answer what is in flight (its publish
//! confirmed), then close the broker connection.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tests::eventually;
use tests::ingress_support::proxy::BrokerProxy;
use tests::ingress_support::*;

#[tokio::test]
async fn stopping_finishes_the_in_flight_webhook_then_closes_the_broker() {
    let proxy = BrokerProxy::start().await;
    let ingress =
        TestIngress::spawn_with(Some(&proxy.amqp_url()), |s| s.ingress.ack_budget_ms = 5000).await;

    // Hold the broker's answers so that a webhook is provably in flight when the stop begins.
    proxy.pause();
    let sent_before = proxy.upstream_bytes.load(Ordering::SeqCst);
    let (event_id, body) = completed_event();
    let in_flight = {
        let client = ingress.client.clone();
        let url = ingress.webhook_url();
        let signature = sign_now(&body);
        tokio::spawn(async move {
            client
                .post(url)
                .header("Stripe-Signature", signature)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    let published = eventually(Duration::from_secs(5), || async {
        (proxy.upstream_bytes.load(Ordering::SeqCst) > sent_before).then_some(())
    })
    .await;
    assert!(
        published.is_some(),
        "the webhook's publish left the ingress"
    );

    let stopping = {
        let stop = ingress.stop.clone();
        tokio::spawn(async move { stop.stop().await })
    };
    let refused = eventually(Duration::from_secs(5), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", ingress.port))
            .await
            .is_err()
            .then_some(())
    })
    .await;
    assert!(
        refused.is_some(),
        "a stopping ingress accepts no new connection"
    );
    assert!(
        !in_flight.is_finished(),
        "the in-flight webhook is still waiting"
    );

    proxy.resume();
    let status = in_flight
        .await
        .unwrap()
        .expect("the in-flight webhook is answered");
    assert_eq!(status, 200);
    stopping.await.unwrap();

    let TestIngress {
        served,
        connection,
        broker,
        ..
    } = ingress;
    served.await.unwrap().expect("the server stops cleanly");
    assert!(
        !connection.is_connected(),
        "the broker connection is closed"
    );
    let queue = broker.topology.fulfillment_queue();
    let message = broker
        .get(&queue)
        .await
        .expect("the drained webhook's event is stored");
    assert_eq!(
        message
            .delivery
            .properties
            .message_id()
            .as_ref()
            .unwrap()
            .as_str(),
        event_id
    );
}
