//! `dependency_up` follows an outage without anyone calling `/readyz`. In the compose stack only
//! Prometheus asks the services anything regularly; a gauge refreshed by `/readyz` alone kept
//! its last value (or was never set) while Postgres was down, and the DependencyUnreachable
//! alert could not fire. Here a worker and landing run against their own database, which is then
//! dropped under them: their next scrapes must say so.

use std::time::Duration;

use sqlx::Connection;
use tests::{admin_database_url, eventually, TestStack};

const WAIT: Duration = Duration::from_secs(20);

/// The value of `dependency_up{dependency="<name>"}` in a scrape, if the series is there.
fn dependency_up(scrape: &str, name: &str) -> Option<f64> {
    let label = format!("dependency=\"{name}\"");
    scrape
        .lines()
        .find(|l| l.starts_with("dependency_up{") && l.contains(&label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(port: u16) -> Option<String> {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()
}

async fn database_gauge_becomes(port: u16, expected: f64) -> Option<String> {
    eventually(WAIT, || async {
        let text = scrape(port).await?;
        (dependency_up(&text, "database") == Some(expected)).then_some(text)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_alone_report_the_database_up_then_down() {
    let stack = TestStack::start_with(|s| {
        s.worker.host = "127.0.0.1".into();
        s.worker.port = 0;
        s.worker.reconcile_interval_secs = 0;
        s.landing.host = "127.0.0.1".into();
        s.landing.port = 0;
    })
    .await;
    let worker = worker::Application::build(stack.settings.clone())
        .await
        .expect("worker builds");
    let worker_port = worker.port();
    let worker_stop = worker.stop_handle();
    let worker_task = tokio::spawn(worker.run_until_stopped());
    let landing = landing::Application::build(stack.settings.clone())
        .await
        .expect("landing builds");
    let landing_port = landing.port();
    let landing_stop = landing.stop_handle();
    tokio::spawn(landing.run_until_stopped());

    // Never a /readyz: the first scrapes already know the database answers.
    for (service, port) in [("worker", worker_port), ("landing", landing_port)] {
        let up = database_gauge_becomes(port, 1.0).await;
        assert!(
            up.is_some(),
            "{service}'s scrape reports the database up: {:?}",
            scrape(port).await.map(|t| dependency_up(&t, "database"))
        );
    }

    // The outage: the database disappears, its connections are ended.
    let mut admin = sqlx::PgConnection::connect(&admin_database_url())
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", stack.db.name))
        .execute(&mut admin)
        .await
        .expect("drop the service's database");

    for (service, port) in [("worker", worker_port), ("landing", landing_port)] {
        let down = database_gauge_becomes(port, 0.0).await;
        assert!(
            down.is_some(),
            "{service}'s scrape reports the database down: {:?}",
            scrape(port).await.map(|t| dependency_up(&t, "database"))
        );
    }

    // With its database gone, how cleanly each drains is not what this test is about.
    worker_stop.stop().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), worker_task).await;
    landing_stop.stop().await;
}

/// The value of an unlabelled gauge in a scrape.
fn gauge(scrape: &str, name: &str) -> Option<f64> {
    scrape
        .lines()
        .find(|l| l.split(' ').next() == Some(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The connection budget's two sides, as Prometheus adds them up over every replica
/// (DatabaseConnectionsOversubscribed): what this process's pool may open, and what Postgres
/// allows in all. A worker alone in this process, so the pool gauge is its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_exposes_its_pool_size_and_the_servers_connection_limit() {
    let stack = TestStack::start_with(|s| {
        s.worker.host = "127.0.0.1".into();
        s.worker.port = 0;
        s.worker.prefetch = 5;
        s.database.max_connections = 0;
    })
    .await;
    let needed = stack.settings.worker_connections_needed();
    let worker = worker::Application::build(stack.settings.clone())
        .await
        .expect("worker builds");
    let port = worker.port();
    let stop = worker.stop_handle();
    let task = tokio::spawn(worker.run_until_stopped());

    let server_limit: String = sqlx::query_scalar("SHOW max_connections")
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    let text = eventually(WAIT, || async {
        let text = scrape(port).await?;
        gauge(&text, "database_server_max_connections")
            .is_some()
            .then_some(text)
    })
    .await
    .expect("the worker's scrape reports Postgres's max_connections");
    assert_eq!(
        gauge(&text, "database_server_max_connections"),
        Some(server_limit.parse::<f64>().unwrap()),
        "Postgres's own max_connections"
    );
    assert_eq!(
        gauge(&text, "database_pool_max_connections"),
        Some(f64::from(needed)),
        "the worker's pool, sized from prefetch 5 + reconcile_concurrency + 2"
    );

    stop.stop().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}
