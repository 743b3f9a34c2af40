//! `deploy/postgres/backup` and `restore` as an operator runs them: a dump of a database with real
//! orders restores into a fresh database row for row; a damaged dump, or a target that is not
//! fresh, is refused before anything is written, and a restore that fails half-way leaves nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shared::Trigger;
use sqlx::PgPool;

use super::support::{assert_success, pool_for, repo_file, stderr, Deployment, ThrowawayDatabase};
use tests::probes::{wait_for_outcome, wait_for_state};
use tests::worker_support::{
    delayed_session, paid_session, publish_event, publisher, start_worker, WAIT,
};

/// Every table the migrations make, and sqlx's ledger of them.
const TABLES: [&str; 6] = [
    "checkout_orders",
    "order_line_items",
    "stripe_events",
    "outbox",
    "sweep_cursors",
    "_sqlx_migrations",
];

/// A directory for dumps, removed when dropped.
struct BackupDir(PathBuf);

impl BackupDir {
    fn new() -> BackupDir {
        let dir = std::env::temp_dir().join(format!("pg-backups-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        BackupDir(dir)
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for BackupDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `deploy/postgres/<script> ARGS`, the PostgreSQL programs run directly (no PG_CLIENT).
fn script(name: &str, args: &[&str]) -> Output {
    Command::new(repo_file(&format!("deploy/postgres/{name}")))
        .args(args)
        .env_remove("PG_CLIENT")
        .output()
        .unwrap_or_else(|e| panic!("deploy/postgres/{name} runs: {e}"))
}

/// A backup of `deployment`'s database (as the admin) into `dir`; the dump's path.
fn back_up(deployment: &Deployment, dir: &Path, keep: &str) -> PathBuf {
    let out = script(
        "backup",
        &[
            "--dir",
            dir.to_str().unwrap(),
            "--keep",
            keep,
            &deployment.database.admin_url(),
        ],
    );
    assert_success("backup", &out);
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn restore(dump: &Path, target: &ThrowawayDatabase) -> Output {
    script("restore", &[dump.to_str().unwrap(), &target.admin_url()])
}

/// Every row of `table` as text, in a stable order.
async fn rows(pool: &PgPool, table: &str) -> Vec<String> {
    sqlx::query_scalar(&format!("SELECT t::text FROM {table} t ORDER BY 1"))
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("read {table}: {e}"))
}

/// The order-number sequence's position: a restored shop must not hand out a number again.
async fn order_number_sequence(pool: &PgPool) -> (i64, bool) {
    sqlx::query_as("SELECT last_value, is_called FROM checkout_orders_order_number_seq")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_backup_restores_into_a_fresh_database_with_every_order_line_item_audit_and_outbox_row() {
    let deployment = Deployment::start().await;
    let stack = &deployment.stack;
    let worker = start_worker(stack, |_| {}).await;
    let channel = publisher(stack).await;
    let mut paid = Vec::new();
    for _ in 0..3 {
        let (id, event) = paid_session(&stack.sim.state);
        publish_event(stack, &channel, &event).await;
        paid.push((id, event["id"].as_str().unwrap().to_owned()));
    }
    let (waiting, event) = delayed_session(&stack.sim.state);
    publish_event(stack, &channel, &event).await;
    for (id, event_id) in &paid {
        assert!(wait_for_state(&stack.db.pool, id, "fulfilled").await);
        assert!(wait_for_outcome(&stack.db.pool, event_id, "fulfilled").await);
    }
    assert!(wait_for_state(&stack.db.pool, &waiting, "awaiting_payment").await);
    let relayed = tests::eventually(WAIT, || async {
        let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            .fetch_one(&stack.db.pool)
            .await
            .unwrap();
        (unsent == 0).then_some(())
    })
    .await;
    assert!(relayed.is_some(), "the outbox is relayed");
    // The backup of a quiet database, so that what it holds can be compared row for row.
    worker.shutdown().await;
    let dir = BackupDir::new();
    // Dumps of earlier days and a file that is no dump: two dumps are kept, the file is left.
    for old in ["20250101T020000Z", "20250102T020000Z", "20250103T020000Z"] {
        std::fs::write(dir.0.join(format!("fulfillment-{old}.dump")), "old").unwrap();
        std::fs::write(dir.0.join(format!("fulfillment-{old}.dump.sha256")), "x").unwrap();
    }
    std::fs::write(dir.0.join("notes.txt"), "keep me").unwrap();

    let dump = back_up(&deployment, &dir.0, "2");
    let target = ThrowawayDatabase::create().await;
    let out = restore(&dump, &target);

    assert_success("restore", &out);
    let dump_name = dump.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        dir.names(),
        [
            "fulfillment-20250103T020000Z.dump".to_owned(),
            "fulfillment-20250103T020000Z.dump.sha256".to_owned(),
            dump_name.clone(),
            format!("{dump_name}.sha256"),
            "notes.txt".to_owned(),
        ]
    );
    // Read through the application role: its rights came back with the tables.
    let restored =
        pool_for(&target.url_as(&deployment.roles.app, &deployment.roles.app_password)).await;
    for table in TABLES {
        let before = rows(&stack.db.pool, table).await;
        assert_eq!(rows(&restored, table).await, before, "{table}");
        assert!(
            !before.is_empty() || table == "sweep_cursors",
            "{table} has rows"
        );
    }
    assert_eq!(rows(&restored, "checkout_orders").await.len(), 4);
    assert_eq!(
        order_number_sequence(&restored).await,
        order_number_sequence(&stack.db.pool).await
    );
    // The restored database takes the next order, with a number never given before.
    let highest_before: i64 = sqlx::query_scalar("SELECT max(order_number) FROM checkout_orders")
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    let next = tests::paid_session(&stack.sim, "Jenny Rosen");
    let fulfiller = shared::Fulfiller::new(restored.clone(), stack.stripe.clone());
    fulfiller
        .fulfill_checkout(&next, Trigger::Landing)
        .await
        .expect("the restored database fulfills as the application role");
    let number: i64 =
        sqlx::query_scalar("SELECT order_number FROM checkout_orders WHERE session_id = $1")
            .bind(next.as_str())
            .fetch_one(&restored)
            .await
            .unwrap();
    assert!(number > highest_before, "{number} after {highest_before}");
    restored.close().await;
}

#[tokio::test]
async fn a_damaged_or_truncated_dump_is_refused_and_the_target_is_left_empty() {
    let deployment = Deployment::start().await;
    let stack = &deployment.stack;
    let id = tests::paid_session(&stack.sim, "Jenny Rosen");
    stack
        .fulfiller
        .fulfill_checkout(&id, Trigger::Webhook)
        .await
        .unwrap();
    let dir = BackupDir::new();
    let dump = back_up(&deployment, &dir.0, "14");
    let bytes = std::fs::read(&dump).unwrap();
    let checksum = std::fs::read(dump.with_extension("dump.sha256")).unwrap();
    let damaged = |name: &str, content: &[u8], with_checksum: bool| {
        let path = dir.0.join(name);
        std::fs::write(&path, content).unwrap();
        if with_checksum {
            std::fs::write(dir.0.join(format!("{name}.sha256")), &checksum).unwrap();
        }
        path
    };
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0xff;
    // A dump cut anywhere fails one of pg_restore's two read-throughs, which names it either way.
    let truncated: &[&str] = &["not a complete pg_dump archive", "damaged or truncated"];
    let checksum_mismatch: &[&str] = &["does not match its checksum"];
    let cases = [
        (
            damaged("truncated.dump", &bytes[..bytes.len() / 2], false),
            truncated,
        ),
        (
            damaged("cut-short.dump", &bytes[..bytes.len() - 16], false),
            truncated,
        ),
        (
            damaged("truncated-copy.dump", &bytes[..bytes.len() - 16], true),
            checksum_mismatch,
        ),
        (damaged("flipped.dump", &flipped, true), checksum_mismatch),
        (
            damaged("not-a-dump.dump", b"SELECT 1;\n", false),
            &["not a complete pg_dump archive"][..],
        ),
    ];

    for (path, says) in &cases {
        let target = ThrowawayDatabase::create().await;
        let out = restore(path, &target);
        assert!(!out.status.success(), "{}", path.display());
        let message = stderr(&out);
        assert!(
            says.iter().any(|s| message.contains(s)) && message.contains("nothing was restored"),
            "{}: {message}",
            path.display()
        );
        assert_eq!(target.relations().await, 0, "{}", path.display());
    }
}

#[tokio::test]
async fn a_restore_into_a_used_database_is_refused_and_one_failing_half_way_leaves_nothing() {
    let deployment = Deployment::start().await;
    let dir = BackupDir::new();
    let dump = back_up(&deployment, &dir.0, "14");
    let used = ThrowawayDatabase::create().await;
    let admin = pool_for(&used.admin_url()).await;
    sqlx::raw_sql("CREATE TABLE notes (body text); INSERT INTO notes VALUES ('precious')")
        .execute(&admin)
        .await
        .unwrap();
    // Not a table: the emptiness check lets it by, and the restore trips over it after creating
    // the tables that come before order_line_items.
    let clashing = ThrowawayDatabase::create().await;
    let clashing_admin = pool_for(&clashing.admin_url()).await;
    sqlx::query("CREATE TYPE order_line_items AS ENUM ('clash')")
        .execute(&clashing_admin)
        .await
        .unwrap();

    let into_used = restore(&dump, &used);
    let half_way = restore(&dump, &clashing);

    assert!(!into_used.status.success());
    assert!(
        stderr(&into_used).contains("already holds 1 table(s)"),
        "{}",
        stderr(&into_used)
    );
    let notes: Vec<String> = sqlx::query_scalar("SELECT body FROM notes")
        .fetch_all(&admin)
        .await
        .unwrap();
    assert_eq!(notes, ["precious"]);
    assert!(!half_way.status.success());
    assert!(
        stderr(&half_way).contains("rolled the target back"),
        "{}",
        stderr(&half_way)
    );
    assert_eq!(
        clashing.relations().await,
        0,
        "checkout_orders was rolled back"
    );
    admin.close().await;
    clashing_admin.close().await;
}

#[tokio::test]
async fn a_backup_that_fails_writes_nothing_and_deletes_no_older_dump() {
    let missing = ThrowawayDatabase::create().await;
    let url = missing.admin_url();
    drop(missing);
    let dir = BackupDir::new();
    for old in ["20250101T020000Z", "20250102T020000Z"] {
        std::fs::write(dir.0.join(format!("fulfillment-{old}.dump")), "old").unwrap();
    }

    let out = script(
        "backup",
        &["--dir", dir.0.to_str().unwrap(), "--keep", "1", &url],
    );

    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("backup: pg_dump failed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        dir.names(),
        [
            "fulfillment-20250101T020000Z.dump",
            "fulfillment-20250102T020000Z.dump"
        ]
    );
}
