//! Throwaway RabbitMQ virtual hosts (made with the local `rabbitmqctl`, read through the
//! management API) and the comparable shape of a topology, for tests that import or declare a
//! whole topology under its real names without touching anybody else's.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use secrecy::SecretString;
use serde_json::Value;

use super::rabbitmqctl;

/// A virtual host of its own on the local broker, with full permissions for the test user;
/// deleted (with everything in it) when dropped.
#[derive(Debug)]
pub struct Vhost {
    pub name: String,
}

impl Vhost {
    pub fn create(purpose: &str) -> Vhost {
        sweep_stale_vhosts();
        let name = format!(
            "deploy-test-{purpose}-{}-{}",
            unix_now(),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        rabbitmqctl(&["-q", "add_vhost", &name]);
        let user = amqp_user();
        rabbitmqctl(&[
            "-q",
            "set_permissions",
            "-p",
            &name,
            &user,
            ".*",
            ".*",
            ".*",
        ]);
        Vhost { name }
    }

    /// The AMQP URL of this vhost, as the test user (what a service's settings would say).
    pub fn amqp_url(&self) -> String {
        let mut url = url::Url::parse(&crate::amqp_url()).expect("TEST_AMQP_URL is a URL");
        url.set_path(&format!("/{}", urlencode(&self.name)));
        url.to_string()
    }

    /// An AMQP connection to this vhost, as the test user.
    pub async fn connect(&self) -> lapin::Connection {
        shared::queue::connect(&SecretString::from(self.amqp_url()), "deploy-test")
            .await
            .expect("connect to the test vhost")
    }

    /// Imports a definitions document (its `vhost` fields rewritten to this vhost). RabbitMQ
    /// imports asynchronously: poll [`Self::export`] for the result.
    pub fn import(&self, definitions: &Value) {
        let mut definitions = definitions.clone();
        for kind in ["exchanges", "queues", "bindings", "policies"] {
            // `get_mut`: indexing a missing kind would add it as `null`, which the import
            // rejects.
            let items = definitions.get_mut(kind).and_then(Value::as_array_mut);
            for item in items.into_iter().flatten() {
                item["vhost"] = Value::String(self.name.clone());
            }
        }
        let file = std::env::temp_dir().join(format!("{}.json", self.name));
        std::fs::write(&file, serde_json::to_vec(&definitions).unwrap())
            .expect("write the definitions");
        rabbitmqctl(&["-q", "import_definitions", file.to_str().unwrap()]);
        let _ = std::fs::remove_file(file);
    }

    /// Sets `policies` in this vhost, as an operator does on a running broker.
    pub fn set_policies(&self, policies: &[shared::queue::Policy]) {
        for policy in policies {
            let definition = policy.definition.to_json().to_string();
            rabbitmqctl(&[
                "-q",
                "set_policy",
                "-p",
                &self.name,
                "--apply-to",
                policy.apply_to,
                "--priority",
                &policy.priority.to_string(),
                &policy.name,
                &policy.pattern,
                &definition,
            ]);
        }
    }

    /// What the broker holds in this vhost, as a definitions document would say it. Read from
    /// the management API's per-vhost export: `rabbitmqctl export_definitions` walks every
    /// vhost and prints an error term instead of JSON when another test deletes its vhost
    /// mid-walk.
    pub async fn export(&self) -> Topology {
        let amqp = url::Url::parse(&crate::amqp_url()).expect("TEST_AMQP_URL is a URL");
        let host = amqp.host_str().unwrap_or("127.0.0.1");
        let url = format!(
            "http://{host}:{MANAGEMENT_PORT}/api/definitions/{}",
            urlencode(&self.name)
        );
        let response = reqwest::Client::new()
            .get(&url)
            .basic_auth(amqp.username(), amqp.password())
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url} (is the management plugin enabled?): {e}"));
        assert!(
            response.status().is_success(),
            "GET {url}: {}",
            response.status()
        );
        let document: Value = response.json().await.expect("the export is JSON");
        Topology::from_definitions(&document, None)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.name])
            .output();
    }
}

/// The management plugin's port, which `scripts/ensure-services` enables.
const MANAGEMENT_PORT: u16 = 15672;

/// Vhosts older than this are assumed abandoned by a killed test run.
const STALE_AFTER_SECS: u64 = 3600;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Deletes the vhosts a killed run left behind (`deploy-test-<purpose>-<unix time>-<id>`).
fn sweep_stale_vhosts() {
    let now = unix_now();
    for name in rabbitmqctl(&["-q", "list_vhosts", "name"])
        .lines()
        .map(str::trim)
    {
        let Some(rest) = name.strip_prefix("deploy-test-") else {
            continue;
        };
        let created = rest.rsplit('-').nth(1).and_then(|t| t.parse::<u64>().ok());
        if created.is_some_and(|t| now.saturating_sub(t) > STALE_AFTER_SECS) {
            let _ = Command::new("rabbitmqctl")
                .args(["-q", "delete_vhost", name])
                .output();
        }
    }
}

fn amqp_user() -> String {
    let url = url::Url::parse(&crate::amqp_url()).expect("TEST_AMQP_URL is a URL");
    url.username().to_owned()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Exchanges, queues, bindings and policies of one vhost, keyed and stripped to what decides
/// whether a redeclaration is equivalent (RabbitMQ's own defaults — `amq.*` exchanges, the
/// default exchange's implicit bindings — left out), so that two of them compare with `==` and
/// a mismatch prints a readable diff.
#[derive(Debug, PartialEq, Eq)]
pub struct Topology {
    pub exchanges: BTreeMap<String, Value>,
    pub queues: BTreeMap<String, Value>,
    pub bindings: BTreeSet<String>,
    pub policies: BTreeMap<String, Value>,
}

impl Topology {
    /// From a definitions document, keeping the items of `vhost` (every item when `None`).
    pub fn from_definitions(definitions: &Value, vhost: Option<&str>) -> Topology {
        let items = |kind: &str| -> Vec<Value> {
            definitions[kind]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|item| vhost.is_none_or(|v| item["vhost"] == v))
                .collect()
        };
        let field =
            |item: &Value, key: &str, default: Value| item.get(key).cloned().unwrap_or(default);
        let exchanges = items("exchanges")
            .into_iter()
            .filter(|e| !e["name"].as_str().unwrap_or_default().starts_with("amq."))
            .map(|e| {
                let name = e["name"]
                    .as_str()
                    .expect("an exchange has a name")
                    .to_owned();
                let shape = serde_json::json!({
                    "type": e["type"],
                    "durable": field(&e, "durable", Value::Bool(true)),
                    "auto_delete": field(&e, "auto_delete", Value::Bool(false)),
                    "internal": field(&e, "internal", Value::Bool(false)),
                    "arguments": field(&e, "arguments", serde_json::json!({})),
                });
                (name, shape)
            })
            .collect();
        let queues = items("queues")
            .into_iter()
            .map(|q| {
                let name = q["name"].as_str().expect("a queue has a name").to_owned();
                let shape = serde_json::json!({
                    "durable": field(&q, "durable", Value::Bool(true)),
                    "auto_delete": field(&q, "auto_delete", Value::Bool(false)),
                    "arguments": field(&q, "arguments", serde_json::json!({})),
                });
                (name, shape)
            })
            .collect();
        let bindings = items("bindings")
            .into_iter()
            .filter(|b| b["source"] != "")
            .map(|b| {
                format!(
                    "{} -[{}]-> {} {} {}",
                    b["source"].as_str().unwrap_or_default(),
                    b["routing_key"].as_str().unwrap_or_default(),
                    b["destination_type"].as_str().unwrap_or_default(),
                    b["destination"].as_str().unwrap_or_default(),
                    field(&b, "arguments", serde_json::json!({})),
                )
            })
            .collect();
        let policies = items("policies")
            .into_iter()
            .map(|p| {
                let name = p["name"].as_str().expect("a policy has a name").to_owned();
                let shape = serde_json::json!({
                    "pattern": p["pattern"],
                    "apply-to": field(&p, "apply-to", Value::from("all")),
                    "priority": field(&p, "priority", Value::from(0)),
                    "definition": p["definition"],
                });
                (name, shape)
            })
            .collect();
        Topology {
            exchanges,
            queues,
            bindings,
            policies,
        }
    }

    /// Whether `self` holds at least as many of each kind as `other` (an import in progress
    /// only adds).
    fn has_as_many_as(&self, other: &Topology) -> bool {
        self.queues.len() >= other.queues.len()
            && self.exchanges.len() >= other.exchanges.len()
            && self.bindings.len() >= other.bindings.len()
            && self.policies.len() >= other.policies.len()
    }
}

/// Imports `definitions` into `vhost` and waits (bounded) until the broker shows all of it, as
/// a broker booting with the compose stack's definitions file does before any service connects.
pub async fn import_and_wait(vhost: &Vhost, definitions: &Value) -> Topology {
    vhost.import(definitions);
    let expected = Topology::from_definitions(definitions, None);
    let imported = crate::eventually(std::time::Duration::from_secs(20), || async {
        let now = vhost.export().await;
        now.has_as_many_as(&expected).then_some(now)
    })
    .await;
    match imported {
        Some(imported) => imported,
        None => panic!("the import did not complete: {:?}", vhost.export().await),
    }
}

/// The topology the services declare with the default settings (no prefix, the default retry
/// tiers and delivery limit): what production runs.
pub fn default_topology() -> shared::queue::Topology {
    let settings = shared::Settings::load_from(
        shared::settings::Uses::BROKER,
        Vec::<(String, String)>::new(),
    )
    .expect("the defaults load");
    assert_eq!(
        settings.broker.prefix, "",
        "production names carry no prefix"
    );
    shared::queue::Topology::from_settings(&settings.broker)
}
