//! What the connection-security tests share: certificates of a CA of their own, a throwaway
//! RabbitMQ node with a TLS listener, and throwaway credentials (a Postgres role, a RabbitMQ
//! user on a vhost of its own) with a password that URLs cannot hold as it is.

pub mod certs;
pub mod rabbit_node;

use std::process::Command;

use crate::{admin_database_url, amqp_url, block_on_aside};
use sqlx::Connection;

/// Every character that has a meaning in a URL's user information, and a percent escape that
/// must not be decoded: the password a secret store may well hand out.
pub const AWKWARD_PASSWORD: &str = "p@ss:w/rd#%20x";
/// [`AWKWARD_PASSWORD`] percent-encoded, as a URL must carry it.
pub const AWKWARD_PASSWORD_ENCODED: &str = "p%40ss%3Aw%2Frd%23%2520x";

fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// A login role on the shared Postgres; its sessions ended and the role dropped on drop.
#[derive(Debug)]
pub struct PgRole {
    pub name: String,
}

impl PgRole {
    pub async fn create(password: &str) -> PgRole {
        let name = format!("fft_role_{}", short_id());
        let mut admin = sqlx::PgConnection::connect(&admin_database_url())
            .await
            .expect("connect to Postgres as the admin");
        // CREATE ROLE takes no bind parameters: a standard string literal, quotes doubled.
        let literal = format!("'{}'", password.replace('\'', "''"));
        sqlx::query(&format!("CREATE ROLE {name} LOGIN PASSWORD {literal}"))
            .execute(&mut admin)
            .await
            .expect("create the role");
        let _ = admin.close().await;
        PgRole { name }
    }

    /// A database URL for this role on `database`, with `password` (already encoded) or none.
    pub fn url(&self, database: &str, password: Option<&str>) -> String {
        let mut url = url::Url::parse(&admin_database_url()).expect("a database URL");
        url.set_username(&self.name).expect("a URL with a host");
        url.set_password(password).expect("a URL with a host");
        url.set_path(&format!("/{database}"));
        url.to_string()
    }
}

impl Drop for PgRole {
    fn drop(&mut self) {
        let name = self.name.clone();
        block_on_aside(async move {
            if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_database_url()).await {
                let _ = sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
                )
                .bind(&name)
                .execute(&mut admin)
                .await;
                let _ = sqlx::query(&format!("DROP ROLE IF EXISTS {name}"))
                    .execute(&mut admin)
                    .await;
            }
        });
    }
}

/// A user on the shared RabbitMQ with full permissions on a vhost of its own; both deleted on
/// drop.
#[derive(Debug)]
pub struct RabbitUser {
    pub user: String,
    pub vhost: String,
}

impl RabbitUser {
    pub fn create(password: &str) -> RabbitUser {
        let id = short_id();
        let user = format!("fulfillment-test-user-{id}");
        let vhost = format!("fulfillment-test-vhost-{id}");
        rabbitmqctl(&["-q", "add_vhost", &vhost]);
        let created = RabbitUser { user, vhost };
        rabbitmqctl(&["-q", "add_user", &created.user, password]);
        rabbitmqctl(&[
            "-q",
            "set_permissions",
            "-p",
            &created.vhost,
            &created.user,
            ".*",
            ".*",
            ".*",
        ]);
        created
    }

    /// The AMQP URL of this user's vhost on the shared broker, with `password` (already
    /// encoded) or none.
    pub fn url(&self, password: Option<&str>) -> String {
        let mut url = url::Url::parse(&amqp_url()).expect("TEST_AMQP_URL is a URL");
        url.set_username(&self.user).expect("a URL with a host");
        url.set_password(password).expect("a URL with a host");
        // The vhost is one path segment: its own characters are letters, digits and dashes.
        url.set_path(&format!("/{}", self.vhost));
        url.to_string()
    }
}

impl Drop for RabbitUser {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_user", &self.user])
            .output();
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.vhost])
            .output();
    }
}

fn rabbitmqctl(args: &[&str]) {
    let output = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run rabbitmqctl (is rabbitmq-server installed?): {e}"));
    assert!(
        output.status.success(),
        "rabbitmqctl {:?} failed: {}{}",
        args.first(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
