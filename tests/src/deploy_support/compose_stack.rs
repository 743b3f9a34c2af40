//! The compose stack run for real on the local Docker engine: `docker-compose.yml` with
//! `deploy/offline/compose.yml` (stand-in images built from Debian's packages, no registry), under
//! a project name of its own and on free host ports, so it never meets a developer's stack or
//! another run's. `down -v` when dropped.

use crate::free_port;
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::eventually;
use serde_json::Value;

use super::repo_root;

/// Why the live stack cannot run here, or `None` when a Docker engine answers.
pub fn engine_unavailable() -> Option<String> {
    match Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
    {
        Err(e) => Some(format!("no docker command ({e})")),
        Ok(out) if !out.status.success() => Some(format!(
            "no Docker engine answers: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// Builds (or finds in Docker's cache) every image the stack runs, with the binaries of this
/// test build: `deploy/offline/build-images`. Prints its per-step timings.
pub fn build_images(image_tag: &str) {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target"));
    let build = Command::new("cargo")
        .args(["build", "-q", "--workspace", "--bins", "--tests"])
        .current_dir(repo_root())
        // As in deploy_native_run.rs: the runner's CARGO_MANIFEST_DIR would dirty ring's build
        // script and rebuild half the workspace, here and in the next ordinary build.
        .env_remove("CARGO_MANIFEST_DIR")
        .status()
        .expect("run cargo build");
    assert!(
        build.success(),
        "cargo build of the service binaries failed"
    );
    let out = Command::new("deploy/offline/build-images")
        .env("BINARIES", target.join("debug"))
        .env("IMAGE_TAG", image_tag)
        .current_dir(repo_root())
        .output()
        .expect("run deploy/offline/build-images");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "deploy/offline/build-images failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running compose project.
#[derive(Debug)]
pub struct ComposeStack {
    pub project: String,
    pub image_tag: String,
    /// The edge as customers and Stripe reach it (`https://localhost:PORT`): the shop at `/`,
    /// the webhook endpoint at `/webhook`. Its certificate is from Caddy's local authority
    /// ([`Self::edge_client`] trusts it).
    pub shop: String,
    /// The edge's plain-HTTP port (redirects to HTTPS).
    pub edge_http: String,
    pub prometheus: String,
    pub rabbitmq_management: String,
    /// The operators' console on its published loopback port.
    pub console: String,
    /// stripe-sim's API and control API, as published on the host.
    pub sim: String,
    /// The password of [`RABBITMQ_USER`]: the compose default, or the secret file's.
    pub rabbitmq_password: String,
    env: Vec<(String, String)>,
    /// Override files after the two every run uses (see [`Self::with_override`]).
    overrides: Vec<String>,
    /// The override files this value wrote, removed with it.
    written: Vec<String>,
    /// The secret files of [`Self::with_secret_files`], removed with the stack.
    secret_dir: Option<std::path::PathBuf>,
    /// deploy/sim.env: the simulator's development values, and never a developer's `.env`.
    env_file: String,
    torn_down: bool,
}

/// Start-up of the whole stack: RabbitMQ's first boot, migrations, health checks every 10 s.
const START_TIMEOUT: Duration = Duration::from_secs(240);

/// The RabbitMQ management login the compose file creates (the services have users of their
/// own).
pub const RABBITMQ_USER: &str = "fulfillment";

impl ComposeStack {
    /// A project description on free ports; nothing runs until [`Self::up`].
    pub fn new(image_tag: &str) -> ComposeStack {
        super::failure::remember_panics();
        let project = format!("flive{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let [edge, edge_http, sim, management, prometheus, alertmanager, console] =
            [(); 7].map(|_| free_port());
        let shop = format!("https://localhost:{edge}");
        // Its own edge network: a range outside Docker's default pools, different per project so
        // that a stack left by a killed run never blocks the next.
        let subnet = format!(
            "10.201.{}.0/24",
            1 + uuid::Uuid::new_v4().as_bytes()[0] % 250
        );
        let env: Vec<(String, String)> = [
            ("IMAGE_TAG", image_tag.to_owned()),
            ("EDGE_HTTPS_PORT", edge.to_string()),
            ("EDGE_HTTP_PORT", edge_http.to_string()),
            ("EDGE_SUBNET", subnet),
            ("LANDING_PUBLIC_URL", shop.clone()),
            ("STRIPE_SIM_PORT", sim.to_string()),
            ("STRIPE_SIM_PUBLIC_URL", format!("http://127.0.0.1:{sim}")),
            ("RABBITMQ_MANAGEMENT_PORT", management.to_string()),
            ("PROMETHEUS_PORT", prometheus.to_string()),
            ("ALERTMANAGER_PORT", alertmanager.to_string()),
            ("CONSOLE_PORT", console.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        ComposeStack {
            env_file: repo_root().join("deploy/sim.env").display().to_string(),
            project,
            image_tag: image_tag.to_owned(),
            shop,
            edge_http: format!("http://127.0.0.1:{edge_http}"),
            prometheus: format!("http://127.0.0.1:{prometheus}"),
            rabbitmq_management: format!("http://127.0.0.1:{management}"),
            console: format!("http://127.0.0.1:{console}"),
            sim: format!("http://127.0.0.1:{sim}"),
            rabbitmq_password: "fulfillment".to_owned(),
            env,
            overrides: Vec::new(),
            written: Vec::new(),
            secret_dir: None,
            torn_down: false,
        }
    }

    /// An HTTPS client that trusts the edge's certificate: the root of Caddy's local authority,
    /// read from the edge container (where a customer's browser would have it installed).
    pub fn edge_client(&self) -> reqwest::Client {
        let root = self.compose_ok(&[
            "exec",
            "-T",
            "edge",
            "cat",
            "/data/caddy/pki/authorities/local/root.crt",
        ]);
        let certificate =
            reqwest::Certificate::from_pem(root.as_bytes()).expect("the edge's root is PEM");
        reqwest::Client::builder()
            .add_root_certificate(certificate)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTPS client")
    }

    /// Adds override files of the repository (`deploy/rabbitmq/cluster.yml`…), in order.
    pub fn with_files(mut self, relative: &[&str]) -> ComposeStack {
        self.overrides
            .extend(relative.iter().map(|f| f.to_string()));
        self
    }

    /// Sets a variable the compose files interpolate.
    pub fn with_env(mut self, key: &str, value: &str) -> ComposeStack {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// `GET` of the RabbitMQ management API (`path` after `/api`), as the compose file's user;
    /// `None` while it does not answer with JSON.
    pub async fn management(&self, path: &str) -> Option<Value> {
        self.management_call(reqwest::Client::new().get(self.management_url(path)))
            .await
    }

    /// `POST` to the RabbitMQ management API (`path` after `/api`) with a JSON body, as the
    /// compose file's user, as the management UI's buttons do; `None` unless it answers 2xx with
    /// JSON.
    pub async fn management_post(&self, path: &str, body: &Value) -> Option<Value> {
        self.management_call(
            reqwest::Client::new()
                .post(self.management_url(path))
                .json(body),
        )
        .await
    }

    fn management_url(&self, path: &str) -> String {
        format!("{}/api{path}", self.rabbitmq_management)
    }

    async fn management_call(&self, request: reqwest::RequestBuilder) -> Option<Value> {
        request
            .basic_auth(RABBITMQ_USER, Some(&self.rabbitmq_password))
            .send()
            .await
            .ok()?
            .error_for_status()
            .ok()?
            .json()
            .await
            .ok()
    }

    /// The project's network, which every service is on.
    pub fn network(&self) -> String {
        format!("{}_default", self.project)
    }

    /// Adds a compose override file with `yaml` (what this test changes in the stack).
    pub fn with_override(mut self, yaml: &str) -> ComposeStack {
        let path = std::env::temp_dir().join(format!(
            "{}-override-{}.yml",
            self.project,
            self.overrides.len()
        ));
        std::fs::write(&path, yaml).expect("write the override file");
        self.overrides.push(path.display().to_string());
        self.written.push(path.display().to_string());
        self
    }

    /// Secrets from files (deploy/compose.secrets.yml), made the way deploy/secrets/README.md
    /// says — `umask 077`, so mode 0600 — and owned by `owner`, a uid no container runs as: what
    /// compose mounts for an operator who made them as their own user.
    pub fn with_secret_files(mut self, owner: u32) -> ComposeStack {
        let dir = std::env::temp_dir().join(format!("{}-secrets", self.project));
        std::fs::create_dir_all(&dir).expect("create the secrets directory");
        let password = |_| uuid::Uuid::new_v4().simple().to_string();
        let (postgres, rabbitmq) = (password(()), password(()));
        let (migration, app) = (password(()), password(()));
        let files = [
            ("postgres_password", postgres),
            ("postgres_migration_password", format!("{migration}\n")),
            ("postgres_app_password", app.clone()),
            ("rabbitmq_password", format!("{rabbitmq}\n")),
            (
                "database_url",
                format!("postgres://fulfillment_app:{app}@postgres:5432/fulfillment"),
            ),
            (
                "database_migration_url",
                format!("postgres://fulfillment_migration:{migration}@postgres:5432/fulfillment"),
            ),
            // Each service's broker password, one with the characters a URL or JSON escapes.
            (
                "rabbitmq_ingress_password",
                format!("{}\"\\ @:/#%\n", password(())),
            ),
            ("rabbitmq_worker_password", password(())),
            ("rabbitmq_notifier_password", password(())),
            ("rabbitmq_console_password", password(())),
            // Who may sign in to the console: the simulator's operator, from a 0600 file too.
            (
                "console_operators",
                std::fs::read_to_string(repo_root().join("deploy/console/operators.sim"))
                    .expect("the simulator's operators file"),
            ),
            // The sim profile's mailbox takes mail without a login, and no callback is set:
            // both files exist, empty, as deploy/secrets/README.md says for unused ones.
            ("notifier_smtp_password", String::new()),
            ("notifier_callback_secret", String::new()),
            // What stripe-sim accepts and signs with under the compose defaults.
            (
                "stripe_secret_key",
                "sk_test_local_development_only".to_owned(),
            ),
            (
                "stripe_webhook_secrets",
                "whsec_local_development_only\n".to_owned(),
            ),
            ("landing_form_secret", password(())),
            ("grafana_admin_password", password(())),
        ];
        // A `services` key with content: docker-compose v1 reads a file without one as its
        // legacy format and refuses to merge it.
        let mut yaml =
            String::from("services:\n  postgres:\n    secrets: [postgres_password]\nsecrets:\n");
        for (name, content) in files {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            let path = dir.join(name);
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, content.as_bytes()))
                .expect("write a secret file");
            std::os::unix::fs::chown(&path, Some(owner), Some(owner)).expect("chown a secret");
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            yaml.push_str(&format!("  {name}:\n    file: {}\n", path.display()));
        }
        self.rabbitmq_password = rabbitmq;
        self.secret_dir = Some(dir);
        self.overrides.push(
            repo_root()
                .join("deploy/compose.secrets.yml")
                .display()
                .to_string(),
        );
        self.with_override(&yaml)
    }

    /// Overwrites the secret file `name` (made by [`ComposeStack::with_secret_files`]) in place,
    /// keeping its owner and mode, as an operator edits it during a rotation.
    pub fn rewrite_secret(&self, name: &str, content: &str) {
        let dir = self
            .secret_dir
            .as_ref()
            .expect("the stack reads its secrets from files");
        std::fs::write(dir.join(name), content).expect("rewrite a secret file");
    }

    /// `docker-compose -p PROJECT -f … --profile sim ARGS`, with this stack's variables and no
    /// `.env` of the developer's.
    pub fn compose(&self, args: &[&str]) -> Output {
        let mut command = Command::new("docker-compose");
        command
            .args(["--env-file", &self.env_file, "-p", &self.project])
            .args([
                "-f",
                "docker-compose.yml",
                "-f",
                "deploy/offline/compose.yml",
            ])
            .args(self.overrides.iter().flat_map(|o| ["-f", o.as_str()]))
            .args(["--profile", "sim"])
            .args(args)
            .current_dir(repo_root())
            .env_remove("COMPOSE_PROJECT_NAME");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command.output().expect("run docker-compose")
    }

    /// [`Self::compose`], panicking with its output when it fails; returns stdout.
    pub fn compose_ok(&self, args: &[&str]) -> String {
        let started = Instant::now();
        let out = self.compose(args);
        assert!(
            out.status.success(),
            "docker-compose {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "[live] docker-compose {} ({:.1} s)",
            args.join(" "),
            started.elapsed().as_secs_f64()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every container of the project (running or not): (id, service, state, health, exit code).
    pub fn containers(&self) -> Vec<Container> {
        let ids = docker(&[
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
        ]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let mut args = vec!["inspect"];
        args.extend(&ids);
        let inspected: Value =
            serde_json::from_str(&docker(&args)).expect("docker inspect prints JSON");
        inspected
            .as_array()
            .expect("an array")
            .iter()
            .map(|c| Container {
                id: c["Id"].as_str().unwrap_or_default().to_owned(),
                name: c["Name"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_owned(),
                service: c["Config"]["Labels"]["com.docker.compose.service"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                status: c["State"]["Status"].as_str().unwrap_or_default().to_owned(),
                health: c["State"]["Health"]["Status"].as_str().map(str::to_owned),
                exit_code: c["State"]["ExitCode"].as_i64().unwrap_or(-1),
            })
            .collect()
    }

    /// `up -d` with `workers` worker replicas, then [`Self::wait_until_healthy`].
    pub async fn up(&self, workers: usize) {
        self.compose_ok(&[
            "up",
            "-d",
            "--no-build",
            "--scale",
            &format!("worker={workers}"),
        ]);
        self.wait_until_healthy(workers).await;
    }

    /// Waits until every long-running container is healthy and `migrate` has exited 0; fails at
    /// once when a container exits otherwise.
    pub async fn wait_until_healthy(&self, workers: usize) {
        let stack = self;
        let settled = eventually(START_TIMEOUT, || async {
            let containers = stack.containers();
            for c in &containers {
                let ended = c.status == "exited" || c.status == "dead";
                if c.service == "migrate" {
                    assert!(
                        !ended || c.exit_code == 0,
                        "migrate exited {} (its logs follow)",
                        c.exit_code
                    );
                } else {
                    assert!(
                        !ended,
                        "{} exited {} (its logs follow)",
                        c.name, c.exit_code
                    );
                }
            }
            let ready = containers.iter().all(|c| {
                if c.service == "migrate" {
                    c.status == "exited" && c.exit_code == 0
                } else {
                    c.status == "running" && c.health.as_deref().is_none_or(|h| h == "healthy")
                }
            });
            (ready && !containers.is_empty()).then_some(containers)
        })
        .await;
        let containers = settled.unwrap_or_else(|| {
            panic!(
                "the stack did not become healthy within {START_TIMEOUT:?}: {:#?}",
                stack.containers()
            )
        });
        let running_workers = containers.iter().filter(|c| c.service == "worker").count();
        assert_eq!(running_workers, workers, "{containers:#?}");
        for service in [
            "postgres",
            "rabbitmq",
            "prometheus",
            "alertmanager",
            "ingress",
            "landing",
            "notifier",
            "edge",
            "stripe-sim",
            "mailbox",
        ] {
            let c = containers
                .iter()
                .find(|c| c.service == service)
                .unwrap_or_else(|| panic!("no {service} container: {containers:#?}"));
            assert_eq!(c.health.as_deref(), Some("healthy"), "{c:?}");
        }
        for absent in ["grafana", "jaeger", "otel-collector"] {
            assert!(
                !containers.iter().any(|c| c.service == absent),
                "{absent} is switched off offline"
            );
        }
    }

    /// Every mail the sim profile's mailbox has received, each as the file it keeps.
    pub fn mailbox(&self) -> Vec<String> {
        let listing = self.compose_ok(&["exec", "-T", "mailbox", "ls", "/var/mail/sim/new"]);
        listing
            .split_whitespace()
            .map(|file| {
                self.compose_ok(&[
                    "exec",
                    "-T",
                    "mailbox",
                    "cat",
                    &format!("/var/mail/sim/new/{file}"),
                ])
            })
            .collect()
    }

    /// [`Self::sql`], or `None` while Postgres does not answer (just restarted, say).
    pub fn try_sql(&self, query: &str) -> Option<String> {
        let out = self.compose(&psql(query));
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// A SQL query through `psql` in the postgres container; its unaligned output.
    pub fn sql(&self, query: &str) -> String {
        self.compose_ok(&psql(query)).trim().to_owned()
    }

    /// The logs of every service, for a failure's context.
    pub fn logs(&self) -> String {
        let out = self.compose(&["logs", "--no-color", "--tail", "60"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `down -v --remove-orphans`; then nothing of the project may remain.
    pub fn down(&mut self) {
        self.compose_ok(&["down", "-v", "--remove-orphans", "--timeout", "30"]);
        self.torn_down = true;
    }

    /// (container name, exit code) of every container of the project that ended since `since`
    /// (unix seconds), oneoff `run` containers left out; `service` narrows it to one service.
    pub fn exits_since(&self, since: u64, service: Option<&str>) -> Vec<(String, String)> {
        let until = (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1)
        .to_string();
        let project = format!("label=com.docker.compose.project={}", self.project);
        let service = service.map(|s| format!("label=com.docker.compose.service={s}"));
        let since = since.to_string();
        let mut args = vec!["events", "--since", &since, "--until", &until];
        args.extend(["--filter", &project]);
        if let Some(service) = &service {
            args.extend(["--filter", service]);
        }
        args.extend(["--filter", "label=com.docker.compose.oneoff=False"]);
        args.extend(["--filter", "event=die"]);
        args.extend([
            "--format",
            "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
        ]);
        docker(&args)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(name, code)| (name.to_owned(), code.to_owned()))
            .collect()
    }

    /// What the engine still holds of this project: containers, volumes, networks.
    pub fn leftovers(&self) -> Vec<String> {
        let label = format!("label=com.docker.compose.project={}", self.project);
        let mut left = Vec::new();
        for kind in [["ps", "-a"], ["volume", "ls"], ["network", "ls"]] {
            let mut args = kind.to_vec();
            args.extend(["-q", "--filter", &label]);
            left.extend(
                docker(&args)
                    .split_whitespace()
                    .map(|id| format!("{} {id}", kind[0])),
            );
        }
        left
    }
}

impl Drop for ComposeStack {
    fn drop(&mut self) {
        if !self.torn_down {
            if std::thread::panicking() {
                eprintln!("[live] logs before tear-down:\n{}", self.logs());
                if let Some(reason) = super::failure::last_panic() {
                    eprintln!("[live] FAILED (the reason, again, after the logs): {reason}");
                }
            }
            let _ = self.compose(&["down", "-v", "--remove-orphans", "--timeout", "10"]);
        }
        for file in &self.written {
            let _ = std::fs::remove_file(file);
        }
        if let Some(dir) = &self.secret_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub service: String,
    pub status: String,
    pub health: Option<String>,
    pub exit_code: i64,
}

/// The compose arguments that run `query` with `psql` in the postgres container.
fn psql(query: &str) -> [&str; 10] {
    [
        "exec",
        "-T",
        "postgres",
        "psql",
        "-U",
        "fulfillment",
        "-d",
        "fulfillment",
        "-qtAc",
        query,
    ]
}

/// `docker ARGS`, panicking with stderr when it fails; returns stdout.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
