//! A deployment's database on the shared local Postgres: a throwaway database (`fft_…`, swept by
//! the harness like every test database) and throwaway roles made by `deploy/postgres` the way
//! the container or an operator makes them, the real migrations run as the migration role, and
//! the services' pool connected as the application role.

use std::path::PathBuf;
use std::process::{Command, Output};

use shared::settings::Uses;
use shared::stripe::StripeClient;
use shared::{Fulfiller, Settings};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tests::{admin_database_url, block_on_aside, start_sim, TestBroker, TestDb, TestStack};

/// Roles older than this are assumed abandoned by a crashed run (as the harness's databases).
const STALE_AFTER_SECS: u64 = 3600;

pub fn repo_file(relative: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// `url` with its user, password and database replaced.
pub fn url_for(url: &str, user: Option<(&str, &str)>, database: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("a database URL");
    if let Some((name, password)) = user {
        parsed.set_username(name).unwrap();
        parsed.set_password(Some(password)).unwrap();
    }
    parsed.set_path(&format!("/{database}"));
    parsed.to_string()
}

pub async fn admin_connection() -> PgConnection {
    PgConnection::connect(&admin_database_url())
        .await
        .expect("connect to Postgres as the admin (TEST_DATABASE_URL)")
}

/// The migration and application roles of one test (names unique to it), dropped when dropped:
/// after the database that holds their objects, so [`Deployment`] declares it last.
#[derive(Debug)]
pub struct Roles {
    pub migration: String,
    pub migration_password: String,
    pub app: String,
    pub app_password: String,
}

impl Roles {
    pub async fn new() -> Roles {
        sweep_stale_roles().await;
        let prefix = format!(
            "fft_{}_{}",
            unix_now(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Roles {
            migration: format!("{prefix}_migration"),
            migration_password: uuid::Uuid::new_v4().simple().to_string(),
            app: format!("{prefix}_app"),
            app_password: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// `psql -f deploy/postgres/roles.sql` on `database` as the admin, by hand as the RUNBOOK
    /// says (with the passwords, or without: a rerun keeps them).
    pub fn apply_by_hand(&self, database: &ThrowawayDatabase, with_passwords: bool) -> Output {
        let mut vars = vec![
            ("migration_role", self.migration.clone()),
            ("app_role", self.app.clone()),
        ];
        if with_passwords {
            vars.push(("migration_password", self.migration_password.clone()));
            vars.push(("app_password", self.app_password.clone()));
        }
        roles_sql(&database.admin_url(), &vars)
    }
}

/// `psql -X -v ON_ERROR_STOP=1 -v NAME=VALUE… -f deploy/postgres/roles.sql URL`.
pub fn roles_sql(url: &str, vars: &[(&str, String)]) -> Output {
    let mut command = Command::new("psql");
    command.args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]);
    for (name, value) in vars {
        command.arg("-v").arg(format!("{name}={value}"));
    }
    command
        .arg("-f")
        .arg(repo_file("deploy/postgres/roles.sql"))
        .arg(url)
        .output()
        .expect("psql runs (scripts/ensure-services installs postgresql-client)")
}

impl Drop for Roles {
    fn drop(&mut self) {
        let names = [self.app.clone(), self.migration.clone()];
        block_on_aside(async move {
            let mut admin = admin_connection().await;
            for name in names {
                let _ = sqlx::query(&format!("DROP ROLE IF EXISTS \"{name}\""))
                    .execute(&mut admin)
                    .await;
            }
        });
    }
}

async fn sweep_stale_roles() {
    let mut admin = admin_connection().await;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'fft\\_%'")
            .fetch_all(&mut admin)
            .await
            .unwrap_or_default();
    for name in names {
        let created = name.split('_').nth(1).and_then(|t| t.parse::<u64>().ok());
        if created.is_some_and(|t| unix_now().saturating_sub(t) > STALE_AFTER_SECS) {
            // Fails while a leftover database still holds its objects; the next sweep gets it.
            let _ = sqlx::query(&format!("DROP ROLE IF EXISTS \"{name}\""))
                .execute(&mut admin)
                .await;
        }
    }
}

/// An empty database named like the harness's (so its sweep removes one a crash leaves behind),
/// dropped when dropped.
#[derive(Debug)]
pub struct ThrowawayDatabase {
    pub name: String,
}

impl ThrowawayDatabase {
    pub async fn create() -> ThrowawayDatabase {
        let name = format!(
            "fft_{}_{}",
            unix_now(),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin_connection().await)
            .await
            .expect("create a database");
        ThrowawayDatabase { name }
    }

    /// This database as the admin.
    pub fn admin_url(&self) -> String {
        url_for(&admin_database_url(), None, &self.name)
    }

    /// This database as `role`.
    pub fn url_as(&self, role: &str, password: &str) -> String {
        url_for(&admin_database_url(), Some((role, password)), &self.name)
    }

    /// Tables, views and sequences outside the system schemas: 0 for a database nothing was
    /// restored into.
    pub async fn relations(&self) -> i64 {
        let mut conn = PgConnection::connect(&self.admin_url()).await.unwrap();
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg\\_toast%'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap()
    }
}

impl Drop for ThrowawayDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        block_on_aside(async move {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin_connection().await)
                .await;
        });
    }
}

/// `bash` running `deploy/postgres/initdb-roles.sh` as the postgres image does on first start:
/// sourced inside an entrypoint under `set -Eeuo pipefail` (the offline stand-in's options), or
/// run as a program. Its psql reaches the test server through libpq's variables instead of the
/// container's socket. `env` adds to (or, empty, removes) the container's variables.
pub fn init_roles_script(database: &str, sourced: bool, env: &[(&str, &str)]) -> Output {
    let admin = url::Url::parse(&admin_database_url()).expect("TEST_DATABASE_URL is a URL");
    let script = repo_file("deploy/postgres/initdb-roles.sh");
    let mut command = Command::new("bash");
    if sourced {
        command.args([
            "-c",
            "set -Eeuo pipefail; . \"$0\"; echo entrypoint-continues",
        ]);
    }
    command
        .arg(&script)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PGHOST", admin.host_str().unwrap_or("127.0.0.1"))
        .env("PGPORT", admin.port().unwrap_or(5432).to_string())
        .env("PGPASSWORD", admin.password().unwrap_or_default())
        .env("POSTGRES_USER", admin.username())
        .env("POSTGRES_DB", database)
        .env(
            "FULFILLMENT_ROLES_SQL",
            repo_file("deploy/postgres/roles.sql"),
        );
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("bash runs")
}

/// `worker migrate`, the command the `migrate` service runs, connecting with `url`.
pub async fn worker_migrate(url: &str) -> anyhow::Result<()> {
    let mut settings = Settings::load_from(Uses::COMMON, Vec::new()).expect("the defaults load");
    settings.database.url = url.to_owned().into();
    settings
        .check(Uses::DATABASE)
        .expect("settings with a database URL are valid");
    worker::cli::run(Some(worker::cli::Command::Migrate), settings).await
}

/// A deployment whose database was initialised like the container's: roles from the init
/// script, migrations by the migration role, and a [`TestStack`] whose pool, settings and
/// fulfiller use the application role.
pub struct Deployment {
    /// Dropped first: its database goes, then the roles that owned its objects.
    pub stack: TestStack,
    pub database: ThrowawayDatabase,
    pub migration_url: String,
    pub roles: Roles,
}

impl Deployment {
    pub async fn start() -> Deployment {
        let (roles, database) = tokio::join!(Roles::new(), ThrowawayDatabase::create());
        let scratch = std::env::temp_dir().join(format!("{}.password", roles.app));
        // One password as a secret file, one from the environment: both forms the stack uses.
        std::fs::write(&scratch, format!("{}\n", roles.app_password)).unwrap();
        let out = init_roles_script(
            &database.name,
            true,
            &[
                ("POSTGRES_MIGRATION_USER", &roles.migration),
                ("POSTGRES_MIGRATION_PASSWORD", &roles.migration_password),
                ("POSTGRES_APP_USER", &roles.app),
                ("POSTGRES_APP_PASSWORD_FILE", scratch.to_str().unwrap()),
            ],
        );
        let _ = std::fs::remove_file(&scratch);
        assert_success("the init script", &out);
        Self::on(database, roles).await
    }

    /// Migrates `database` (whose `roles` exist) as the migration role, then connects the
    /// services' side as the application role.
    pub async fn on(database: ThrowawayDatabase, roles: Roles) -> Deployment {
        let migration_url = database.url_as(&roles.migration, &roles.migration_password);
        let app_url = database.url_as(&roles.app, &roles.app_password);
        worker_migrate(&migration_url)
            .await
            .expect("worker migrate succeeds as the migration role");
        let pool = pool_for(&app_url).await;
        let db = TestDb {
            name: database.name.clone(),
            url: app_url.clone(),
            pool,
            admin_url: admin_database_url(),
        };
        let (broker, sim) = tokio::join!(TestBroker::create(), start_sim());
        let settings = tests::settings(&db, &broker, &sim.base_url, |_| {});
        let stripe = StripeClient::new(&settings.stripe).expect("build the Stripe client");
        let fulfiller = Fulfiller::new(db.pool.clone(), stripe.clone());
        Deployment {
            stack: TestStack {
                db,
                broker,
                sim,
                settings,
                stripe,
                fulfiller,
            },
            database,
            migration_url,
            roles,
        }
    }
}

pub async fn pool_for(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(10)
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect a pool: {e}"))
}

pub fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
