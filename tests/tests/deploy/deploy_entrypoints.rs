//! Container entrypoints, run with `sh` as the containers do: the services' (secrets from
//! `APP_<NAME>_FILE`), RabbitMQ's (the users and the topology for the boot-time import) and
//! Grafana's (no start without an admin password of the operator's).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tests::deploy_support::{committed_definitions, compose_config, read_repo_file, repo_root};

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "deploy-entrypoint-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `sh SCRIPT ARGS` with exactly `env` as its environment (plus PATH).
fn run(script: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new("sh")
        .arg(repo_root().join(script))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("sh runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_service_entrypoint_exports_each_app_file_variable_and_runs_the_command() {
    let scratch = Scratch::new();
    let secrets = scratch.file("webhook", "whsec_old,whsec_new\n");
    let url = scratch.file("database", "postgres://u:p@db:5432/app");
    let output = run(
        "deploy/entrypoint.sh",
        &[
            ("APP_WEBHOOK__SECRETS_FILE", secrets.to_str().unwrap()),
            ("APP_DATABASE__URL_FILE", url.to_str().unwrap()),
            ("APP_STRIPE__SECRET_KEY", ""),
            ("APP_LOG__FORMAT", "json"),
        ],
        &["env"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let env = stdout(&output);
    let lines: Vec<&str> = env.lines().collect();
    assert!(
        lines.contains(&"APP_WEBHOOK__SECRETS=whsec_old,whsec_new"),
        "trailing newline dropped: {env}"
    );
    assert!(
        lines.contains(&"APP_DATABASE__URL=postgres://u:p@db:5432/app"),
        "{env}"
    );
    assert!(
        lines.contains(&"APP_LOG__FORMAT=json"),
        "other variables pass through: {env}"
    );
    assert!(
        !env.contains("_FILE="),
        "the *_FILE variables are consumed: {env}"
    );
}

#[test]
fn the_service_entrypoint_refuses_a_secret_set_twice_or_a_missing_file() {
    let scratch = Scratch::new();
    let key = scratch.file("key", "sk_test_file");

    let both = run(
        "deploy/entrypoint.sh",
        &[
            ("APP_STRIPE__SECRET_KEY", "sk_test_env"),
            ("APP_STRIPE__SECRET_KEY_FILE", key.to_str().unwrap()),
        ],
        &["true"],
    );
    assert_eq!(both.status.code(), Some(64));
    assert!(
        stderr(&both).contains("both APP_STRIPE__SECRET_KEY and APP_STRIPE__SECRET_KEY_FILE"),
        "{}",
        stderr(&both)
    );

    let missing = scratch.0.join("absent");
    let absent = run(
        "deploy/entrypoint.sh",
        &[("APP_BROKER__URL_FILE", missing.to_str().unwrap())],
        &["true"],
    );
    assert_eq!(absent.status.code(), Some(66));
    assert!(
        stderr(&absent).contains("APP_BROKER__URL_FILE"),
        "{}",
        stderr(&absent)
    );
}

fn rabbitmq_entrypoint(dir: &Path, env: &[(&str, &str)]) -> Output {
    let topology = repo_root().join("deploy/rabbitmq/definitions.json");
    let mut all = vec![
        ("RABBITMQ_DEFINITIONS_DIR", dir.to_str().unwrap()),
        ("RABBITMQ_TOPOLOGY_FILE", topology.to_str().unwrap()),
        // In place of the image's docker-entrypoint.sh: show what would have been started.
        ("RABBITMQ_NEXT_ENTRYPOINT", "echo"),
    ];
    all.extend_from_slice(env);
    run("deploy/rabbitmq/entrypoint.sh", &all, &["rabbitmq-server"])
}

/// The passwords the RabbitMQ entrypoint requires, one with every character JSON or a URL would
/// need escaped.
const BROKER_PASSWORDS: [(&str, &str); 5] = [
    ("RABBITMQ_PASSWORD", r#"p"a\ss @:/#% w0rd"#),
    ("RABBITMQ_INGRESS_PASSWORD", "ingress-secret"),
    ("RABBITMQ_WORKER_PASSWORD", "worker-secret"),
    ("RABBITMQ_NOTIFIER_PASSWORD", "notifier-secret"),
    ("RABBITMQ_CONSOLE_PASSWORD", "console-secret"),
];

fn access_json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("00-access.json")).unwrap())
        .expect("00-access.json is JSON")
}

/// `access`'s user `name` and its permissions on `/`.
fn user_and_permissions<'a>(access: &'a Value, name: &str) -> (&'a Value, &'a Value) {
    let find = |kind: &str, key: &str| {
        access[kind]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item[key] == name)
            .unwrap_or_else(|| panic!("no {kind} entry for {name}: {access}"))
    };
    (find("users", "name"), find("permissions", "user"))
}

#[test]
fn the_rabbitmq_entrypoint_writes_the_management_login_and_a_user_per_service_for_the_boot_import()
{
    let scratch = Scratch::new();
    let dir = scratch.0.join("definitions");
    let mut env = vec![("RABBITMQ_USER", "fulfillment")];
    env.extend_from_slice(&BROKER_PASSWORDS);
    let output = rabbitmq_entrypoint(&dir, &env);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim(),
        "rabbitmq-server",
        "then it starts the broker"
    );

    let access = access_json(&dir);
    assert_eq!(access["vhosts"][0]["name"], "/");
    assert_eq!(access["users"].as_array().unwrap().len(), 5);
    assert_eq!(access["permissions"].as_array().unwrap().len(), 5);
    let (login, everything) = user_and_permissions(&access, "fulfillment");
    assert_eq!(login["password"], BROKER_PASSWORDS[0].1);
    assert_eq!(login["tags"], "administrator", "the management login");
    assert_eq!(everything["vhost"], "/");
    for kind in ["configure", "write", "read"] {
        assert_eq!(everything[kind], ".*", "{kind}");
    }
    for (name, password, tags) in [
        ("fulfillment_ingress", "ingress-secret", ""),
        ("fulfillment_worker", "worker-secret", ""),
        ("fulfillment_notifier", "notifier-secret", ""),
        // The console reads queue counts and looks at dead letters over the HTTP API.
        ("fulfillment_console", "console-secret", "monitoring"),
    ] {
        let (user, permissions) = user_and_permissions(&access, name);
        assert_eq!(user["password"], password);
        assert_eq!(user["tags"], tags, "{name}'s management access");
        assert_eq!(permissions["vhost"], "/");
        for kind in ["configure", "write", "read"] {
            let regex = permissions[kind].as_str().unwrap();
            assert!(
                regex.starts_with('^') && regex.ends_with('$') && !regex.contains(".*"),
                "{name}: {kind} is anchored to names, not everything: {regex}"
            );
        }
    }
    let (_, ingress) = user_and_permissions(&access, "fulfillment_ingress");
    let (_, worker) = user_and_permissions(&access, "fulfillment_worker");
    assert_ne!(ingress["read"], worker["read"], "only the worker consumes");
    assert_ne!(ingress["write"], worker["write"], "only the worker retries");

    let topology: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("10-topology.json")).unwrap())
            .unwrap();
    assert_eq!(
        topology,
        committed_definitions(),
        "the topology is imported unchanged"
    );

    // rabbitmq.conf imports that directory.
    let conf = std::fs::read_to_string(repo_root().join("deploy/rabbitmq/rabbitmq.conf")).unwrap();
    assert!(conf
        .lines()
        .any(|l| l == "load_definitions = /tmp/rabbitmq-definitions"));
}

#[test]
fn the_rabbitmq_entrypoint_takes_the_user_names_given_and_each_password_from_a_file() {
    let scratch = Scratch::new();
    let files: Vec<(String, String)> = BROKER_PASSWORDS
        .iter()
        .map(|(variable, password)| {
            let file = scratch.file(&variable.to_lowercase(), &format!("{password}\n"));
            (
                format!("{variable}_FILE"),
                file.to_str().unwrap().to_owned(),
            )
        })
        .collect();
    let dir = scratch.0.join("definitions");
    let mut env = vec![
        ("RABBITMQ_USER", "ops"),
        ("RABBITMQ_INGRESS_USER", "webhooks"),
        ("RABBITMQ_WORKER_USER", "fulfiller"),
        ("RABBITMQ_NOTIFIER_USER", "mailer"),
        ("RABBITMQ_CONSOLE_USER", "operators"),
        // Blank, as deploy/compose.secrets.yml leaves the base file's values.
        ("RABBITMQ_PASSWORD", ""),
    ];
    env.extend(files.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let output = rabbitmq_entrypoint(&dir, &env);
    assert!(output.status.success(), "{}", stderr(&output));
    let access = access_json(&dir);
    for (name, (_, password)) in ["ops", "webhooks", "fulfiller", "mailer", "operators"]
        .iter()
        .zip(BROKER_PASSWORDS)
    {
        let (user, permissions) = user_and_permissions(&access, name);
        assert_eq!(
            user["password"], password,
            "{name}: the file's content, line end dropped"
        );
        assert_eq!(permissions["vhost"], "/");
    }
}

#[test]
fn the_rabbitmq_entrypoint_refuses_to_start_without_a_password_naming_the_variable() {
    let scratch = Scratch::new();
    for missing in [
        "RABBITMQ_PASSWORD",
        "RABBITMQ_INGRESS_PASSWORD",
        "RABBITMQ_WORKER_PASSWORD",
        "RABBITMQ_NOTIFIER_PASSWORD",
        "RABBITMQ_CONSOLE_PASSWORD",
    ] {
        let mut env = vec![("RABBITMQ_USER", "fulfillment")];
        env.extend(BROKER_PASSWORDS.iter().filter(|(k, _)| *k != missing));
        let without = rabbitmq_entrypoint(&scratch.0.join(missing), &env);
        assert!(!without.status.success(), "started without {missing}");
        assert!(
            stderr(&without).contains(&format!("set {missing} or {missing}_FILE")),
            "{}",
            stderr(&without)
        );
        assert!(stdout(&without).is_empty(), "the broker was not started");
    }

    // An empty secret file names the file's variable.
    let empty = scratch.file("empty", "\n");
    let mut env = vec![
        ("RABBITMQ_USER", "fulfillment"),
        ("RABBITMQ_WORKER_PASSWORD_FILE", empty.to_str().unwrap()),
    ];
    env.extend(
        BROKER_PASSWORDS
            .iter()
            .filter(|(k, _)| *k != "RABBITMQ_WORKER_PASSWORD"),
    );
    let refused = rabbitmq_entrypoint(&scratch.0.join("empty-file"), &env);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("RABBITMQ_WORKER_PASSWORD_FILE"),
        "{}",
        stderr(&refused)
    );

    // One name for two users would leave one of them with the other's permissions.
    let mut env = vec![
        ("RABBITMQ_USER", "fulfillment"),
        ("RABBITMQ_WORKER_USER", "fulfillment"),
    ];
    env.extend_from_slice(&BROKER_PASSWORDS);
    let refused = rabbitmq_entrypoint(&scratch.0.join("same-name"), &env);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("RABBITMQ_WORKER_USER"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn the_rabbitmq_entrypoint_writes_a_cluster_cookie_readable_only_by_the_broker() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new();
    let cookie = scratch.0.join("lib/.erlang.cookie");
    let secret = scratch.file("erlang_cookie", "SHAREDCOOKIE\n");
    for (variable, value, expected) in [
        (
            "RABBITMQ_ERLANG_COOKIE",
            "FROMTHEENVIRONMENT",
            "FROMTHEENVIRONMENT",
        ),
        (
            "RABBITMQ_ERLANG_COOKIE_FILE",
            secret.to_str().unwrap(),
            "SHAREDCOOKIE",
        ),
    ] {
        let output = rabbitmq_entrypoint(
            &scratch.0.join(variable),
            &[
                ("RABBITMQ_USER", "fulfillment"),
                ("RABBITMQ_PASSWORD", "secret"),
                ("RABBITMQ_INGRESS_PASSWORD", "ingress-secret"),
                ("RABBITMQ_WORKER_PASSWORD", "worker-secret"),
                ("RABBITMQ_NOTIFIER_PASSWORD", "notifier-secret"),
                ("RABBITMQ_CONSOLE_PASSWORD", "console-secret"),
                ("RABBITMQ_COOKIE_PATH", cookie.to_str().unwrap()),
                (variable, value),
            ],
        );
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(std::fs::read_to_string(&cookie).unwrap(), expected);
        let mode = std::fs::metadata(&cookie).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o400, "Erlang refuses a cookie others can read");
    }
}

/// `deploy/grafana/entrypoint.sh` with `echo` in place of the image's /run.sh. The Grafana image
/// itself cannot be pulled or built on this host (no registry, not a Debian package), so the
/// script runs with `sh` as the container would run it.
fn grafana_entrypoint(env: &[(&str, &str)]) -> Output {
    println!(
        "[grafana] the grafana/grafana image cannot be pulled or built here: its entrypoint \
         script runs with sh, `echo` standing in for the image's /run.sh"
    );
    let mut all = vec![("GRAFANA_NEXT_ENTRYPOINT", "echo")];
    all.extend_from_slice(env);
    run("deploy/grafana/entrypoint.sh", &all, &["grafana-started"])
}

#[test]
fn the_grafana_entrypoint_refuses_to_start_grafana_without_a_real_admin_password() {
    let scratch = Scratch::new();
    let default_in_a_file = scratch.file("grafana_admin_password", "admin\n");
    let missing_file = scratch.0.join("no-such-file");
    let chosen = scratch.file("chosen", "s3cret\n");
    for (case, env, named) in [
        (
            "no password",
            vec![],
            "GF_SECURITY_ADMIN_PASSWORD is not set",
        ),
        (
            "an empty one",
            vec![("GF_SECURITY_ADMIN_PASSWORD", "")],
            "GRAFANA_ADMIN_PASSWORD",
        ),
        (
            "Grafana's default",
            vec![("GF_SECURITY_ADMIN_PASSWORD", "admin")],
            "GF_SECURITY_ADMIN_PASSWORD (GRAFANA_ADMIN_PASSWORD in .env) is `admin`",
        ),
        (
            "Grafana's default in a file",
            vec![(
                "GF_SECURITY_ADMIN_PASSWORD__FILE",
                default_in_a_file.to_str().unwrap(),
            )],
            "GF_SECURITY_ADMIN_PASSWORD__FILE names",
        ),
        (
            "a file that is not there",
            vec![(
                "GF_SECURITY_ADMIN_PASSWORD__FILE",
                missing_file.to_str().unwrap(),
            )],
            "GF_SECURITY_ADMIN_PASSWORD__FILE: cannot read",
        ),
        (
            "both a password and a file",
            vec![
                ("GF_SECURITY_ADMIN_PASSWORD", "s3cret"),
                ("GF_SECURITY_ADMIN_PASSWORD__FILE", chosen.to_str().unwrap()),
            ],
            "are both set",
        ),
    ] {
        let output = grafana_entrypoint(&env);
        assert!(!output.status.success(), "{case}: Grafana was started");
        assert!(
            stdout(&output).is_empty(),
            "{case}: the next entrypoint ran: {}",
            stdout(&output)
        );
        assert!(
            stderr(&output).contains(named),
            "{case}: the message names what to set ({named}): {}",
            stderr(&output)
        );
    }
}

#[test]
fn the_grafana_entrypoint_hands_a_chosen_password_over_to_grafanas_own_entrypoint() {
    let scratch = Scratch::new();
    let file = scratch.file("grafana_admin_password", "from-a-file\n");
    for (case, env) in [
        (
            "from the environment",
            ("GF_SECURITY_ADMIN_PASSWORD", "s3cret"),
        ),
        (
            "from a file",
            ("GF_SECURITY_ADMIN_PASSWORD__FILE", file.to_str().unwrap()),
        ),
    ] {
        let output = grafana_entrypoint(&[env]);
        assert!(output.status.success(), "{case}: {}", stderr(&output));
        assert_eq!(
            stdout(&output).trim(),
            "grafana-started",
            "{case}: the next entrypoint runs, with the arguments"
        );
    }
    // Without the override, that is the image's own entrypoint.
    assert!(read_repo_file("deploy/grafana/entrypoint.sh")
        .contains("exec ${GRAFANA_NEXT_ENTRYPOINT:-/run.sh} \"$@\""));
}

#[test]
fn the_stack_runs_grafana_through_its_entrypoint_and_the_simulators_password_is_not_the_default() {
    let model = compose_config(&[]);
    let grafana = &model["services"]["grafana"];
    assert_eq!(
        grafana["entrypoint"],
        serde_json::json!(["/bin/sh", "/usr/local/bin/fulfillment-entrypoint.sh"])
    );
    // docker-compose prints each mount as `source:target[:mode]`.
    let script = repo_root().join("deploy/grafana/entrypoint.sh");
    let mount = format!(
        "{}:/usr/local/bin/fulfillment-entrypoint.sh:ro",
        script.display()
    );
    assert!(
        grafana["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_str() == Some(mount.as_str())),
        "the script is mounted read-only: {}",
        grafana["volumes"]
    );
    // deploy/sim.env's development password gets past the entrypoint.
    let password = grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
        .as_str()
        .unwrap();
    let output = grafana_entrypoint(&[("GF_SECURITY_ADMIN_PASSWORD", password)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(read_repo_file(".env.example")
        .contains("# REQUIRED (or deploy/secrets/grafana_admin_password"));
}
