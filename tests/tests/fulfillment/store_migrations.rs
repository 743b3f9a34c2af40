//! Migrations never block the webhook path: an index on a table that already exists (and may
//! hold millions of audit rows) is built `CONCURRENTLY`, which Postgres allows only outside a
//! transaction, so the migration starts with sqlx's `-- no-transaction` line. An index on a
//! table the same migration creates is built while the table is still empty, and may stay plain.

use std::collections::BTreeSet;

use tests::TestDb;

/// Applied before this rule: its checksum is recorded in every database that ran it, and
/// changing the file would stop `worker migrate` there. It ran against an audit table a few
/// days old.
const APPLIED_BEFORE_THE_RULE: [&str; 1] = ["20261124000001_unsettled_events_index.sql"];

/// The migrations, in order: file name and text.
fn migrations() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

/// `(table, concurrently)` of each `CREATE [UNIQUE] INDEX … ON table` in `sql`.
fn index_builds(sql: &str) -> Vec<(String, bool)> {
    let words: Vec<String> = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let mut builds = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let starts = word == "create"
            && (words.get(i + 1).map(String::as_str) == Some("index")
                || words.get(i + 1).map(String::as_str) == Some("unique"));
        if !starts {
            continue;
        }
        let rest = &words[i + 1..];
        let on = rest
            .iter()
            .position(|w| w == "on")
            .expect("CREATE INDEX … ON");
        let concurrently = rest[..on].iter().any(|w| w == "concurrently");
        let table: String = rest[on + 1]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        builds.push((table, concurrently));
    }
    builds
}

/// Tables each `CREATE [UNLOGGED] TABLE` in `sql` creates.
fn tables_created(sql: &str) -> BTreeSet<String> {
    let lower = sql
        .to_ascii_lowercase()
        .replace("create unlogged table", "create table");
    lower
        .split("create table")
        .skip(1)
        .filter_map(|rest| {
            let name = rest
                .split_whitespace()
                .find(|w| *w != "if" && *w != "not" && *w != "exists")?;
            Some(name.trim_end_matches('(').to_owned())
        })
        .collect()
}

#[test]
fn indexes_on_existing_tables_are_built_concurrently_outside_a_transaction() {
    let migrations = migrations();
    assert!(!migrations.is_empty(), "shared/migrations holds migrations");
    let mut blocking = Vec::new();
    for (name, sql) in &migrations {
        let created = tables_created(sql);
        let no_transaction = sql.starts_with("-- no-transaction");
        for (table, concurrently) in index_builds(sql) {
            if created.contains(&table) || APPLIED_BEFORE_THE_RULE.contains(&name.as_str()) {
                continue;
            }
            if !concurrently || !no_transaction {
                blocking.push(format!(
                    "{name}: index on {table} (CONCURRENTLY: {concurrently}, \
                     -- no-transaction: {no_transaction})"
                ));
            }
        }
    }
    assert!(
        blocking.is_empty(),
        "these block writes to a live table while they build: {blocking:?}"
    );
}

#[test]
fn the_rule_reads_index_builds_as_written() {
    // The check above is only as good as its reading of SQL: it must see a plain build on an
    // existing table, and accept a concurrent one or one on a table made alongside it.
    let plain = "CREATE INDEX stripe_events_x ON stripe_events (event_created);";
    assert_eq!(index_builds(plain), vec![("stripe_events".into(), false)]);
    let concurrent =
        "-- no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS x\n  ON outbox(created_at);";
    assert_eq!(index_builds(concurrent), vec![("outbox".into(), true)]);
    let fresh = "CREATE TABLE IF NOT EXISTS notes (id int);\nCREATE UNIQUE INDEX n ON notes (id);";
    assert_eq!(tables_created(fresh), BTreeSet::from(["notes".to_owned()]));
    assert_eq!(index_builds(fresh), vec![("notes".into(), false)]);
    let unlogged = "CREATE UNLOGGED TABLE hints (id int);\nCREATE INDEX h ON hints (id);";
    assert_eq!(
        tables_created(unlogged),
        BTreeSet::from(["hints".to_owned()])
    );
}

#[tokio::test]
async fn every_migration_applies_to_a_fresh_database() {
    // A `-- no-transaction` migration must still apply with sqlx's migrator.
    let db = TestDb::create().await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(applied as usize, migrations().len());
}
