//! The compose stack as its users run it, for real, on the local Docker engine: every image built
//! here from Debian's packages (deploy/offline/build-images; no registry), `up` with the
//! simulator, three workers and two replicas each of ingress and landing; the edge (TLS, HTTP
//! redirected, operational paths kept off it, webhooks balanced over the ingress replicas); the
//! seeds' checkout in Chromium through the edge; Prometheus and RabbitMQ's management API asked
//! what they see; the RUNBOOK's operator commands run through compose; the webhook secret
//! rotated through its file as the RUNBOOK says; a broker disk alarm answered with 503; a
//! scale-down that drains; and `down -v` that leaves nothing — with every
//! secret read from a 0600 file owned by another user, as the documented procedure makes them.
//!
//! Grafana, Jaeger and the OpenTelemetry collector are not Debian packages: deploy/offline/
//! compose.yml switches them off, and this test says so. Where no Docker engine answers, the test
//! prints SKIPPED with the reason.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fantoccini::Locator;
use serde_json::{json, Value};
use shared::signature::signature_header;
use tests::browser::Browser;
use tests::checkout_flow::{
    check_out, pay, text_of, wait_for_heading, PAGE_TIMEOUT, SHIPPING_LABEL_US,
};
use tests::deploy_support::committed_definitions;
use tests::deploy_support::compose_stack::{
    build_images, engine_unavailable, ComposeStack, RABBITMQ_USER,
};
use tests::eventually;

const IMAGE_TAG: &str = "live-test";
const WORKERS: usize = 3;
/// Replicas of ingress and of landing, behind the edge.
const WEB_REPLICAS: usize = 2;
/// The owner of the secret files: the operator's uid, not one any container runs as.
const SECRETS_OWNER: u32 = 4242;
/// Prometheus re-resolves the workers' DNS name and scrapes every 15 s.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(90);
/// From the order to its confirmation in the mailbox: outbox relay, notifier, SMTP.
const MAIL_TIMEOUT: Duration = Duration::from_secs(60);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The management API's view of one queue in vhost `/`.
async fn queue(stack: &ComposeStack, name: &str) -> Option<Value> {
    stack.management(&format!("/queues/%2F/{name}")).await
}

async fn consumers_become(stack: &ComposeStack, expected: u64) -> Value {
    let reached = eventually(SCRAPE_TIMEOUT, || async {
        let q = queue(stack, "checkout.fulfillment").await?;
        (q["consumers"].as_u64() == Some(expected)).then_some(q)
    })
    .await;
    match reached {
        Some(q) => q,
        None => panic!(
            "checkout.fulfillment never had {expected} consumers: {:?}",
            queue(stack, "checkout.fulfillment").await
        ),
    }
}

/// Prometheus's targets of `job` that are up.
async fn targets_up(stack: &ComposeStack, job: &str) -> Option<usize> {
    let targets: Value = reqwest::get(format!("{}/api/v1/targets", stack.prometheus))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let active = targets["data"]["activeTargets"].as_array()?;
    Some(
        active
            .iter()
            .filter(|t| t["labels"]["job"] == job && t["health"] == "up")
            .count(),
    )
}

/// Webhooks each ingress replica has published, as Prometheus last scraped them.
async fn published_by_replica(stack: &ComposeStack) -> Option<Vec<f64>> {
    let query = r#"sum by (instance) (ingress_webhook_requests_total{outcome="published"})"#;
    let answer: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/query", stack.prometheus))
        .query(&[("query", query)])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    answer["data"]["result"]
        .as_array()?
        .iter()
        .map(|series| series["value"][1].as_str()?.parse().ok())
        .collect()
}

async fn screenshot_management_queues(browser: &Browser, stack: &ComposeStack) {
    let client = browser.client();
    client
        .goto(&stack.rabbitmq_management)
        .await
        .expect("the management UI loads");
    let login = eventually(PAGE_TIMEOUT, || async {
        client.find(Locator::Css("input[name=username]")).await.ok()
    })
    .await
    .expect("the management UI shows its login form");
    login.send_keys(RABBITMQ_USER).await.unwrap();
    let password = client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap();
    password.send_keys(&stack.rabbitmq_password).await.unwrap();
    password.send_keys("\u{E007}").await.unwrap(); // Enter
    client
        .goto(&format!("{}/#/queues", stack.rabbitmq_management))
        .await
        .unwrap();
    let listed = eventually(PAGE_TIMEOUT, || async {
        let source = client.source().await.ok()?;
        source.contains("checkout.fulfillment.dead").then_some(())
    })
    .await;
    let path = browser.screenshot("compose_rabbitmq_queues").await;
    assert!(
        listed.is_some(),
        "the management UI's queues page lists our queues (screenshot: {})",
        path.display()
    );
}

async fn screenshot_prometheus_targets(browser: &Browser, stack: &ComposeStack) {
    let client = browser.client();
    // The home page redirects into the UI: /graph upstream, /classic/graph in Debian's build
    // (which ships the classic UI only). The targets page sits beside it.
    client
        .goto(&stack.prometheus)
        .await
        .expect("Prometheus's UI loads");
    let home = client.current_url().await.unwrap();
    let ui = home.path().trim_end_matches('/').trim_end_matches("/graph");
    client
        .goto(&format!("{}{ui}/targets", stack.prometheus))
        .await
        .expect("Prometheus's targets page loads");
    let listed = eventually(PAGE_TIMEOUT, || async {
        let text = text_of(browser, "body").await?;
        text.contains("worker").then_some(())
    })
    .await;
    let path = browser.screenshot("compose_prometheus_targets").await;
    assert!(
        listed.is_some(),
        "Prometheus's targets page lists the workers (screenshot: {})",
        path.display()
    );
}

/// Posts a new `checkout.session.completed` event about the paid `session` to the webhook
/// endpoint, through the edge as Stripe does, signed with `secret` alone; returns the status.
async fn deliver_signed_with(
    stack: &ComposeStack,
    edge: &reqwest::Client,
    session: &str,
    secret: &str,
) -> u16 {
    let body = serde_json::to_vec(&serde_json::json!({
        "id": format!("evt_{}", uuid::Uuid::new_v4().simple()),
        "object": "event",
        "type": "checkout.session.completed",
        "created": unix_now(),
        "livemode": false,
        "data": { "object": { "id": session, "object": "checkout.session" } },
    }))
    .unwrap();
    let signature = signature_header(&body, &[secret], unix_now() as i64);
    edge.post(format!("{}/webhook", stack.shop))
        .header("Stripe-Signature", signature)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the ingress answers")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_stack_runs_checks_out_scales_and_leaves_nothing_behind() {
    if let Some(reason) = engine_unavailable() {
        println!("SKIPPED: the live compose stack needs a Docker engine: {reason}");
        return;
    }
    println!(
        "[live] offline: Grafana, Jaeger and the OpenTelemetry collector are not Debian packages \
         and are switched off (deploy/offline/compose.yml); their configs are checked statically"
    );
    build_images(IMAGE_TAG);

    // 1. Up with the simulator, three workers and two of each web service: every container
    //    healthy, migrate exited 0. Every secret comes from a file made as
    //    deploy/secrets/README.md says (mode 0600), owned by a user no container runs as.
    let mut stack = ComposeStack::new(IMAGE_TAG)
        .with_secret_files(SECRETS_OWNER)
        .with_env("INGRESS_REPLICAS", &WEB_REPLICAS.to_string())
        .with_env("LANDING_REPLICAS", &WEB_REPLICAS.to_string());
    stack.up(WORKERS).await;
    for service in ["ingress", "landing"] {
        let running = stack
            .containers()
            .iter()
            .filter(|c| c.service == service && c.status == "running")
            .count();
        assert_eq!(
            running, WEB_REPLICAS,
            "{service} replicas from the compose file"
        );
    }

    // 2. The edge: HTTPS with a certificate its authority vouches for, HTTP redirected to it,
    //    the services' operational endpoints not reachable from outside.
    let edge = stack.edge_client();
    let shop = edge
        .get(&stack.shop)
        .send()
        .await
        .expect("the shop answers over HTTPS");
    assert_eq!(shop.status(), 200);
    let unverified = reqwest::Client::new().get(&stack.shop).send().await;
    assert!(
        unverified.is_err(),
        "a client that does not trust the edge's authority refuses its certificate"
    );
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/order/success?session_id=cs_x", stack.edge_http))
        .send()
        .await
        .expect("the edge answers plain HTTP");
    assert!(redirect.status().is_redirection(), "{redirect:?}");
    let location = redirect.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("https://"), "{location}");
    for path in ["/metrics", "/readyz", "/healthz", "/metrics/detailed"] {
        let status = edge
            .get(format!("{}{path}", stack.shop))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{path} must not be reachable through the edge");
    }

    // 3. The seeds' test flow through the edge.
    let browser = Browser::start_accepting_local_certificates().await;
    let id = check_out(&browser, &stack.shop).await;
    pay(&browser, "4242 4242 4242 4242", "card").await;
    let thanked = wait_for_heading(
        &browser,
        "Thanks for your order, Jenny Rosen!",
        PAGE_TIMEOUT,
    )
    .await;
    browser.screenshot("compose_checkout_success").await;
    assert!(
        thanked,
        "the success page thanks Jenny Rosen; it shows {:?}",
        text_of(&browser, "h1").await
    );
    assert_eq!(
        text_of(&browser, "[data-testid=ships-to]").await.as_deref(),
        Some(SHIPPING_LABEL_US),
        "the confirmation says where the parcel goes"
    );
    let orders = format!(
        "SELECT count(*) FROM checkout_orders WHERE session_id = '{id}' AND state = 'fulfilled'"
    );
    assert_eq!(stack.sql(&orders), "1", "exactly one fulfilled order");
    assert_eq!(stack.sql("SELECT count(*) FROM checkout_orders"), "1");

    // The notifier mails the customer's confirmation through the sim profile's SMTP server,
    // once, and records it sent.
    let mails = eventually(MAIL_TIMEOUT, || async {
        Some(stack.mailbox()).filter(|mails| !mails.is_empty())
    })
    .await
    .unwrap_or_else(|| panic!("no mail reached the mailbox within {MAIL_TIMEOUT:?}"));
    assert_eq!(mails.len(), 1, "one confirmation: {mails:#?}");
    let mail = mails[0].replace("\r\n", "\n");
    assert!(
        mail.contains("To: jenny.rosen@example.com") && mail.contains("Hello Jenny Rosen,"),
        "the confirmation is addressed to the customer: {mail}"
    );
    assert!(
        mail.contains("Ships to:\n  Jenny Rosen\n  354 Oyster Point Blvd\n"),
        "the confirmation says where it ships: {mail}"
    );
    assert_eq!(
        stack.sql(
            "SELECT count(*) FROM notifications WHERE channel = 'email' AND sent_at IS NOT NULL"
        ),
        "1",
        "the mail is recorded sent"
    );

    // 4. Prometheus sees every replica; RabbitMQ has one consumer per worker on the queue the
    //    code declares, with the arguments it declares.
    for (job, replicas) in [
        ("worker", WORKERS),
        ("ingress", WEB_REPLICAS),
        ("landing", WEB_REPLICAS),
        ("notifier", 1),
    ] {
        let up = eventually(SCRAPE_TIMEOUT, || async {
            targets_up(&stack, job).await.filter(|n| *n == replicas)
        })
        .await;
        assert_eq!(
            up,
            Some(replicas),
            "Prometheus lists {replicas} {job} targets up (it sees {:?})",
            targets_up(&stack, job).await
        );
    }
    let fulfillment = consumers_become(&stack, WORKERS as u64).await;
    let declared = committed_definitions()["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "checkout.fulfillment")
        .expect("definitions.json declares checkout.fulfillment")["arguments"]
        .clone();
    assert_eq!(fulfillment["arguments"], declared);
    assert_eq!(fulfillment["durable"], true);
    screenshot_management_queues(&browser, &stack).await;
    screenshot_prometheus_targets(&browser, &stack).await;
    browser.close().await;

    // 5. The RUNBOOK's operator commands, run through compose.
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--rm", "--no-deps", "-T", "worker", "worker"];
        all.extend(args);
        stack.compose_ok(&all)
    };
    let shown = run(&["show", id.as_str()]);
    assert!(
        shown.contains(id.as_str()) && shown.contains("fulfilled"),
        "worker show: {shown}"
    );
    assert_eq!(run(&["redrive"]).trim(), "redriven: 0; still dead: 0");
    let since = (unix_now() - 3600).to_string();
    let reconciled = run(&["reconcile", "--since", &since]);
    assert!(!reconciled.trim().is_empty(), "worker reconcile reports");
    assert_eq!(
        stack.sql("SELECT count(*) FROM checkout_orders"),
        "1",
        "reconciling again fulfills nothing twice"
    );
    console_finds_the_order(&stack, id.as_str()).await;

    // 5b. The RUNBOOK reads why a message was dead-lettered by looking at it in the management
    //     UI ("Get messages", requeue). Every look hands the message out and takes it back, and
    //     RabbitMQ 4 drops a quorum queue's message after 20 such returns unless the queue's
    //     delivery limit says otherwise: a dead letter, a paid order's event, must survive any
    //     number of looks.
    let dead_letter = json!({
        "routing_key": "checkout.fulfillment.dead",
        "payload": "{\"id\":\"evt_looked_at\",\"type\":\"checkout.session.completed\"}",
        "payload_encoding": "string",
        "properties": { "delivery_mode": 2 }
    });
    let routed = stack
        .management_post("/exchanges/%2F/amq.default/publish", &dead_letter)
        .await;
    assert_eq!(routed.map(|r| r["routed"].clone()), Some(json!(true)));
    let look = |ackmode: &'static str| {
        let stack = &stack;
        async move {
            stack
                .management_post(
                    "/queues/%2F/checkout.fulfillment.dead/get",
                    &json!({ "count": 1, "ackmode": ackmode, "encoding": "auto" }),
                )
                .await
                .and_then(|got| got.as_array().map(Vec::len))
        }
    };
    for _ in 0..25 {
        assert_eq!(
            look("ack_requeue_true").await,
            Some(1),
            "the dead letter is still there to look at"
        );
    }
    assert_eq!(
        look("ack_requeue_false").await,
        Some(1),
        "and is taken away"
    );

    // 6. The RUNBOOK's webhook-secret rotation through the secret file: the new secret is
    //    added next to the old one, then the old one removed, each time followed by the
    //    RUNBOOK's command. Deliveries are copies of the paid session's event under new ids, so
    //    the order count stays one.
    let old_secret = "whsec_local_development_only";
    let new_secret = format!("whsec_{}", uuid::Uuid::new_v4().simple());
    let recreate_ingress = |stack: &ComposeStack| {
        stack.compose_ok(&[
            "up",
            "-d",
            "--no-build",
            "--no-deps",
            "--force-recreate",
            "ingress",
        ])
    };
    assert_eq!(
        deliver_signed_with(&stack, &edge, id.as_str(), &new_secret).await,
        400
    );
    stack.rewrite_secret(
        "stripe_webhook_secrets",
        &format!("{old_secret},{new_secret}\n"),
    );
    recreate_ingress(&stack);
    stack.wait_until_healthy(WORKERS).await;
    assert_eq!(
        deliver_signed_with(&stack, &edge, id.as_str(), &new_secret).await,
        200,
        "after adding the new secret, a delivery signed with it is accepted"
    );
    assert_eq!(
        deliver_signed_with(&stack, &edge, id.as_str(), old_secret).await,
        200,
        "while both are configured, the old one still is"
    );
    stack.rewrite_secret("stripe_webhook_secrets", &format!("{new_secret}\n"));
    recreate_ingress(&stack);
    stack.wait_until_healthy(WORKERS).await;
    assert_eq!(
        deliver_signed_with(&stack, &edge, id.as_str(), old_secret).await,
        400,
        "after removing the old secret, a delivery signed with it is refused"
    );
    assert_eq!(
        deliver_signed_with(&stack, &edge, id.as_str(), &new_secret).await,
        200
    );
    assert_eq!(stack.sql("SELECT count(*) FROM checkout_orders"), "1");

    // 7. The edge balances Stripe's deliveries over both ingress replicas: each one publishes
    //    a share of a burst (as Prometheus counts them per replica).
    const BURST: usize = 20;
    for _ in 0..BURST {
        assert_eq!(
            deliver_signed_with(&stack, &edge, id.as_str(), &new_secret).await,
            200
        );
    }
    let shares = eventually(SCRAPE_TIMEOUT, || async {
        let shares = published_by_replica(&stack).await?;
        let total: f64 = shares.iter().sum();
        (shares.len() == WEB_REPLICAS && total >= BURST as f64).then_some(shares)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "Prometheus never counted the burst on {WEB_REPLICAS} ingress replicas: {:?}",
            futures::executor::block_on(published_by_replica(&stack))
        )
    });
    assert!(
        shares.iter().all(|share| *share >= (BURST / 4) as f64),
        "each ingress replica takes a share of the burst: {shares:?}"
    );
    assert_eq!(stack.sql("SELECT count(*) FROM checkout_orders"), "1");

    // 7b. A disk alarm on the broker (its free-disk limit raised past what the disk has, as a
    //     filling volume would trip it) blocks publishers: the ingress must answer 503, never
    //     2xx, until the alarm clears, and then accept again.
    let rabbitmqctl = |args: &[&str]| {
        let mut all = vec!["exec", "-T", "rabbitmq", "rabbitmqctl"];
        all.extend(args);
        stack.compose_ok(&all)
    };
    rabbitmqctl(&["set_disk_free_limit", "1000000GB"]);
    let alarmed = eventually(SCRAPE_TIMEOUT, || async {
        let nodes = stack.management("/nodes").await?;
        (nodes[0]["disk_free_alarm"] == true).then_some(())
    })
    .await;
    assert!(alarmed.is_some(), "the broker raises its disk alarm");
    let during_alarm = deliver_signed_with(&stack, &edge, id.as_str(), &new_secret).await;
    rabbitmqctl(&["set_disk_free_limit", "1GB"]);
    assert_eq!(
        during_alarm, 503,
        "while the broker blocks publishers, a webhook is refused so that Stripe retries it"
    );
    let accepted = eventually(SCRAPE_TIMEOUT, || async {
        (deliver_signed_with(&stack, &edge, id.as_str(), &new_secret).await == 200).then_some(())
    })
    .await;
    assert!(
        accepted.is_some(),
        "the ingress accepts again once the alarm clears"
    );

    // 8. Scale down to one worker: the two stopped drain and exit 0.
    let before = unix_now();
    stack.compose_ok(&["up", "-d", "--no-build", "--scale", "worker=1"]);
    let exits = stack.exits_since(before, Some("worker"));
    assert_eq!(exits.len(), WORKERS - 1, "{exits:?}");
    assert!(
        exits.iter().all(|(_, code)| code == "0"),
        "each stopped worker drains and exits 0: {exits:?}"
    );
    consumers_become(&stack, 1).await;

    // 9. down -v stops every service cleanly (SIGTERM honoured, nobody killed after the grace
    //    period) and leaves nothing of the project.
    let before = unix_now();
    stack.down();
    let exits = stack.exits_since(before, None);
    assert!(
        exits.iter().all(|(_, code)| code == "0"),
        "every container stops on SIGTERM and exits 0: {exits:?}"
    );
    assert_eq!(stack.leftovers(), Vec::<String>::new());
}

/// The operators' console on its loopback port, in its container: the simulator's operator
/// (deploy/console/operators.sim, here from a 0600 secret file) signs in, the overview reads the
/// queue table as the console's own broker user, and the order is found by its session id.
async fn console_finds_the_order(stack: &ComposeStack, session_id: &str) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = client
        .post(format!("{}/login", stack.console))
        .form(&[
            ("name", "operator"),
            ("password", "console_local_development_only"),
        ])
        .send()
        .await
        .expect("the console answers on its published port");
    assert_eq!(signed_in.status(), reqwest::StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let get = |path: String| {
        client
            .get(format!("{}{path}", stack.console))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
    };
    let overview = get("/".into()).await.unwrap().text().await.unwrap();
    assert!(
        overview.contains("id=\"queues\"") && overview.contains("checkout.fulfillment"),
        "the console reads the queue table: {overview}"
    );
    let found = get(format!("/search?q={session_id}")).await.unwrap();
    let location = found.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let page = get(location).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("id=\"order-state\">fulfilled<"),
        "the console shows the order fulfilled: {page}"
    );
}
