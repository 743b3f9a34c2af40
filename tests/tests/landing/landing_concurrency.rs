//! The success page races the worker for the same session, and customers reload: G2 holds.

use futures::future::join_all;
use shared::{FulfillmentOutcome, Trigger};
use tests::landing_support::Landing;
use tests::paid_session;
use tests::probes::fulfillment_effects;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_pages_racing_five_direct_fulfillments_fulfill_the_order_exactly_once() {
    let landing = Landing::start().await;
    let id = paid_session(&landing.sim, "Jenny Rosen");

    let pages = join_all((0..20).map(|_| landing.success_page(id.as_str())));
    let direct = join_all((0..5).map(|_| {
        let fulfiller = landing.fulfiller.clone();
        let id = id.clone();
        // A separate task per call, like separate worker deliveries.
        tokio::spawn(async move { fulfiller.fulfill_checkout(&id, Trigger::Webhook).await })
    }));
    let (pages, direct) = tokio::join!(pages, direct);

    let order_number = landing.order_number(&id).await;
    for page in &pages {
        assert_eq!(page.status, 200, "{}", page.body);
        page.assert_shows(&[
            "Thanks for your order, Jenny Rosen!",
            "52.00 USD",
            &format!("#{order_number:06}"),
        ]);
    }
    for outcome in direct {
        let outcome = outcome
            .expect("the task ran")
            .expect("fulfill_checkout succeeded");
        assert!(
            matches!(outcome, FulfillmentOutcome::Fulfilled { .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(
        fulfillment_effects(&landing.db.pool, id.as_str()).await,
        (1, 2, 1),
        "one order, one set of two line items, one announcement"
    );
}
