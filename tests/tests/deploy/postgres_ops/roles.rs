//! The two roles: the migration role owns the schema, the application role runs worker and
//! landing with row rights only, and `roles.sql` makes them on a fresh database (through the
//! container's init script) or on one the superuser migrated (by hand, as the RUNBOOK says).

use std::time::Duration;

use shared::Trigger;
use sqlx::{Connection, PgConnection, PgPool};
use tests::eventually;
use tests::service::RunningService;

use super::support::{
    assert_success, init_roles_script, pool_for, roles_sql, stderr, worker_migrate, Deployment,
    Roles, ThrowawayDatabase,
};
use tests::probes::{fulfillment_effects, wait_for_outcome, wait_for_state};
use tests::worker_support::{paid_session, publish_event, publisher, start_worker, WAIT};

/// The SQLSTATE of a statement `pool` runs, `None` if it succeeds.
async fn sqlstate(pool: &PgPool, statement: &str) -> Option<String> {
    match sqlx::query(statement).execute(pool).await {
        Ok(_) => None,
        Err(sqlx::Error::Database(e)) => Some(e.code().unwrap_or_default().into_owned()),
        Err(e) => panic!("{statement}: not a database error: {e}"),
    }
}

/// (superuser, create role, create database, bypass RLS) of `role`.
async fn attributes(pool: &PgPool, role: &str) -> (bool, bool, bool, bool) {
    sqlx::query_as(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles \
         WHERE rolname = $1",
    )
    .bind(role)
    .fetch_one(pool)
    .await
    .expect("the role exists")
}

/// Tables of `public` not owned by `owner`.
async fn tables_not_owned_by(pool: &PgPool, owner: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tableowner <> $1",
    )
    .bind(owner)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_application_role_fulfills_through_the_queue_the_outbox_and_the_reconciler() {
    let deployment = Deployment::start().await;
    let stack = &deployment.stack;
    // One webhook arrives; the other was lost, and only the reconciler can find its session.
    let (delivered, event) = paid_session(&stack.sim.state);
    let (lost, _) = paid_session(&stack.sim.state);
    let worker = start_worker(stack, |s| s.worker.reconcile_interval_secs = 1).await;

    publish_event(stack, &publisher(stack).await, &event).await;

    assert!(wait_for_state(&stack.db.pool, &delivered, "fulfilled").await);
    assert!(wait_for_state(&stack.db.pool, &lost, "fulfilled").await);
    let fulfilled_by: String =
        sqlx::query_scalar("SELECT fulfilled_by FROM checkout_orders WHERE session_id = $1")
            .bind(&lost)
            .fetch_one(&stack.db.pool)
            .await
            .unwrap();
    assert_eq!(fulfilled_by, "reconciler");
    assert!(worker.is_leader(), "the reconciler's leader lock is taken");
    for id in [&delivered, &lost] {
        assert_eq!(
            fulfillment_effects(&stack.db.pool, id).await,
            (1, 1, 1),
            "{id}"
        );
    }
    assert!(wait_for_outcome(&stack.db.pool, event["id"].as_str().unwrap(), "fulfilled").await);
    let relayed = eventually(WAIT, || async {
        let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL")
            .fetch_one(&stack.db.pool)
            .await
            .unwrap();
        (sent == 2).then_some(())
    })
    .await;
    assert!(
        relayed.is_some(),
        "both announcements are relayed and marked sent"
    );
    let cursor = eventually(WAIT, || async {
        sqlx::query_scalar::<_, i64>("SELECT position FROM sweep_cursors WHERE name = $1")
            .bind(shared::store::cursors::RECONCILER)
            .fetch_optional(&stack.db.pool)
            .await
            .unwrap()
    })
    .await;
    assert!(cursor.is_some(), "the reconciler saved its cursor");
    // Nothing but the application role stays connected (`worker migrate`'s pool is closing).
    let only_app = eventually(WAIT, || async {
        let users: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT usename::text FROM pg_stat_activity \
             WHERE datname = current_database()",
        )
        .fetch_all(&stack.db.pool)
        .await
        .unwrap();
        (users == [deployment.roles.app.clone()]).then_some(())
    })
    .await;
    assert!(only_app.is_some(), "only the application role is connected");
    worker.shutdown().await;
}

#[tokio::test]
async fn the_success_page_fulfills_as_the_application_role() {
    let deployment = Deployment::start().await;
    let stack = &deployment.stack;
    let id = tests::paid_session(&stack.sim, "Jenny Rosen");
    let settings = tests::settings(&stack.db, &stack.broker, &stack.sim.base_url, |s| {
        s.landing.host = "127.0.0.1".into();
        s.landing.port = 0;
        s.landing.public_base_url = "http://shop.test".into();
    });
    let app = landing::Application::build(settings)
        .await
        .expect("landing builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let landing = RunningService::spawn("landing", app.stop_handle(), app.run_until_stopped());

    let response = reqwest::get(format!("{address}/order/success?session_id={id}"))
        .await
        .expect("landing answers");

    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("Thanks for your order, Jenny Rosen!"),
        "{page}"
    );
    let fulfilled_by: String =
        sqlx::query_scalar("SELECT fulfilled_by FROM checkout_orders WHERE session_id = $1")
            .bind(id.as_str())
            .fetch_one(&stack.db.pool)
            .await
            .unwrap();
    assert_eq!(fulfilled_by, "landing");
    landing.stop().await.expect("landing drains");
}

#[tokio::test]
async fn the_application_role_cannot_change_the_schema_and_neither_role_is_a_superuser() {
    let deployment = Deployment::start().await;
    let app = &deployment.stack.db.pool;

    for statement in [
        "DROP TABLE order_line_items",
        "CREATE TABLE intruder (id int)",
        "ALTER TABLE checkout_orders ADD COLUMN note text",
        "CREATE INDEX intruder_idx ON checkout_orders (customer_email)",
        "TRUNCATE outbox",
        "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "DROP TABLE _sqlx_migrations",
        "CREATE SCHEMA intruder",
        "CREATE ROLE intruder",
    ] {
        // 42501: insufficient_privilege ("must be owner of table", "permission denied for …").
        assert_eq!(
            sqlstate(app, statement).await.as_deref(),
            Some("42501"),
            "{statement}"
        );
    }
    assert_eq!(
        attributes(app, &deployment.roles.app).await,
        (false, false, false, false)
    );
    assert_eq!(
        attributes(app, &deployment.roles.migration).await,
        (false, false, false, false)
    );
    assert!(tables_not_owned_by(app, &deployment.roles.migration)
        .await
        .is_empty());
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(app)
            .await
            .unwrap();
    assert_eq!(
        tables, 13,
        "the twelve tables (fulfillment_claims the newest) and sqlx's ledger are all still there"
    );
}

#[tokio::test]
async fn what_a_later_migration_creates_is_open_to_the_application_role_by_default() {
    let deployment = Deployment::start().await;
    let migration = pool_for(&deployment.migration_url).await;
    // A future migration: a table with a sequence, and a function.
    sqlx::raw_sql(
        "CREATE TABLE refunds (id BIGSERIAL PRIMARY KEY, session_id TEXT NOT NULL); \
         CREATE FUNCTION refund_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM refunds';",
    )
    .execute(&migration)
    .await
    .expect("the migration role creates objects in public");
    let app = &deployment.stack.db.pool;

    sqlx::query("INSERT INTO refunds (session_id) VALUES ('cs_test_a'), ('cs_test_b')")
        .execute(app)
        .await
        .expect("the application role writes a new table and uses its sequence");
    sqlx::query("UPDATE refunds SET session_id = 'cs_test_c' WHERE id = 2")
        .execute(app)
        .await
        .unwrap();
    sqlx::query("DELETE FROM refunds WHERE id = 1")
        .execute(app)
        .await
        .unwrap();
    let count: i64 = sqlx::query_scalar("SELECT refund_count()")
        .fetch_one(app)
        .await
        .expect("the application role runs a new function");

    assert_eq!(count, 1);
    assert_eq!(
        sqlstate(app, "DROP TABLE refunds").await.as_deref(),
        Some("42501")
    );
    migration.close().await;
}

#[tokio::test]
async fn roles_sql_hands_a_database_the_superuser_migrated_to_the_two_roles_and_can_run_again() {
    let roles = Roles::new().await;
    let database = ThrowawayDatabase::create().await;
    // The deployment before: the superuser ran the migrations and owns everything.
    worker_migrate(&database.admin_url())
        .await
        .expect("the superuser migrates");

    assert_success("roles.sql", &roles.apply_by_hand(&database, true));
    // Run again without passwords (e.g. after a restore): the roles keep theirs.
    assert_success("roles.sql again", &roles.apply_by_hand(&database, false));
    // The migration role can now run `worker migrate` (the ledger is its own) and the
    // application role fulfills.
    let deployment = Deployment::on(database, roles).await;
    let stack = &deployment.stack;
    let id = tests::paid_session(&stack.sim, "Jenny Rosen");
    stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .expect("the application role fulfills");

    let order = stack.fulfiller.stored_order(&id).await.unwrap();
    assert_eq!(
        order.expect("the order is stored").customer_name.as_deref(),
        Some("Jenny Rosen")
    );
    let app = &stack.db.pool;
    assert!(tables_not_owned_by(app, &deployment.roles.migration)
        .await
        .is_empty());
    let sequence_owner: String = sqlx::query_scalar(
        "SELECT pg_get_userbyid(relowner)::text FROM pg_class \
         WHERE relname = 'checkout_orders_order_number_seq'",
    )
    .fetch_one(app)
    .await
    .unwrap();
    assert_eq!(sequence_owner, deployment.roles.migration);
    assert_eq!(
        sqlstate(app, "DROP TABLE outbox").await.as_deref(),
        Some("42501")
    );
}

#[tokio::test]
async fn roles_sql_refuses_to_demote_the_admin_running_it_or_to_merge_the_two_roles() {
    let roles = Roles::new().await;
    let database = ThrowawayDatabase::create().await;
    // A superuser of this test's own, named like the application role, runs roles.sql.
    sqlx::query(&format!(
        "CREATE ROLE \"{}\" SUPERUSER LOGIN PASSWORD '{}'",
        roles.app, roles.app_password
    ))
    .execute(&mut super::support::admin_connection().await)
    .await
    .unwrap();
    let as_that_admin = database.url_as(&roles.app, &roles.app_password);

    let demoting = roles_sql(
        &as_that_admin,
        &[
            ("migration_role", roles.migration.clone()),
            ("app_role", roles.app.clone()),
        ],
    );
    let merging = roles_sql(
        &database.admin_url(),
        &[
            ("migration_role", roles.migration.clone()),
            ("app_role", roles.migration.clone()),
        ],
    );
    let unnamed = roles_sql(&database.admin_url(), &[("app_role", roles.app.clone())]);

    for (out, says) in [
        (&demoting, "three different roles"),
        (&merging, "three different roles"),
        (&unnamed, "needs -v migration_role=NAME"),
    ] {
        assert!(!out.status.success());
        assert!(stderr(out).contains(says), "{}", stderr(out));
    }
    let mut check = PgConnection::connect(&as_that_admin).await.unwrap();
    let still_super: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut check)
            .await
            .unwrap();
    assert!(still_super, "the admin is still a superuser");
    let migration_made: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)")
            .bind(&roles.migration)
            .fetch_one(&mut check)
            .await
            .unwrap();
    assert!(!migration_made, "nothing was created");
    check.close().await.ok();
}

#[tokio::test]
async fn the_init_script_stops_the_initialisation_without_a_password_and_also_runs_as_a_program() {
    let roles = Roles::new().await;
    let database = ThrowawayDatabase::create().await;
    let names = [
        ("POSTGRES_MIGRATION_USER", roles.migration.as_str()),
        ("POSTGRES_APP_USER", roles.app.as_str()),
        (
            "POSTGRES_MIGRATION_PASSWORD",
            roles.migration_password.as_str(),
        ),
    ];

    let missing = init_roles_script(&database.name, true, &names);

    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("set POSTGRES_APP_PASSWORD (or POSTGRES_APP_PASSWORD_FILE)"));
    assert!(
        !String::from_utf8_lossy(&missing.stdout).contains("entrypoint-continues"),
        "the sourcing entrypoint stops"
    );

    let mut complete = names.to_vec();
    complete.push(("POSTGRES_APP_PASSWORD", roles.app_password.as_str()));
    let run = init_roles_script(&database.name, false, &complete);

    assert_success("the init script run as a program", &run);
    let app_url = database.url_as(&roles.app, &roles.app_password);
    let mut app = tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(&app_url))
        .await
        .expect("connects in time")
        .expect("the application role logs in with its password");
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut app)
        .await
        .unwrap();
    assert_eq!(user, roles.app);
    app.close().await.ok();
}
