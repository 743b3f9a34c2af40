//! The operators' console against the real services: the whole stack in process (stripe-sim,
//! ingress, RabbitMQ, worker, Postgres), the console built with its own `Application::build`,
//! and headless Chromium for what an operator does by looking.

use std::time::Duration;

use fantoccini::Locator;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use stripe_sim::{Fault, FaultKind, RouteMatch};
use tests::browser::Browser;
use tests::checkout_flow::{fill, text_of, PAGE_TIMEOUT};
use tests::service::RunningService;
use tests::stack::Stack;
use tests::{eventually, paid_session};

const OPERATOR: (&str, &str) = ("olivia", "correct horse battery staple");
const VIEWER: (&str, &str) = ("vince", "support desk password");
/// An operator with no password here: signs in only through the sign-on proxy.
const PROXY_ONLY: &str = "pat";

/// A console serving the stack's database, broker and simulator.
struct Console {
    base: String,
    service: RunningService,
}

impl Console {
    async fn start(stack: &Stack, login_failures_per_minute: u32) -> Console {
        Self::start_with(stack, |settings| {
            settings.console.login_failures_per_minute = login_failures_per_minute;
        })
        .await
    }

    /// A console with the test's operators and the stack's services, its settings then edited
    /// by `edit`.
    async fn start_with(stack: &Stack, edit: impl FnOnce(&mut shared::Settings)) -> Console {
        let operators = format!(
            "# name role hash\n{} operator {}\n{} viewer {}\n{PROXY_ONLY} operator -\n",
            OPERATOR.0,
            console::operators::hash_password(OPERATOR.1),
            VIEWER.0,
            console::operators::hash_password(VIEWER.1),
        );
        let mut settings = stack.settings.clone();
        settings.console.host = "127.0.0.1".into();
        settings.console.port = 0;
        settings.console.operators = operators.into();
        settings.console.management_url = "http://127.0.0.1:15672".into();
        settings.console.management_username = "guest".into();
        settings.console.management_password = "guest".to_owned().into();
        edit(&mut settings);
        let app = console::Application::build(settings)
            .await
            .expect("the console builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let service = RunningService::spawn("console", app.stop_handle(), app.run_until_stopped());
        Console { base, service }
    }

    async fn stop(self) {
        self.service.stop().await.expect("the console drains");
    }
}

/// Clicks the element `locator` finds once the page shows it (a bounded wait: after a click
/// that submits a form, the next page may not have arrived yet).
async fn click(browser: &Browser, locator: Locator<'_>) {
    browser
        .client()
        .wait()
        .at_most(PAGE_TIMEOUT)
        .for_element(locator)
        .await
        .unwrap_or_else(|e| panic!("{locator:?}: {e}"))
        .click()
        .await
        .unwrap();
}

/// The text of `css` once the page shows it (a bounded wait).
async fn shown(browser: &Browser, css: &str) -> String {
    eventually(PAGE_TIMEOUT, || async { text_of(browser, css).await })
        .await
        .unwrap_or_else(|| panic!("the page shows {css}"))
}

/// A client that follows no redirect, so each answer is seen as sent.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in over HTTP; returns the `Cookie` header value to send.
async fn sign_in(console: &Console, (name, password): (&str, &str)) -> String {
    let response = client()
        .post(format!("{}/login", console.base))
        .form(&[("name", name), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name} signs in");
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    cookie.split(';').next().unwrap().to_owned()
}

/// The form token on a page (every page's sign-out form carries it).
async fn form_token(console: &Console, cookie: &str) -> String {
    let page = client()
        .get(format!("{}/", console.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    page[start..start + 64].to_owned()
}

/// A paid session whose fulfillment is stuck: the ingress acknowledged its webhook, but Stripe
/// refused the worker's request for the session, so the event was dead-lettered.
async fn stuck_session(stack: &Stack, name: &str) -> shared::CheckoutSessionId {
    stuck_sessions(stack, FaultKind::Status(400), &[name])
        .await
        .remove(0)
}

/// Paid sessions, one per customer name, whose events Stripe's `fault` sent to the dead
/// letters (a 400 at once, a 500 after every retry tier); the fault is cleared after.
async fn stuck_sessions(
    stack: &Stack,
    fault: FaultKind,
    names: &[&str],
) -> Vec<shared::CheckoutSessionId> {
    stack.sim.state.inject_fault(Fault {
        route: RouteMatch::new("GET", "/v1/checkout/sessions/"),
        kind: fault,
        count: 0,
    });
    let ids: Vec<_> = names
        .iter()
        .map(|name| paid_session(&stack.sim, name))
        .collect();
    let dead_queue = stack.broker.topology.dead_queue();
    let dead = eventually(Duration::from_secs(30), || async {
        let dead: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM stripe_events WHERE outcome = 'dead' \
             AND event_type = 'checkout.session.completed'",
        )
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
        let parked = stack.broker.depth(&dead_queue).await;
        (dead == ids.len() as i64 && parked == ids.len() as u32).then_some(())
    })
    .await;
    assert!(dead.is_some(), "the worker dead-letters every event");
    stack.sim.state.clear_faults();
    ids
}

/// The event id of session `id`'s `checkout.session.completed`.
async fn completed_event(stack: &Stack, id: &shared::CheckoutSessionId) -> String {
    sqlx::query_scalar(
        "SELECT event_id FROM stripe_events WHERE session_id = $1 \
         AND event_type = 'checkout.session.completed'",
    )
    .bind(id.as_str())
    .fetch_one(&stack.db.pool)
    .await
    .unwrap()
}

async fn sign_in_with_browser(
    browser: &Browser,
    console: &Console,
    (name, password): (&str, &str),
) {
    let page = browser.client();
    page.goto(&format!("{}/login", console.base)).await.unwrap();
    fill(browser, "name", name).await;
    fill(browser, "password", password).await;
    click(browser, Locator::Css("form.login button")).await;
    eventually(PAGE_TIMEOUT, || async {
        text_of(browser, "h1").await.filter(|h| h == "Overview")
    })
    .await
    .expect("signed in, the overview shows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_sees_a_stuck_paid_session_fulfills_it_and_support_finds_it_by_email() {
    let stack = Stack::start().await;
    let id = stuck_session(&stack, "Jenny Rosen").await;
    let console = Console::start(&stack, 5).await;
    let browser = Browser::start().await;
    let page = browser.client();

    // Any page leads to the sign-in form first.
    page.goto(&format!("{}/", console.base)).await.unwrap();
    assert!(page.current_url().await.unwrap().path().ends_with("/login"));
    fill(&browser, "name", OPERATOR.0).await;
    fill(&browser, "password", OPERATOR.1).await;
    click(&browser, Locator::Css("form.login button")).await;

    // The overview lists the session, its state and Stripe's refusal.
    let row = shown(&browser, "#stuck").await;
    assert!(row.contains(id.as_str()), "{row}");
    assert!(row.contains("dead"), "{row}");
    assert!(
        row.contains("Injected fault: HTTP 400"),
        "the reason is shown: {row}"
    );
    // Without Prometheus the webhook charts say why, and the rest of the page is there.
    let unavailable = text_of(&browser, "#webhooks-unavailable").await.unwrap();
    assert!(
        unavailable.contains("console.prometheus_url is not set"),
        "{unavailable}"
    );
    let queues = text_of(&browser, "#queues").await.expect("the queue table");
    assert!(
        queues.contains(&stack.broker.topology.fulfillment_queue()),
        "{queues}"
    );
    browser.screenshot("console-overview-stuck").await;

    // The session's page tells its story; the operator fulfills it, after confirming.
    click(&browser, Locator::LinkText(id.as_str())).await;
    let timeline = shown(&browser, "#timeline").await;
    assert!(
        timeline.contains("checkout.session.completed"),
        "{timeline}"
    );
    assert!(timeline.contains("dead after"), "{timeline}");
    assert_eq!(
        text_of(&browser, "#order-none").await.as_deref(),
        Some("No order recorded.")
    );
    click(&browser, Locator::Id("fulfill")).await;
    click(&browser, Locator::Id("confirm")).await;
    let outcome = shown(&browser, "#outcome").await;
    assert!(outcome.starts_with("Fulfilled: order #"), "{outcome}");
    assert_eq!(stack.fulfilled_orders(id.as_str()).await, 1);
    assert_eq!(
        stack.fulfilled_by(id.as_str()).await.as_deref(),
        Some("operator")
    );
    browser.screenshot("console-fulfilled").await;

    click(&browser, Locator::Id("back")).await;
    let fulfilled = shown(&browser, "#order-fulfilled").await;
    assert!(fulfilled.starts_with("by operator at"), "{fulfilled}");
    let timeline = text_of(&browser, "#timeline").await.unwrap();
    assert!(
        timeline.contains(&format!("{} fulfill: fulfilled", OPERATOR.0)),
        "{timeline}"
    );

    // The overview no longer lists it, and the action is in the audit trail.
    page.goto(&format!("{}/", console.base)).await.unwrap();
    assert!(text_of(&browser, "#stuck-none").await.is_some());
    let actions = text_of(&browser, "#actions").await.unwrap();
    assert!(
        actions.contains(OPERATOR.0) && actions.contains("fulfilled"),
        "{actions}"
    );

    // Support finds the order by the customer's email, in any case.
    fill(&browser, "q", "JENNY.ROSEN@example.com").await;
    click(&browser, Locator::Css("form.search button")).await;
    let found = shown(&browser, "#session-id").await;
    assert_eq!(found, id.as_str());
    browser.screenshot("console-search").await;

    browser.close().await;
    console.stop().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nobody_acts_without_a_session_an_operators_role_and_the_form_token() {
    let stack = Stack::start().await;
    let id = stuck_session(&stack, "Ada Lovelace").await;
    let console = Console::start(&stack, 5).await;
    let http = client();
    let fulfill = format!("{}/sessions/{}/fulfill", console.base, id.as_str());

    // Without a session: pages lead to the sign-in form, actions are refused.
    for path in ["/", &format!("/sessions/{}", id.as_str()), "/search?q=1"] {
        let response = http
            .get(format!("{}{path}", console.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()[LOCATION], "/login");
    }
    let response = http
        .post(&fulfill)
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A forged cookie is no session either.
    let response = http
        .get(format!("{}/", console.base))
        .header(COOKIE, format!("__Host-console={}", "0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // A viewer reads, but cannot act, and is not offered to.
    let viewer = sign_in(&console, VIEWER).await;
    let page = http
        .get(format!("{}/sessions/{}", console.base, id.as_str()))
        .header(COOKIE, &viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(!page.text().await.unwrap().contains("id=\"fulfill\""));
    let token = form_token(&console, &viewer).await;
    let response = http
        .post(&fulfill)
        .header(COOKIE, &viewer)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // An operator's action without this session's form token is refused.
    let operator = sign_in(&console, OPERATOR).await;
    for token in ["", "forged", &token] {
        let response = http
            .post(&fulfill)
            .header(COOKIE, &operator)
            .form(&[("csrf", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "token {token:?}");
    }
    // None of it fulfilled anything, and none of it reached the audit trail as an action.
    assert_eq!(stack.fulfilled_orders(id.as_str()).await, 0);
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM console_audit")
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(audited, 0);

    // With its token, the operator's action goes through.
    let token = form_token(&console, &operator).await;
    let response = http
        .post(&fulfill)
        .header(COOKIE, &operator)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Fulfilled: order #"));
    assert_eq!(stack.fulfilled_orders(id.as_str()).await, 1);

    // Signing out ends the session on the server, not only in the browser.
    let response = http
        .post(format!("{}/logout", console.base))
        .header(COOKIE, &operator)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = http
        .get(format!("{}/", console.base))
        .header(COOKIE, &operator)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "the old cookie no longer works"
    );

    console.stop().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_sign_ins_are_limited_per_name_and_pages_carry_no_secret() {
    let stack = Stack::start().await;
    let console = Console::start(&stack, 3).await;
    let http = client();
    let attempt = |password: &'static str| {
        http.post(format!("{}/login", console.base))
            .form(&[("name", OPERATOR.0), ("password", password)])
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            attempt("wrong").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Past the limit even the right password is refused until the minute is over.
    let refused = attempt(OPERATOR.1).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Too many failed attempts"));
    // Another name is not held by them.
    let cookie = sign_in(&console, VIEWER).await;

    // Pages are never cached or framed, and hold neither the password hash nor the cookie.
    let response = http
        .get(format!("{}/", console.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let body = response.text().await.unwrap();
    assert!(!body.contains("$argon2"));
    assert!(!body.contains(cookie.split('=').nth(1).unwrap()));

    console.stop().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_redrives_a_chosen_dead_letter_then_the_rest_and_each_is_fulfilled_once() {
    let stack = Stack::start().await;
    // Stripe fails every retrieval until the faults are cleared: both events spend their retry
    // tiers and are parked with their history.
    let ids = stuck_sessions(
        &stack,
        FaultKind::Status500,
        &["Grace Hopper", "Alan Turing"],
    )
    .await;
    let (first, second) = (&ids[0], &ids[1]);
    let first_event = completed_event(&stack, first).await;
    let second_event = completed_event(&stack, second).await;
    let console = Console::start(&stack, 5).await;
    let browser = Browser::start().await;
    let page = browser.client();
    sign_in_with_browser(&browser, &console, OPERATOR).await;

    // The session's timeline shows every failed attempt with its error, the last one `dead`.
    let attempts: i32 =
        sqlx::query_scalar("SELECT attempts FROM stripe_events WHERE event_id = $1")
            .bind(&first_event)
            .fetch_one(&stack.db.pool)
            .await
            .unwrap();
    assert!(attempts > 1, "one attempt per retry tier: {attempts}");
    page.goto(&format!("{}/sessions/{first}", console.base))
        .await
        .unwrap();
    let timeline = shown(&browser, "#timeline").await;
    let failed: Vec<&str> = timeline
        .lines()
        .filter(|line| line.contains("attempt failed"))
        .collect();
    assert_eq!(failed.len(), attempts as usize, "{timeline}");
    assert!(
        failed[..failed.len() - 1]
            .iter()
            .all(|line| line.contains("attempt failed, retrying: ") && line.contains("500")),
        "{timeline}"
    );
    assert!(
        failed[failed.len() - 1].contains("attempt failed, dead: "),
        "{timeline}"
    );
    browser.screenshot("console-attempts").await;

    page.goto(&format!("{}/dead-letters", console.base))
        .await
        .unwrap();
    let listed = text_of(&browser, "#dead")
        .await
        .expect("the dead letters are listed");
    for expected in [
        first_event.as_str(),
        second_event.as_str(),
        first.as_str(),
        "checkout.session.completed",
        "out of attempts",
    ] {
        assert!(
            listed.contains(expected),
            "{expected} missing from {listed}"
        );
    }
    // Each carries its attempt history (one line per failed attempt).
    click(&browser, Locator::Css("#dead details summary")).await;
    let history = text_of(&browser, "#dead details ol").await.unwrap();
    assert!(history.contains("attempt=1 error="), "{history}");
    browser.screenshot("console-dead-letters").await;

    // Redrive only the first: the confirmation names it, the result says one moved.
    click(
        &browser,
        Locator::Css(&format!("input[value='{first_event}']")),
    )
    .await;
    click(&browser, Locator::Id("redrive-selected")).await;
    let chosen = shown(&browser, "#chosen").await;
    assert_eq!(chosen, first_event);
    click(&browser, Locator::Id("confirm")).await;
    let outcome = shown(&browser, "#outcome").await;
    assert!(
        outcome.starts_with("Moved 1 back into the fulfillment queue; 1 remain parked."),
        "{outcome}"
    );
    let fulfilled = eventually(Duration::from_secs(20), || async {
        (stack.fulfilled_orders(first.as_str()).await == 1).then_some(())
    })
    .await;
    assert!(
        fulfilled.is_some(),
        "the worker fulfills the redriven event"
    );
    assert_eq!(
        stack.fulfilled_by(first.as_str()).await.as_deref(),
        Some("webhook")
    );
    assert_eq!(
        stack.fulfilled_orders(second.as_str()).await,
        0,
        "the other stays parked"
    );
    assert_eq!(
        stack
            .broker
            .depth(&stack.broker.topology.dead_queue())
            .await,
        1
    );

    // Then all that is left.
    page.goto(&format!("{}/dead-letters", console.base))
        .await
        .unwrap();
    let listed = text_of(&browser, "#dead").await.unwrap();
    assert!(
        listed.contains(&second_event) && !listed.contains(&first_event),
        "{listed}"
    );
    click(&browser, Locator::Id("redrive-all")).await;
    click(&browser, Locator::Id("confirm")).await;
    let outcome = shown(&browser, "#outcome").await;
    assert!(outcome.starts_with("Moved 1 back"), "{outcome}");
    let fulfilled = eventually(Duration::from_secs(20), || async {
        (stack.fulfilled_orders(second.as_str()).await == 1).then_some(())
    })
    .await;
    assert!(fulfilled.is_some(), "the worker fulfills the rest");
    page.goto(&format!("{}/dead-letters", console.base))
        .await
        .unwrap();
    assert!(text_of(&browser, "#dead-none").await.is_some());

    // Both actions are in the audit trail, with what they moved.
    let audited: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT operator, detail, outcome FROM console_audit WHERE action = 'redrive' ORDER BY id",
    )
    .fetch_all(&stack.db.pool)
    .await
    .unwrap();
    assert_eq!(
        audited,
        vec![
            (
                OPERATOR.0.to_owned(),
                first_event.clone(),
                "moved 1, 1 remain".to_owned()
            ),
            (
                OPERATOR.0.to_owned(),
                "all".to_owned(),
                "moved 1, 0 remain".to_owned()
            ),
        ]
    );

    browser.close().await;
    console.stop().await;
    stack.stop().await;
}

/// Debian's Prometheus, scraping the in-process ingress's `/metrics` every second.
struct RunningPrometheus {
    url: String,
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl RunningPrometheus {
    async fn scraping(target: &str) -> Option<RunningPrometheus> {
        if std::process::Command::new("prometheus")
            .arg("--version")
            .output()
            .is_err()
        {
            println!("SKIPPED: the webhook charts need Prometheus (Debian's `prometheus`, installed by scripts/ensure-services)");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("console-prometheus-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
                 - job_name: ingress\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = tests::free_port();
        let child = std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus starts");
        let running = RunningPrometheus {
            url: format!("http://127.0.0.1:{port}"),
            child,
            dir,
        };
        // Ready, and the target scraped once (so the counters' rise is seen from zero).
        let scraped = eventually(Duration::from_secs(30), || async {
            let body: serde_json::Value = reqwest::get(format!(
                "{}/api/v1/query?query=up%7Bjob%3D%22ingress%22%7D",
                running.url
            ))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
            (body["data"]["result"][0]["value"][1] == "1").then_some(())
        })
        .await;
        assert!(scraped.is_some(), "Prometheus scrapes the ingress");
        Some(running)
    }
}

impl Drop for RunningPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_overview_charts_the_last_hour_and_says_when_no_worker_leads_the_reconciler() {
    let stack = Stack::start().await;
    let Some(prometheus) =
        RunningPrometheus::scraping(&format!("127.0.0.1:{}", stack.ingress_port)).await
    else {
        stack.stop().await;
        return;
    };
    // A counter is seen to rise only from a scrape that already had it: the first webhook makes
    // the ingress's series exist, and Prometheus sees them before the three that are measured.
    let first = paid_session(&stack.sim, "Edsger");
    let seen = eventually(Duration::from_secs(30), || async {
        let body: serde_json::Value = reqwest::get(format!(
            "{}/api/v1/query?query=ingress_webhook_requests_total%7Boutcome%3D%22published%22%7D",
            prometheus.url
        ))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
        (body["data"]["result"][0]["value"][1] == "1").then_some(())
    })
    .await;
    assert!(seen.is_some(), "Prometheus sees the first webhook");
    let ids: Vec<_> = ["Ada", "Grace", "Alan"]
        .iter()
        .map(|name| paid_session(&stack.sim, name))
        .collect();
    let fulfilled = eventually(Duration::from_secs(20), || async {
        let mut all = true;
        for id in &ids {
            all &= stack.fulfilled_orders(id.as_str()).await == 1;
        }
        all.then_some(())
    })
    .await;
    assert!(fulfilled.is_some(), "the worker fulfills the three");
    assert_eq!(stack.fulfilled_orders(first.as_str()).await, 1);
    let console = Console::start_with(&stack, |settings| {
        settings.console.prometheus_url = prometheus.url.clone();
    })
    .await;
    let cookie = sign_in(&console, VIEWER).await;
    // Bounded wait for Prometheus's next scrapes to see the three published webhooks.
    let page = eventually(Duration::from_secs(30), || async {
        let page = client()
            .get(format!("{}/", console.base))
            .header(COOKIE, &cookie)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let acks = page
            .split("id=\"chart-acks\"")
            .nth(1)?
            .split("</figure>")
            .next()?;
        (acks.contains("<rect") && page.contains("<td>published</td>")).then_some(page)
    })
    .await
    .expect("the overview shows the webhooks Prometheus saw");
    assert!(
        page.contains("Orders fulfilled per minute: 4 in the hour"),
        "{page}"
    );
    let latency = page
        .split("Payment to fulfilled, p99 per 5 minutes: latest ")
        .nth(1)
        .and_then(|rest| rest.split(" s<").next())
        .expect("a latest payment-to-fulfilled figure");
    let seconds: f64 = latency.parse().unwrap_or_else(|_| panic!("{latency}"));
    assert!((0.0..60.0).contains(&seconds), "{seconds}");
    // Each chart draws its bars: one per minute with a fulfillment, one per minute with a p99.
    let chart = |id: &str| {
        page.split(&format!("id=\"{id}\""))
            .nth(1)
            .unwrap()
            .split("</figure>")
            .next()
            .unwrap()
            .to_owned()
    };
    assert!(
        chart("chart-fulfilled").contains("<rect"),
        "bars for the fulfillments"
    );
    let acks = chart("chart-acks");

    assert!(
        acks.contains("<rect"),
        "bars for the acknowledgements: {acks}"
    );
    // The stack runs its worker without the reconciler: the page says nobody leads it.
    assert!(
        page.contains("No worker leads the reconciler"),
        "the missing leader is shown"
    );

    console.stop().await;
    drop(prometheus);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paid_session_whose_webhook_was_lost_is_fulfilled_by_reconciling_its_hour() {
    let stack = Stack::start().await;
    // Stripe delivers to nobody: the payment happens, its webhook is lost.
    stack.sim.state.set_webhook_endpoints(Vec::new()).unwrap();
    let id = paid_session(&stack.sim, "Katherine Johnson");
    assert_eq!(stack.fulfilled_orders(id.as_str()).await, 0);
    let console = Console::start(&stack, 5).await;
    let browser = Browser::start().await;
    let page = browser.client();
    sign_in_with_browser(&browser, &console, OPERATOR).await;
    // Nothing told us of it, so nothing lists it: only Stripe's event list knows.
    assert!(text_of(&browser, "#stuck-none").await.is_some());

    let since = (chrono::Utc::now() - chrono::Duration::minutes(30))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    page.execute(
        "document.getElementById('since').value = arguments[0];",
        vec![serde_json::json!(since)],
    )
    .await
    .unwrap();
    click(&browser, Locator::Id("reconcile")).await;
    let heading = eventually(PAGE_TIMEOUT, || async {
        text_of(&browser, "h1")
            .await
            .filter(|h| h.starts_with("Reconcile "))
    })
    .await
    .expect("the confirmation names the range");
    assert!(heading.ends_with("UTC?"), "{heading}");
    click(&browser, Locator::Id("confirm")).await;
    let outcome = shown(&browser, "#outcome").await;
    assert!(outcome.contains("fulfilled: 1"), "{outcome}");
    browser.screenshot("console-reconciled").await;
    assert_eq!(stack.fulfilled_orders(id.as_str()).await, 1);
    assert_eq!(
        stack.fulfilled_by(id.as_str()).await.as_deref(),
        Some("reconciler")
    );
    let audited: (String, String) =
        sqlx::query_as("SELECT operator, outcome FROM console_audit WHERE action = 'reconcile'")
            .fetch_one(&stack.db.pool)
            .await
            .unwrap();
    assert_eq!(audited.0, OPERATOR.0);
    assert!(audited.1.contains("fulfilled: 1"), "{}", audited.1);

    // A range that ends before it starts is refused before Stripe is asked.
    let cookie = sign_in(&console, OPERATOR).await;
    let refused = client()
        .get(format!(
            "{}/reconcile?since=2026-12-05T02:00&until=2026-12-05T01:00",
            console.base
        ))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("The end is before the start."));

    browser.close().await;
    console.stop().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_drops_only_the_chosen_dead_letter_and_never_all_of_them() {
    let stack = Stack::start().await;
    let ids = stuck_sessions(
        &stack,
        FaultKind::Status(400),
        &["Not Ours", "Paid Customer"],
    )
    .await;
    let dropped = completed_event(&stack, &ids[0]).await;
    let kept = completed_event(&stack, &ids[1]).await;
    let console = Console::start(&stack, 5).await;
    let cookie = sign_in(&console, OPERATOR).await;
    let token = form_token(&console, &cookie).await;
    let post = |body: String| {
        client()
            .post(format!("{}/dead-letters/drop", console.base))
            .header(COOKIE, &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };

    // "Drop all" would be a purge: refused, and nothing moves.
    let refused = post(format!("all=1&csrf={token}")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let dead_queue = stack.broker.topology.dead_queue();
    assert_eq!(stack.broker.depth(&dead_queue).await, 2);

    let answer = post(format!("id={dropped}&csrf={token}")).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let page = answer.text().await.unwrap();
    assert!(
        page.contains("Dropped 1 for good; 1 remain parked."),
        "{page}"
    );
    // The one looked at and put back is requeued by the quorum queue's own process, a moment
    // after the console's channel has closed.
    let parked = eventually(Duration::from_secs(10), || async {
        (stack.broker.depth(&dead_queue).await == 1).then_some(())
    })
    .await;
    assert!(parked.is_some(), "one dead letter is left parked");
    let left = stack
        .broker
        .get(&dead_queue)
        .await
        .expect("the other dead letter is still parked");
    assert_eq!(
        left.delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str()),
        Some(kept.as_str())
    );
    let audited: (String, String) =
        sqlx::query_as("SELECT detail, outcome FROM console_audit WHERE action = 'drop'")
            .fetch_one(&stack.db.pool)
            .await
            .unwrap();
    assert_eq!(audited, (dropped, "dropped 1, 1 remain".to_owned()));

    console.stop().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_management_api_unreachable_the_pages_say_so_and_still_list_the_stuck_session() {
    let stack = Stack::start().await;
    let id = stuck_session(&stack, "Barbara Liskov").await;
    // A port nothing listens on: the broker's management API is down.
    let closed = tests::free_port();
    let mut settings = stack.settings.clone();
    settings.console.host = "127.0.0.1".into();
    settings.console.port = 0;
    settings.console.operators = format!(
        "{} operator {}",
        OPERATOR.0,
        console::operators::hash_password(OPERATOR.1)
    )
    .into();
    settings.console.management_url = format!("http://127.0.0.1:{closed}");
    let app = console::Application::build(settings).await.unwrap();
    let console = Console {
        base: format!("http://127.0.0.1:{}", app.port()),
        service: RunningService::spawn("console", app.stop_handle(), app.run_until_stopped()),
    };
    let cookie = sign_in(&console, OPERATOR).await;
    let get = |path: &'static str| {
        client()
            .get(format!("{}{path}", console.base))
            .header(COOKIE, &cookie)
            .send()
    };
    let overview = get("/").await.unwrap();
    assert_eq!(overview.status(), StatusCode::OK);
    let overview = overview.text().await.unwrap();
    assert!(
        overview.contains("id=\"queues-error\"")
            && overview.contains("the management API did not answer"),
        "{overview}"
    );
    assert!(
        overview.contains(id.as_str()),
        "the stuck session is still listed"
    );
    let dead = get("/dead-letters").await.unwrap().text().await.unwrap();
    assert!(dead.contains("id=\"dead-error\""), "{dead}");
    console.stop().await;
    stack.stop().await;
}

/// Caddy as the operators' single sign-on proxy: HTTP basic authentication, then the console
/// with the authenticated name in `Remote-User` (replacing any the client sent). Killed when
/// dropped.
struct SignOnProxy {
    child: std::process::Child,
    dir: std::path::PathBuf,
    base: String,
}

impl SignOnProxy {
    const PASSWORD: &'static str = "sign-on proxy password";

    async fn start(console: &Console, users: &[&str]) -> SignOnProxy {
        let hash = std::process::Command::new("caddy")
            .args(["hash-password", "--plaintext", Self::PASSWORD])
            .output()
            .expect("caddy hashes a password");
        let hash = String::from_utf8(hash.stdout).unwrap().trim().to_owned();
        let port = tests::free_port();
        let upstream = console.base.trim_start_matches("http://");
        let accounts: String = users.iter().map(|u| format!("\t\t{u} {hash}\n")).collect();
        let caddyfile = format!(
            "{{\n\tadmin off\n\tauto_https off\n}}\nhttp://127.0.0.1:{port} {{\n\tbasicauth {{\n{accounts}\t}}\n\treverse_proxy {upstream} {{\n\t\theader_up Remote-User {{http.auth.user.id}}\n\t}}\n}}\n"
        );
        let dir = std::env::temp_dir().join(format!("sign-on-proxy-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Caddyfile"), caddyfile).unwrap();
        let log = std::fs::File::create(dir.join("caddy.log")).unwrap();
        let child = std::process::Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(dir.join("Caddyfile"))
            .env("HOME", &dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("caddy starts");
        let proxy = SignOnProxy {
            child,
            dir,
            base: format!("http://127.0.0.1:{port}"),
        };
        let up = eventually(Duration::from_secs(20), || async {
            client()
                .get(format!("{}/healthz", proxy.base))
                .send()
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        assert!(
            up.is_some(),
            "caddy listens: {}",
            std::fs::read_to_string(proxy.dir.join("caddy.log")).unwrap_or_default()
        );
        proxy
    }

    /// `GET path` through the proxy as `user`, with `cookie` if any and a forged `Remote-User`.
    async fn get(&self, path: &str, user: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = client()
            .get(format!("{}{path}", self.base))
            .basic_auth(user, Some(Self::PASSWORD))
            .header("Remote-User", PROXY_ONLY);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.unwrap()
    }
}

impl Drop for SignOnProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The session cookie a sign-in answer sets, as a `Cookie` header value.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    let cookie = response.headers().get(SET_COOKIE)?.to_str().ok()?;
    Some(cookie.split(';').next()?.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn behind_the_sign_on_proxy_operators_get_their_listed_role_and_nobody_names_themselves() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if !std::env::split_paths(&path).any(|dir| dir.join("caddy").is_file()) {
        println!("SKIPPED: caddy not installed (scripts/ensure-services installs Debian's)");
        return;
    }
    let stack = Stack::start().await;
    let console = Console::start_with(&stack, |settings| {
        settings.console.proxy_user_header = "Remote-User".into();
        settings.console.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let proxy = SignOnProxy::start(&console, &[PROXY_ONLY, VIEWER.0, "mallory"]).await;

    // The proxy vouches for `pat`, listed as an operator without a password: signed in at
    // /login, with the usual cookie, as an operator.
    let signed_in = proxy.get("/login", PROXY_ONLY, None).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()[LOCATION], "/");
    let pat = session_cookie(&signed_in).expect("a session cookie");
    let overview = proxy.get("/", PROXY_ONLY, Some(&pat)).await;
    assert_eq!(overview.status(), StatusCode::OK);
    let overview = overview.text().await.unwrap();
    assert!(overview.contains("pat (operator)"), "{overview}");
    assert!(
        overview.contains("id=\"reconcile-form\""),
        "an operator may act"
    );

    // `vince` comes through the proxy forging `Remote-User: pat`: the proxy replaces it, and
    // the console's list makes him a viewer. Pat's cookie is no use to him.
    let vince = proxy.get("/login", VIEWER.0, None).await;
    let vince = session_cookie(&vince).expect("a session cookie");
    let overview = proxy
        .get("/", VIEWER.0, Some(&vince))
        .await
        .text()
        .await
        .unwrap();
    assert!(overview.contains("vince (viewer)"), "{overview}");
    assert!(
        !overview.contains("id=\"reconcile-form\""),
        "a viewer may not act"
    );
    let borrowed = proxy.get("/", VIEWER.0, Some(&pat)).await;
    assert_eq!(
        borrowed.status(),
        StatusCode::SEE_OTHER,
        "another's session"
    );
    assert_eq!(borrowed.headers()[LOCATION], "/login");

    // Authenticated by the proxy but not an operator: refused, and told why.
    let mallory = proxy.get("/login", "mallory", None).await;
    assert_eq!(mallory.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(&mallory).is_none());
    let text = mallory.text().await.unwrap();
    assert!(text.contains("not listed in console.operators"), "{text}");

    // The same header straight to the console's port, from an address that is not the proxy,
    // names nobody: the password form, no cookie.
    let direct = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let forged = direct
        .get(format!("{}/login", console.base))
        .header("Remote-User", PROXY_ONLY)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::OK);
    assert!(
        session_cookie(&forged).is_none(),
        "no session for a forged header"
    );
    assert!(forged.text().await.unwrap().contains("type=\"password\""));
    let page = direct
        .get(format!("{}/", console.base))
        .header("Remote-User", PROXY_ONLY)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);

    // And `pat` has no password to guess.
    let guessed = client()
        .post(format!("{}/login", console.base))
        .form(&[("name", PROXY_ONLY), ("password", "-")])
        .send()
        .await
        .unwrap();
    assert_eq!(guessed.status(), StatusCode::UNAUTHORIZED);
    console.stop().await;
}

/// The overview's "as of" line, read inside the page in one step, so a
/// refresh that replaces it between finding and reading cannot fail the read.
async fn as_of(browser: &Browser) -> String {
    let text = browser
        .client()
        .execute(
            "return document.getElementById('as-of').textContent;",
            vec![],
        )
        .await
        .expect("the overview has an as-of line");
    text.as_str().expect("text").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_refresh_ticked_the_overview_shows_a_newly_stuck_session_without_a_reload() {
    let stack = Stack::start().await;
    let console = Console::start_with(&stack, |settings| {
        settings.console.refresh_secs = 1;
    })
    .await;
    let browser = Browser::start().await;
    let page = browser.client();
    sign_in_with_browser(&browser, &console, OPERATOR).await;
    shown(&browser, "#stuck-none").await;
    // Read before the refresh starts: once it runs, `#as-of` is replaced
    // every second and an element found a moment ago may already be gone.
    let since = as_of(&browser).await;

    // The box is the script's: a page without JavaScript never shows it.
    click(&browser, Locator::Id("auto-refresh")).await;
    page.execute("window.stayed = true; return null;", vec![])
        .await
        .unwrap();
    let id = stuck_session(&stack, "Barbara Liskov").await;

    let listed = eventually(Duration::from_secs(20), || async {
        let stuck = text_of(&browser, "#stuck").await?;
        stuck.contains(id.as_str()).then_some(stuck)
    })
    .await;
    let listed = listed.expect("the refreshed overview lists the stuck session");
    assert!(listed.contains("dead"), "{listed}");
    let stayed = page
        .execute("return window.stayed === true;", vec![])
        .await
        .unwrap();
    assert_eq!(stayed, serde_json::Value::Bool(true), "refreshed in place");
    assert_ne!(as_of(&browser).await, since);
    let ticked = page
        .execute(
            "return document.getElementById('auto-refresh').checked;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(ticked, serde_json::Value::Bool(true));
    assert!(
        browser.csp_violations().await.is_empty(),
        "the script is the console's own"
    );
    browser.screenshot("console-refreshed").await;
    console.stop().await;
}
