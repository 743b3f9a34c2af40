//! The operators' console against a database the size of a busy shop's: 100,000 fulfilled
//! orders, 10,000 paid sessions whose fulfillment is stuck, and their 10,000 dead letters parked
//! in RabbitMQ:
//!
//! ```sh
//! cargo run --release -p bench --bin console-bench -- [REQUESTS]
//! ```
//!
//! 1. **Seed**: a fresh database (one set-based statement per table group, not 100k round
//!    trips), the dead letters published to the topology's dead-letter exchange as the worker
//!    publishes them, then `VACUUM (ANALYZE)`.
//! 2. **Plans**: `EXPLAIN (ANALYZE, BUFFERS)` of the SQL behind the overview (the stuck sessions
//!    with the console's list limit + 1, the latest audit entries) and the email search, each as
//!    a custom plan and as the generic plan a prepared statement may switch to after its fifth
//!    run (the console's pool prepares every statement). A sequential scan of `checkout_orders`
//!    or `stripe_events` in any of them fails the run, after the timings are printed.
//! 3. **Timings**: signed in, `REQUESTS` rounds of `GET /healthz` (the baseline: no database,
//!    no broker), `GET /` (the overview), `GET /dead-letters` and `GET /search?q=<email>`, one
//!    after the other on one keep-alive connection; then the overview's three parts and the
//!    dead-letter list's look at the queue called directly, to tell what a slow page waits on.
//!
//! Default 500 requests. Needs `TEST_DATABASE_URL`, `TEST_AMQP_URL` and RabbitMQ's management
//! API on 127.0.0.1:15672 with guest/guest (scripts/ensure-services sets all of them up).

use std::time::{Duration, Instant};

use anyhow::Context;
use bench::report_latency;
use hdrhistogram::Histogram;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use shared::queue::topology::headers;
use sqlx::{PgPool, Row};
use tests::{TestBroker, TestDb};

const ORDERS: i64 = 100_000;
/// Paid sessions with a dead event and no order, each with a dead letter parked.
const STUCK: i64 = 10_000;
/// Distinct customers among the orders: returning customers have two or three orders each, so a
/// search by email lists several rather than redirecting to one.
const CUSTOMERS: i64 = 40_000;
/// The order whose customer the search looks for (customer 4242: three orders).
const SEARCHED_ORDER: i64 = 4242;
/// Operator actions in the audit trail, a few a day for a couple of years.
const AUDIT_ENTRIES: i64 = 2_000;
const OPERATOR: (&str, &str) = ("bench", "a long benchmark password");
/// Requests of each kind before the timed ones: connections opened, statements prepared.
const WARM_UP: usize = 20;
/// Dead letters published before waiting for their confirms.
const PUBLISH_BATCH: usize = 500;

/// `console::audit::recent`'s SQL.
const AUDIT_SQL: &str = "SELECT at, operator, action, session_id, account, detail, outcome \
     FROM console_audit ORDER BY at DESC, id DESC LIMIT $1";

/// `console::lookup::find`'s SQL for an email.
const EMAIL_SQL: &str = "SELECT session_id, account, order_number, state, customer_name, \
     customer_email, amount_total, currency, created_at FROM checkout_orders \
     WHERE lower(customer_email) = lower($1) ORDER BY created_at DESC LIMIT $2";

/// The orders, each with the `checkout.session.completed` event that led to it, in one
/// statement. One completed checkout a minute, the newest now; a third fulfilled by the success
/// page first (its webhook then found the order done), the rest by the worker. Emails as
/// customers type them: one in ten capitalised, which is why the search compares `lower()`.
const SEED_ORDERS: &str = "\
WITH customers AS ( \
    SELECT i, i % $2 AS c, now() - make_interval(mins => ($1 - i)::int) AS paid_at \
    FROM generate_series(1, $1::bigint) AS i \
), people AS ( \
    SELECT i, c, paid_at, \
        (ARRAY['jenny','ana','mohammed','li','sofia','lucas','amara','noah','yuki','olga', \
               'diego','fatima','liam','chen','maya','omar','ines','pavel','zara','tom'])[1 + c % 20] \
            AS first, \
        (ARRAY['rosen','garcia','smith','wang','muller','silva','kowalski','okafor','tanaka', \
               'dubois','rossi','jensen','nguyen','haddad','novak','murphy','costa','berg', \
               'ivanova','kim','lopez','schmidt','ali','brown','moreau'])[1 + (c / 20) % 25] \
            AS last, \
        (ARRAY['example.com','example.org','example.net','mail.example','shop.example', \
               'post.example'])[1 + c % 6] AS domain \
    FROM customers \
), orders AS ( \
    INSERT INTO checkout_orders (session_id, state, customer_name, customer_email, currency, \
        amount_subtotal, amount_total, payment_intent, fulfilled_by, fulfilled_at, \
        session_created, created_at, updated_at) \
    SELECT format('cs_test_b1%s', lpad(i::text, 8, '0')), 'fulfilled', \
        initcap(first) || ' ' || initcap(last), \
        CASE WHEN i % 10 = 0 THEN initcap(first) || '.' || initcap(last) ELSE first || '.' || last END \
            || c || '@' || domain, \
        'usd', 2000 + (i % 7) * 1500, 2000 + (i % 7) * 1500 + 500, \
        format('pi_b1%s', lpad(i::text, 8, '0')), \
        CASE WHEN i % 3 = 0 THEN 'landing' ELSE 'webhook' END, \
        paid_at + interval '1 second', paid_at - interval '3 minutes', \
        paid_at + interval '1 second', paid_at + interval '1 second' \
    FROM people \
    RETURNING session_id, fulfilled_by, fulfilled_at \
) \
INSERT INTO stripe_events (event_id, event_type, session_id, event_created, outcome, attempts, \
    first_seen_at, last_processed_at) \
SELECT 'evt_b1' || substr(session_id, 11), 'checkout.session.completed', session_id, \
    fulfilled_at - interval '1 second', \
    CASE fulfilled_by WHEN 'landing' THEN 'already_fulfilled' ELSE 'fulfilled' END, 1, \
    fulfilled_at, fulfilled_at + interval '50 milliseconds' \
FROM orders";

/// The stuck sessions: a `checkout.session.completed` event given up on (Stripe kept answering
/// 500 through every retry, or refused the request), no order. One every four minutes over the
/// last four weeks, the newest now.
const SEED_STUCK: &str = "\
INSERT INTO stripe_events (event_id, event_type, session_id, event_created, outcome, attempts, \
    last_error, first_seen_at, last_processed_at) \
SELECT format('evt_b2%s', lpad(i::text, 8, '0')), 'checkout.session.completed', \
    format('cs_test_b2%s', lpad(i::text, 8, '0')), paid_at, 'dead', \
    CASE WHEN i % 5 = 0 THEN 1 ELSE 5 END, \
    CASE WHEN i % 5 = 0 \
        THEN 'permanent error: Stripe answered 400 invalid_request_error: No such payment_intent' \
        ELSE 'out of attempts after 5: Stripe answered 500 api_error: An unknown error occurred' \
    END, \
    paid_at + interval '1 second', \
    paid_at + CASE WHEN i % 5 = 0 THEN interval '1 second' ELSE interval '71 minutes' END \
FROM generate_series(1, $1::bigint) AS i, \
    LATERAL (SELECT now() - make_interval(mins => (($1 - i) * 4)::int) AS paid_at) t";

/// Operator actions: a fulfillment of one of the stuck sessions, or a redrive.
const SEED_AUDIT: &str = "\
INSERT INTO console_audit (at, operator, action, session_id, detail, outcome) \
SELECT now() - make_interval(hours => (($1 - i) * 8)::int), \
    (ARRAY['olivia','vince','sam'])[1 + i % 3], \
    CASE WHEN i % 4 = 0 THEN 'redrive' ELSE 'fulfill' END, \
    CASE WHEN i % 4 = 0 THEN NULL ELSE format('cs_test_b2%s', lpad(i::text, 8, '0')) END, \
    CASE WHEN i % 4 = 0 THEN 'all' ELSE '' END, \
    CASE WHEN i % 4 = 0 THEN 'moved 3, 0 remain' ELSE 'fulfilled' END \
FROM generate_series(1, $1::bigint) AS i";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let requests: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(500);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "console bench: {ORDERS} orders, {STUCK} stuck sessions and dead letters, \
         {requests} requests of each kind, {cpus} CPUs"
    );

    let db = TestDb::create().await;
    let broker = TestBroker::create().await;

    // 1. Seed.
    let started = Instant::now();
    sqlx::query(SEED_ORDERS)
        .bind(ORDERS)
        .bind(CUSTOMERS)
        .execute(&db.pool)
        .await
        .context("seeding the orders")?;
    sqlx::query(SEED_STUCK)
        .bind(STUCK)
        .execute(&db.pool)
        .await
        .context("seeding the stuck sessions")?;
    sqlx::query(SEED_AUDIT)
        .bind(AUDIT_ENTRIES)
        .execute(&db.pool)
        .await
        .context("seeding the audit trail")?;
    println!("seeded the database in {:.1?}", started.elapsed());
    let started = Instant::now();
    park_dead_letters(&db.pool, &broker).await?;
    println!("parked {STUCK} dead letters in {:.1?}", started.elapsed());
    // A live database's tables have been through autovacuum, which also sets the visibility
    // map that index-only scans rely on; freshly inserted rows have not.
    sqlx::query("VACUUM (ANALYZE) checkout_orders, stripe_events, console_audit")
        .execute(&db.pool)
        .await?;
    let stuck = shared::store::events::paid_unfulfilled(&db.pool, Duration::ZERO).await?;
    anyhow::ensure!(
        stuck == STUCK,
        "{stuck} paid-but-unfulfilled sessions, not {STUCK}"
    );
    let parked = broker.depth(&broker.topology.dead_queue()).await;
    anyhow::ensure!(
        parked as i64 == STUCK,
        "{parked} dead letters parked, not {STUCK}"
    );

    // 2. Plans.
    let operators = format!(
        "# name role hash\n{} operator {}\n",
        OPERATOR.0,
        console::operators::hash_password(OPERATOR.1)
    );
    let settings = tests::settings(&db, &broker, "http://127.0.0.1:9", |s| {
        s.console.host = "127.0.0.1".into();
        s.console.port = 0;
        s.console.operators = operators.into();
        s.console.management_url = "http://127.0.0.1:15672".into();
        s.console.management_username = "guest".into();
        s.console.management_password = "guest".to_owned().into();
    });
    let limit = settings.console.list_limit;
    let email: String =
        sqlx::query_scalar("SELECT customer_email FROM checkout_orders WHERE session_id = $1")
            .bind(format!("cs_test_b1{SEARCHED_ORDER:08}"))
            .fetch_one(&db.pool)
            .await?;
    same_rows(&db.pool, limit, &email).await?;
    let email_literal = format!("'{}'", email.replace('\'', "''"));
    let mut full_scans = Vec::new();
    // The statement the function runs, not a copy of it.
    let stuck_sql = shared::store::events::paid_unfulfilled_sessions_sql();
    for (name, sql, arguments) in [
        (
            "overview: paid_unfulfilled_sessions",
            stuck_sql.as_str(),
            format!("{}", limit + 1),
        ),
        ("overview: audit::recent", AUDIT_SQL, "10".to_owned()),
        (
            "search: lookup::find by email",
            EMAIL_SQL,
            format!("{email_literal}, {limit}"),
        ),
    ] {
        for mode in ["custom", "generic"] {
            let plan = explain(&db.pool, sql, &arguments, mode).await?;
            println!("\n-- plan: {name} ({mode}), EXECUTE ({arguments})\n{plan}");
            for table in ["checkout_orders", "stripe_events"] {
                if plan.contains(&format!("Seq Scan on {table}")) {
                    full_scans.push(format!("{name} ({mode}): Seq Scan on {table}"));
                }
            }
        }
    }
    println!();

    // 3. Timings.
    let application = console::Application::build(settings.clone()).await?;
    let base = format!("http://127.0.0.1:{}", application.port());
    let stop = application.stop_handle();
    let running = tokio::spawn(application.run_until_stopped());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let cookie = sign_in(&http, &base).await?;
    let search = format!("/search?q={}", urlencode(&email));
    let dead_queue = broker.topology.dead_queue();
    let first_stuck = "cs_test_b200000001";
    // What each page must show for its timing to count: the page really did its work.
    let pages: [(&str, &str, &str); 4] = [
        ("baseline: GET /healthz", "/healthz", "ok"),
        ("GET / (overview)", "/", first_stuck),
        ("GET /dead-letters", "/dead-letters", "evt_b200000001"),
        ("GET /search?q=<email>", &search, "cs_test_b1"),
    ];
    let management = console::management::Management::new(&settings.console, &settings.broker)?;
    let mut timings: Vec<Histogram<u64>> = (0..pages.len() + 4)
        .map(|_| Histogram::new(3))
        .collect::<Result<_, _>>()?;
    for round in 0..WARM_UP + requests {
        for (i, (name, path, expected)) in pages.iter().enumerate() {
            let started = Instant::now();
            let response = http
                .get(format!("{base}{path}"))
                .header(COOKIE, &cookie)
                .send()
                .await?;
            let status = response.status();
            let body = response.text().await?;
            let took = started.elapsed();
            anyhow::ensure!(
                status == StatusCode::OK && body.contains(expected),
                "{name}: {status}, without {expected:?}"
            );
            if i == 1 {
                anyhow::ensure!(
                    body.contains(&dead_queue) && !body.contains("queues-error"),
                    "the overview shows no queue table"
                );
            }
            if round >= WARM_UP {
                timings[i].record(took.as_micros() as u64)?;
            }
        }
        // The overview's parts, one at a time, as the page runs them concurrently.
        let started = Instant::now();
        let listed = shared::store::events::paid_unfulfilled_sessions(&db.pool, limit + 1).await?;
        let sql_stuck = started.elapsed();
        let started = Instant::now();
        console::audit::recent(&db.pool, 10).await?;
        let sql_audit = started.elapsed();
        let started = Instant::now();
        management.queues().await?;
        let queues = started.elapsed();
        let started = Instant::now();
        let peeked = management.peek(&dead_queue, limit).await?;
        let peek = started.elapsed();
        anyhow::ensure!(listed.len() == limit as usize + 1 && peeked.len() == limit as usize);
        if round >= WARM_UP {
            for (i, took) in [sql_stuck, sql_audit, queues, peek].into_iter().enumerate() {
                timings[pages.len() + i].record(took.as_micros() as u64)?;
            }
        }
    }

    println!("{requests} rounds after {WARM_UP} unrecorded, one request at a time:");
    for ((name, _, _), timing) in pages.iter().zip(&timings) {
        report_latency(name, timing);
    }
    let healthz = &timings[0];
    for (i, (name, _, _)) in pages.iter().enumerate().skip(1) {
        println!(
            "ratio {name} to baseline: p50 {:.1}x  p99 {:.1}x",
            ratio(&timings[i], healthz, 0.5),
            ratio(&timings[i], healthz, 0.99)
        );
    }
    println!("the pages' parts, called directly:");
    for (name, timing) in [
        "overview: paid_unfulfilled_sessions",
        "overview: audit::recent(10)",
        "overview: management API queues",
        "dead letters: management API peek",
    ]
    .iter()
    .zip(&timings[pages.len()..])
    {
        report_latency(name, timing);
    }

    // Every look at the dead letters put them back. The broker applies the last look's requeue
    // after answering it, so the count may trail for a moment.
    stop.stop().await;
    running.await??;
    let parked = tests::eventually(Duration::from_secs(10), || async {
        let parked = broker.depth(&dead_queue).await;
        (parked as i64 == STUCK).then_some(parked)
    })
    .await;
    println!("dead letters still parked: {parked:?} (expected {STUCK})");
    drop(broker);
    drop(db);
    anyhow::ensure!(parked.is_some(), "the dead-letter list lost messages");
    anyhow::ensure!(
        full_scans.is_empty(),
        "sequential scans of a large table: {full_scans:?}"
    );
    println!("plans: no sequential scan of checkout_orders or stripe_events");
    Ok(())
}

/// One dead letter per stuck session, as the worker parks them: the Stripe event as the body,
/// its id as the message id, the reason and one history line per failed attempt, published to
/// the dead-letter exchange with publisher confirms.
async fn park_dead_letters(pool: &PgPool, broker: &TestBroker) -> anyhow::Result<()> {
    let rows = sqlx::query(
        "SELECT event_id, session_id, extract(epoch FROM event_created)::bigint AS created, \
             attempts, last_error FROM stripe_events WHERE outcome = 'dead' \
         ORDER BY event_created",
    )
    .fetch_all(pool)
    .await?;
    let channel = broker.connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let exchange = broker.topology.dead_exchange();
    for batch in rows.chunks(PUBLISH_BATCH) {
        let mut confirms = Vec::with_capacity(batch.len());
        for row in batch {
            let event_id: String = row.try_get("event_id")?;
            let session_id: String = row.try_get("session_id")?;
            let created: i64 = row.try_get("created")?;
            let attempts: i32 = row.try_get("attempts")?;
            let reason: String = row.try_get("last_error")?;
            let last_error = reason
                .split_once(": ")
                .map_or(reason.as_str(), |(_, error)| error);
            let history = (1..=attempts)
                .map(|n| format!("attempt={n} error={last_error}"))
                .collect::<Vec<_>>()
                .join("\n");
            let body = serde_json::json!({
                "id": event_id,
                "object": "event",
                "type": "checkout.session.completed",
                "created": created,
                "livemode": false,
                "data": {"object": {
                    "id": session_id,
                    "object": "checkout.session",
                    "payment_status": "paid",
                }},
            });
            let mut table = FieldTable::default();
            table.insert(
                ShortString::from(headers::ATTEMPTS),
                AMQPValue::LongUInt(attempts as u32),
            );
            table.insert(
                ShortString::from(headers::DEAD_REASON),
                AMQPValue::LongString(LongString::from(reason.clone())),
            );
            table.insert(
                ShortString::from(headers::ATTEMPT_HISTORY),
                AMQPValue::LongString(LongString::from(history)),
            );
            let confirm = channel
                .basic_publish(
                    &exchange,
                    "checkout.session.completed",
                    BasicPublishOptions::default(),
                    &serde_json::to_vec(&body)?,
                    BasicProperties::default()
                        .with_message_id(event_id.into())
                        .with_type("checkout.session.completed".into())
                        .with_content_type("application/json".into())
                        .with_delivery_mode(2)
                        .with_headers(table),
                )
                .await?;
            confirms.push(confirm);
        }
        for confirmation in futures::future::join_all(confirms).await {
            anyhow::ensure!(confirmation?.is_ack(), "the broker refused a dead letter");
        }
    }
    let _ = channel.close(200, "parked").await;
    Ok(())
}

/// The copies of the console's SQL return what the console's functions return, so the plans
/// printed are the plans of the queries it runs.
async fn same_rows(pool: &PgPool, limit: u32, email: &str) -> anyhow::Result<()> {
    let copied: Vec<(chrono::DateTime<chrono::Utc>, String)> = sqlx::query(AUDIT_SQL)
        .bind(10_i64)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("at")?, row.try_get("operator")?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let theirs: Vec<_> = console::audit::recent(pool, 10)
        .await?
        .into_iter()
        .map(|entry| (entry.at, entry.operator))
        .collect();
    anyhow::ensure!(
        copied == theirs && copied.len() == 10,
        "AUDIT_SQL no longer matches audit::recent"
    );

    let copied: Vec<String> = sqlx::query(EMAIL_SQL)
        .bind(email)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| row.try_get("session_id"))
        .collect::<Result<_, sqlx::Error>>()?;
    let query = console::lookup::Query::parse(email).context("the email parses as a search")?;
    let theirs: Vec<String> = console::lookup::find(pool, &query, limit)
        .await?
        .into_iter()
        .map(|hit| hit.session_id)
        .collect();
    anyhow::ensure!(
        copied == theirs && copied.len() > 1,
        "EMAIL_SQL no longer matches lookup::find ({} vs {} orders)",
        copied.len(),
        theirs.len()
    );
    Ok(())
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of `sql` prepared and executed with `arguments`, planned as
/// `mode` (`custom`: for these values; `generic`: for any, as a prepared statement is planned
/// once the generic plan is judged no worse).
async fn explain(pool: &PgPool, sql: &str, arguments: &str, mode: &str) -> anyhow::Result<String> {
    let mut conn = pool.acquire().await?;
    sqlx::raw_sql(&format!(
        "SET plan_cache_mode = force_{mode}_plan; PREPARE bench_plan AS {sql}"
    ))
    .execute(&mut *conn)
    .await?;
    let rows = sqlx::raw_sql(&format!(
        "EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_plan({arguments})"
    ))
    .fetch_all(&mut *conn)
    .await;
    sqlx::raw_sql("DEALLOCATE bench_plan; RESET plan_cache_mode")
        .execute(&mut *conn)
        .await?;
    let lines = rows?
        .iter()
        .map(|row| row.try_get::<String, _>(0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(lines.join("\n"))
}

/// Signs in over HTTP as the console's form does; the `Cookie` header value to send.
async fn sign_in(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base}/login"))
        .form(&[("name", OPERATOR.0), ("password", OPERATOR.1)])
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == StatusCode::SEE_OTHER,
        "sign-in answered {}",
        response.status()
    );
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .context("no session cookie")?
        .to_str()?;
    Ok(cookie.split(';').next().unwrap_or_default().to_owned())
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn ratio(page: &Histogram<u64>, baseline: &Histogram<u64>, quantile: f64) -> f64 {
    page.value_at_quantile(quantile) as f64 / baseline.value_at_quantile(quantile).max(1) as f64
}
