//! The broker users `deploy/rabbitmq/entrypoint.sh` writes, on the local broker: the entrypoint
//! runs as the container runs it, and its `00-access.json` is imported with the users renamed to
//! unique names and the permissions moved from `/` to a throwaway vhost holding the production
//! topology (imported from `deploy/rabbitmq/definitions.json`, as a booting broker does).
//! Nothing collides with another test or touches `/`; the users are deleted when dropped.

use std::process::Command;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use shared::queue::BrokerEndpoint;

use super::vhost::{import_and_wait, Vhost};
use super::{committed_definitions, rabbitmqctl, repo_root};

/// A user name and the password the entrypoint was given for it.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: String,
    pub password: String,
}

/// The management login and the service users, imported into their own vhost.
#[derive(Debug)]
pub struct BrokerUsers {
    pub vhost: Vhost,
    pub management: Login,
    pub ingress: Login,
    pub worker: Login,
    pub notifier: Login,
    pub console: Login,
}

impl BrokerUsers {
    pub async fn create(purpose: &str) -> BrokerUsers {
        let vhost = Vhost::create(purpose);
        import_and_wait(&vhost, &committed_definitions()).await;
        let id = &uuid::Uuid::new_v4().simple().to_string()[..12];
        // Every character a URL or JSON would need escaped, so that the passwords prove the
        // entrypoint's JSON and broker.password take them as they are.
        let login = |name: &str| Login {
            user: format!("{name}-{id}"),
            password: format!(r#"{name} "p\a@s:s/w#o%rd" {id}"#),
        };
        let users = BrokerUsers {
            vhost,
            management: login("ops"),
            ingress: login("fulfillment_ingress"),
            worker: login("fulfillment_worker"),
            notifier: login("fulfillment_notifier"),
            console: login("fulfillment_console"),
        };
        let access = users.entrypoint_access();
        users.import(access);
        users
    }

    /// `00-access.json` as the entrypoint writes it for these logins.
    fn entrypoint_access(&self) -> Value {
        let dir = std::env::temp_dir().join(format!("broker-users-{}", self.vhost.name));
        let topology = repo_root().join("deploy/rabbitmq/definitions.json");
        let output = Command::new("sh")
            .arg(repo_root().join("deploy/rabbitmq/entrypoint.sh"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RABBITMQ_DEFINITIONS_DIR", &dir)
            .env("RABBITMQ_TOPOLOGY_FILE", &topology)
            .env("RABBITMQ_NEXT_ENTRYPOINT", "true")
            .env("RABBITMQ_USER", &self.management.user)
            .env("RABBITMQ_PASSWORD", &self.management.password)
            .env("RABBITMQ_INGRESS_USER", &self.ingress.user)
            .env("RABBITMQ_INGRESS_PASSWORD", &self.ingress.password)
            .env("RABBITMQ_WORKER_USER", &self.worker.user)
            .env("RABBITMQ_WORKER_PASSWORD", &self.worker.password)
            .env("RABBITMQ_NOTIFIER_USER", &self.notifier.user)
            .env("RABBITMQ_NOTIFIER_PASSWORD", &self.notifier.password)
            .env("RABBITMQ_CONSOLE_USER", &self.console.user)
            .env("RABBITMQ_CONSOLE_PASSWORD", &self.console.password)
            .output()
            .expect("sh runs");
        assert!(
            output.status.success(),
            "the entrypoint fails: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = std::fs::read_to_string(dir.join("00-access.json")).expect("00-access.json");
        let _ = std::fs::remove_dir_all(&dir);
        serde_json::from_str(&text).expect("00-access.json is JSON")
    }

    /// Imports the users and their permissions, moved to this vhost. Bounded wait until the
    /// broker lists them all.
    fn import(&self, mut access: Value) {
        access.as_object_mut().expect("an object").remove("vhosts");
        for permission in access["permissions"].as_array_mut().expect("permissions") {
            assert_eq!(permission["vhost"], "/", "the entrypoint writes vhost /");
            permission["vhost"] = Value::String(self.vhost.name.clone());
        }
        let file = std::env::temp_dir().join(format!("{}-access.json", self.vhost.name));
        std::fs::write(&file, serde_json::to_vec(&access).unwrap()).expect("write the users");
        rabbitmqctl(&["-q", "import_definitions", file.to_str().unwrap()]);
        let _ = std::fs::remove_file(file);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let listed = rabbitmqctl(&["-q", "list_permissions", "-p", &self.vhost.name]);
            let all = self
                .logins()
                .iter()
                .all(|login| listed.lines().any(|l| l.starts_with(&login.user)));
            if all {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the users were not imported: {listed}"
            );
            // The pause between two probes of a bounded wait.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logins(&self) -> [&Login; 5] {
        [
            &self.management,
            &self.ingress,
            &self.worker,
            &self.notifier,
            &self.console,
        ]
    }

    /// `broker.url` and `broker.password` of a service connecting as `login`: the user in the
    /// URL, the password apart (as docker-compose.yml gives them).
    pub fn settings(&self, login: &Login) -> [(&'static str, String); 2] {
        let mut url = url::Url::parse(&self.vhost.amqp_url()).expect("the vhost's URL");
        url.set_username(&login.user).expect("a user name");
        url.set_password(None).expect("no password");
        [
            ("APP_BROKER__URL", url.to_string()),
            ("APP_BROKER__PASSWORD", login.password.clone()),
        ]
    }

    /// How a service connecting as `login` reaches this vhost.
    pub fn endpoint(&self, login: &Login) -> BrokerEndpoint {
        let [(_, url), (_, password)] = self.settings(login);
        BrokerEndpoint::new(SecretString::from(url)).with_password(SecretString::from(password))
    }

    /// An AMQP connection as `login`.
    pub async fn connect(&self, login: &Login) -> lapin::Connection {
        shared::queue::connect(&self.endpoint(login), "broker-users-test")
            .await
            .unwrap_or_else(|e| panic!("{} cannot connect: {e}", login.user))
    }
}

impl Drop for BrokerUsers {
    fn drop(&mut self) {
        for login in self.logins() {
            let _ = Command::new("rabbitmqctl")
                .args(["-q", "delete_user", &login.user])
                .output();
        }
    }
}
