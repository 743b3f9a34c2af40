//! `docker-compose.yml` and `deploy/Dockerfile` checked without a Docker engine: the compose
//! model validates against the Compose specification, every service built from the Dockerfile
//! names a real stage, every binary an image installs is a binary of this workspace, every
//! command a service runs parses with that binary's own command line, and the stack keeps the
//! shape operations rely on (a scalable worker, migrations first, health-gated start-up).

use std::collections::{BTreeMap, BTreeSet};

use clap::Parser;
use serde_json::Value;
use tests::deploy_support::{compose_config, read_repo_file, repo_root, run_in_repo};

/// The services this repository builds, by Dockerfile target.
const BUILT: &[(&str, &str)] = &[
    ("migrate", "worker"),
    ("ingress", "ingress"),
    ("worker", "worker"),
    ("landing", "landing"),
    ("notifier", "notifier"),
    ("console", "console"),
    ("stripe-sim", "stripe-sim"),
];

/// One `FROM … AS name` stage of a Dockerfile: its base and its instructions, continuation lines
/// joined.
#[derive(Debug, Default)]
struct Stage {
    base: String,
    instructions: Vec<String>,
}

fn dockerfile_stages(text: &str) -> BTreeMap<String, Stage> {
    let joined = text.replace("\\\n", " ");
    let mut stages = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words[0].eq_ignore_ascii_case("FROM") {
            assert!(
                words.len() == 4 && words[2].eq_ignore_ascii_case("AS"),
                "every stage is named: {line}"
            );
            let name = words[3].to_owned();
            stages.insert(
                name.clone(),
                Stage {
                    base: words[1].to_owned(),
                    instructions: Vec::new(),
                },
            );
            current = Some(name);
        } else if let Some(name) = &current {
            stages
                .get_mut(name)
                .unwrap()
                .instructions
                .push(line.to_owned());
        }
    }
    stages
}

/// A stage and the stages it is built `FROM`, nearest first.
fn lineage<'a>(stages: &'a BTreeMap<String, Stage>, name: &str) -> Vec<&'a Stage> {
    let mut chain = Vec::new();
    let mut next = stages.get(name);
    while let Some(stage) = next {
        chain.push(stage);
        next = stages.get(&stage.base);
    }
    chain
}

/// Workspace packages → their binary targets (`cargo metadata`).
fn workspace_bins() -> BTreeSet<String> {
    let metadata = cargo_metadata(&["--no-deps"]);
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

fn cargo_metadata(extra: &[&str]) -> Value {
    let mut args = vec!["metadata", "--format-version", "1", "--locked"];
    args.extend_from_slice(extra);
    let (ok, stdout, stderr) = run_in_repo(env!("CARGO"), &args, "cargo");
    assert!(ok, "cargo metadata failed: {stderr}");
    serde_json::from_str(&stdout).expect("cargo metadata prints JSON")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_compose_file_validates_against_the_compose_specification_and_keeps_the_simulator_optional() {
    let model = compose_config(&["--profile", "sim"]);
    let services: BTreeSet<String> = model["services"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let expected: BTreeSet<String> = [
        "postgres",
        "rabbitmq",
        "migrate",
        "ingress",
        "worker",
        "landing",
        "notifier",
        "console",
        "edge",
        "stripe-sim",
        "mailbox",
        "otel-collector",
        "jaeger",
        "prometheus",
        "alertmanager",
        "grafana",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(services, expected);
    // The simulator and its mailbox only run with `--profile sim`, so nothing else may need them
    // to start.
    let sim_only = ["stripe-sim", "mailbox"];
    for name in sim_only {
        assert_eq!(
            model["services"][name]["profiles"],
            serde_json::json!(["sim"]),
            "{name}"
        );
    }
    for (name, service) in model["services"].as_object().unwrap() {
        for needed in sim_only {
            assert!(
                service["depends_on"].get(needed).is_none(),
                "{name} depends on {needed}"
            );
        }
        if !sim_only.contains(&name.as_str()) {
            assert!(
                service.get("profiles").is_none(),
                "{name} is behind a profile"
            );
        }
    }
    // Against Stripe (.env.example's shape) the file validates too.
    compose_config(&["--env-file", ".env.example"]);

    // Secrets from files: the override validates too, and leaves no secret in the environment.
    let secret_files: Vec<(&str, &str)> = [
        "postgres_password",
        "postgres_migration_password",
        "postgres_app_password",
        "rabbitmq_password",
        "rabbitmq_ingress_password",
        "rabbitmq_worker_password",
        "rabbitmq_notifier_password",
        "notifier_smtp_password",
        "notifier_callback_secret",
        "database_url",
        "database_migration_url",
        "stripe_secret_key",
        "stripe_webhook_secrets",
        "landing_form_secret",
        "grafana_admin_password",
    ]
    .iter()
    .map(|name| (*name, "placeholder"))
    .collect();
    let secrets_dir = repo_root().join("deploy/secrets");
    let created: Vec<_> = secret_files
        .iter()
        .map(|(name, _)| secrets_dir.join(name))
        .filter(|path| !path.exists())
        .collect();
    for path in &created {
        std::fs::write(path, "placeholder").unwrap();
    }
    let with_files = std::panic::catch_unwind(|| {
        compose_config(&[
            "-f",
            "docker-compose.yml",
            "-f",
            "deploy/compose.secrets.yml",
            "--profile",
            "sim",
        ])
    });
    for path in &created {
        let _ = std::fs::remove_file(path);
    }
    let with_files = with_files.expect("the secrets override validates");
    for (name, service) in with_files["services"].as_object().unwrap() {
        for (key, value) in service["environment"].as_object().into_iter().flatten() {
            if let Some(base_name) = key.strip_suffix("_FILE") {
                assert!(
                    value.as_str().unwrap().starts_with("/run/secrets/"),
                    "{name}: {key}"
                );
                let base_value = service["environment"][base_name]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    base_value.is_empty(),
                    "{name}: {base_name} is still set next to {key}"
                );
            }
        }
    }
    // Each broker password file reaches the broker and the one service whose user it is.
    // `docker-compose config` prints each as `{source: name}`.
    let secrets_of = |service: &str| -> BTreeSet<String> {
        with_files["services"][service]["secrets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|secret| secret["source"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    for (service, own) in [
        ("ingress", "rabbitmq_ingress_password"),
        ("worker", "rabbitmq_worker_password"),
        ("notifier", "rabbitmq_notifier_password"),
        ("console", "rabbitmq_console_password"),
    ] {
        let secrets = secrets_of(service);
        assert!(secrets.contains(own), "{service}: {secrets:?}");
        let foreign: Vec<_> = secrets
            .iter()
            .filter(|s| s.starts_with("rabbitmq_") && s.as_str() != own)
            .collect();
        assert!(foreign.is_empty(), "{service} gets {foreign:?}");
        assert_eq!(
            with_files["services"][service]["environment"]["APP_BROKER__PASSWORD_FILE"],
            format!("/run/secrets/{own}"),
            "{service}"
        );
    }
    for service in ["migrate", "landing"] {
        let secrets = secrets_of(service);
        assert!(
            secrets.iter().all(|s| !s.starts_with("rabbitmq_")),
            "{service} gets a broker password: {secrets:?}"
        );
    }
    assert_eq!(
        secrets_of("rabbitmq"),
        [
            "rabbitmq_password",
            "rabbitmq_ingress_password",
            "rabbitmq_worker_password",
            "rabbitmq_notifier_password",
            "rabbitmq_console_password"
        ]
        .map(str::to_owned)
        .into(),
    );
}

/// The stack's model with a distinct value for each broker user and password (deploy/sim.env's
/// otherwise), so that a credential found in a service's environment says whose it is.
fn model_with_distinct_broker_credentials() -> (Value, [(&'static str, &'static str); 10]) {
    let credentials = [
        ("RABBITMQ_USER", "ops-login"),
        ("RABBITMQ_PASSWORD", "management-secret"),
        ("RABBITMQ_INGRESS_USER", "ingress-user"),
        ("RABBITMQ_INGRESS_PASSWORD", "ingress-secret"),
        ("RABBITMQ_WORKER_USER", "worker-user"),
        ("RABBITMQ_WORKER_PASSWORD", "worker-secret"),
        ("RABBITMQ_NOTIFIER_USER", "notifier-user"),
        ("RABBITMQ_NOTIFIER_PASSWORD", "notifier-secret"),
        ("RABBITMQ_CONSOLE_USER", "console-user"),
        ("RABBITMQ_CONSOLE_PASSWORD", "console-secret"),
    ];
    let sim = read_repo_file("deploy/sim.env");
    let mut env: Vec<String> = sim
        .lines()
        .filter(|l| !l.starts_with("RABBITMQ_"))
        .map(str::to_owned)
        .collect();
    env.extend(credentials.iter().map(|(k, v)| format!("{k}={v}")));
    let file = std::env::temp_dir().join(format!(
        "broker-credentials-{}.env",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&file, env.join("\n")).unwrap();
    let model = std::panic::catch_unwind(|| {
        compose_config(&["--env-file", file.to_str().unwrap(), "--profile", "sim"])
    });
    let _ = std::fs::remove_file(&file);
    (model.expect("the stack's model"), credentials)
}

#[test]
fn each_service_reaches_the_broker_as_its_own_user_and_none_holds_the_management_login() {
    let (model, credentials) = model_with_distinct_broker_credentials();
    let value = |name: &str| {
        credentials
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
            .unwrap()
    };
    let rabbitmq = &model["services"]["rabbitmq"]["environment"];
    for (name, given) in credentials {
        assert_eq!(rabbitmq[name], given, "the broker imports {name}");
    }
    for (service, user, password) in [
        (
            "ingress",
            "RABBITMQ_INGRESS_USER",
            "RABBITMQ_INGRESS_PASSWORD",
        ),
        ("worker", "RABBITMQ_WORKER_USER", "RABBITMQ_WORKER_PASSWORD"),
        (
            "notifier",
            "RABBITMQ_NOTIFIER_USER",
            "RABBITMQ_NOTIFIER_PASSWORD",
        ),
        (
            "console",
            "RABBITMQ_CONSOLE_USER",
            "RABBITMQ_CONSOLE_PASSWORD",
        ),
    ] {
        let environment = &model["services"][service]["environment"];
        let url = url::Url::parse(environment["APP_BROKER__URL"].as_str().unwrap())
            .expect("broker.url is a URL");
        assert_eq!(url.username(), value(user), "{service}");
        assert_eq!(url.password(), None, "{service}: the password stays apart");
        assert_eq!(
            environment["APP_BROKER__PASSWORD"],
            value(password),
            "{service}"
        );
    }
    // Nobody but the broker holds a credential that is not their own.
    let held_by = |service: &str| -> Vec<&str> {
        let environment = &model["services"][service]["environment"];
        credentials
            .iter()
            .filter(|(_, v)| {
                environment
                    .as_object()
                    .into_iter()
                    .flatten()
                    .any(|(_, e)| e.as_str().unwrap_or_default().contains(v))
            })
            .map(|(k, _)| *k)
            .collect()
    };
    for (service, own) in [
        (
            "ingress",
            ["RABBITMQ_INGRESS_USER", "RABBITMQ_INGRESS_PASSWORD"],
        ),
        (
            "worker",
            ["RABBITMQ_WORKER_USER", "RABBITMQ_WORKER_PASSWORD"],
        ),
        (
            "notifier",
            ["RABBITMQ_NOTIFIER_USER", "RABBITMQ_NOTIFIER_PASSWORD"],
        ),
        (
            "console",
            ["RABBITMQ_CONSOLE_USER", "RABBITMQ_CONSOLE_PASSWORD"],
        ),
    ] {
        assert_eq!(held_by(service), own, "{service}");
    }
    // The console's user also logs in to the management API (tag monitoring, not the
    // operators' administrator login).
    let console = &model["services"]["console"]["environment"];
    assert_eq!(
        console["APP_CONSOLE__MANAGEMENT_USERNAME"],
        value("RABBITMQ_CONSOLE_USER")
    );
    assert_eq!(
        console["APP_CONSOLE__MANAGEMENT_PASSWORD"],
        value("RABBITMQ_CONSOLE_PASSWORD")
    );
    for service in model["services"].as_object().unwrap().keys() {
        if !["rabbitmq", "ingress", "worker", "notifier", "console"].contains(&service.as_str()) {
            assert!(
                held_by(service).is_empty(),
                "{service}: {:?}",
                held_by(service)
            );
        }
    }
}

#[test]
fn a_compose_file_that_breaks_the_specification_is_rejected() {
    let broken = read_repo_file("docker-compose.yml").replace(
        "condition: service_completed_successfully",
        "condition: service_finished",
    );
    let path = std::env::temp_dir().join(format!("compose-broken-{}.yml", std::process::id()));
    std::fs::write(&path, broken).unwrap();
    let root = repo_root();
    let (ok, _, stderr) = run_in_repo(
        "docker-compose",
        &[
            "--project-directory",
            root.to_str().unwrap(),
            "--env-file",
            "deploy/sim.env",
            "-f",
            path.to_str().unwrap(),
            "config",
            "-q",
        ],
        "Debian's docker-compose",
    );
    let _ = std::fs::remove_file(&path);
    assert!(!ok, "an unknown depends_on condition must not validate");
    assert!(
        stderr.contains("service_finished"),
        "the error names the mistake: {stderr}"
    );
}

#[test]
fn every_built_service_names_a_dockerfile_stage_that_installs_a_workspace_binary_it_runs() {
    let model = compose_config(&["--profile", "sim"]);
    let stages = dockerfile_stages(&read_repo_file("deploy/Dockerfile"));
    let bins = workspace_bins();

    // The builder's outputs are workspace binaries, and every stage installs only those.
    let builder = &stages["builder"];
    let built: BTreeSet<String> = builder
        .instructions
        .iter()
        .flat_map(|i| i.split_whitespace())
        .filter_map(|w| w.strip_prefix("target/release/"))
        .map(str::to_owned)
        .collect();
    assert!(
        !built.is_empty(),
        "the builder copies its binaries out of target/release"
    );
    for binary in &built {
        assert!(
            bins.contains(binary),
            "{binary} is not a [[bin]] of the workspace ({bins:?})"
        );
    }

    for (service, target) in BUILT {
        let definition = &model["services"][*service];
        let build = &definition["build"];
        assert_eq!(build["dockerfile"], "deploy/Dockerfile", "{service}");
        assert_eq!(build["target"], *target, "{service}");
        let stage_chain = lineage(&stages, target);
        assert!(
            !stage_chain.is_empty(),
            "{service}: no stage `{target}` in deploy/Dockerfile"
        );

        // What the image installs, from its stage and the stages beneath it.
        let mut installed = BTreeSet::new();
        let mut healthcheck = None;
        let mut cmd = None;
        for stage in &stage_chain {
            for instruction in &stage.instructions {
                let words: Vec<&str> = instruction.split_whitespace().collect();
                if words[0] == "COPY" && words.get(1) == Some(&"--from=builder") {
                    let source = words[2].trim_start_matches("/out/");
                    assert!(
                        built.contains(source),
                        "{target} copies {source}, which the builder does not build"
                    );
                    installed.insert(words[3].rsplit('/').next().unwrap().to_owned());
                }
                if words[0] == "HEALTHCHECK" && healthcheck.is_none() {
                    healthcheck = Some(instruction.clone());
                }
                if words[0] == "CMD" && cmd.is_none() {
                    cmd = Some(
                        serde_json::from_str::<Vec<String>>(
                            instruction.trim_start_matches("CMD").trim(),
                        )
                        .unwrap(),
                    );
                }
            }
        }
        let healthcheck =
            healthcheck.unwrap_or_else(|| panic!("stage {target} has no HEALTHCHECK"));
        assert!(
            healthcheck.contains("CMD healthcheck "),
            "{target}: {healthcheck}"
        );
        assert!(
            installed.contains("healthcheck"),
            "{target} lacks the healthcheck binary"
        );

        let command = definition["command"]
            .as_array()
            .map(|_| strings(&definition["command"]))
            .or(cmd)
            .unwrap_or_else(|| panic!("{service} has no command"));
        assert!(
            installed.contains(&command[0]),
            "{service} runs {:?}, which stage {target} does not install ({installed:?})",
            command[0]
        );
        match command[0].as_str() {
            "worker" => {
                worker::cli::Cli::try_parse_from(&command).unwrap_or_else(|e| {
                    panic!(
                        "{service}: `{}` is not a worker command: {e}",
                        command.join(" ")
                    )
                });
            }
            "notifier" => {
                notifier::cli::Cli::try_parse_from(&command).unwrap_or_else(|e| {
                    panic!(
                        "{service}: `{}` is not a notifier command: {e}",
                        command.join(" ")
                    )
                });
            }
            "stripe-sim" => {
                stripe_sim::cli::Cli::try_parse_from(&command).unwrap_or_else(|e| {
                    panic!(
                        "{service}: `{}` is not a stripe-sim command: {e}",
                        command.join(" ")
                    )
                });
            }
            // ingress and landing take no arguments: everything is settings.
            other => assert_eq!(command, vec![other.to_owned()], "{service}"),
        }
    }
}

#[test]
fn the_builder_image_is_new_enough_for_every_locked_dependency() {
    let dockerfile = read_repo_file("deploy/Dockerfile");
    let image_version = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_VERSION="))
        .expect("deploy/Dockerfile has ARG RUST_VERSION=");
    let parse = |v: &str| -> (u64, u64) {
        let mut parts = v.trim().split('.').map(|p| p.parse::<u64>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    };
    let image = parse(image_version);
    // The packages a Linux build compiles (the lock also lists other platforms' crates, which
    // are never downloaded here).
    let (_, rustc, _) = run_in_repo("rustc", &["-vV"], "rustup");
    let host = rustc
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host");
    let metadata = cargo_metadata(&["--offline", "--filter-platform", host]);
    for package in metadata["packages"].as_array().unwrap() {
        if let Some(required) = package["rust_version"].as_str() {
            assert!(
                parse(required) <= image,
                "{} {} needs Rust {required}; deploy/Dockerfile builds with {image_version}",
                package["name"],
                package["version"]
            );
        }
    }
}

/// The packages whose binaries the images ship: the release build compiles these and nothing
/// else, so a dev- or test-only feature of a shared dependency (the `tests` crate turns on several)
/// never reaches a shipped binary, and the dependency layer (`cargo chef cook`) and the final
/// build resolve features identically, which is what keeps the cooked layer reusable.
#[test]
fn the_release_build_compiles_only_the_shipped_packages_in_both_steps() {
    let stages = dockerfile_stages(&read_repo_file("deploy/Dockerfile"));
    let builder = &stages["builder"].instructions;
    let packages = |step: &str| -> BTreeSet<String> {
        // The one command of a `RUN a && b …` line that is this step.
        let run = builder
            .iter()
            .filter(|l| l.starts_with("RUN"))
            .flat_map(|l| l.split("&&"))
            .find(|command| command.contains(step))
            .unwrap_or_else(|| panic!("the builder stage runs `{step}`"));
        assert!(
            !run.contains("--workspace"),
            "`{step}` builds the whole workspace, test crate included: {run}"
        );
        let words: Vec<&str> = run.split_whitespace().collect();
        words
            .windows(2)
            .filter(|w| w[0] == "-p" || w[0] == "--package")
            .map(|w| w[1].to_owned())
            .collect()
    };
    let shipped: BTreeSet<String> = [
        "ingress",
        "worker",
        "landing",
        "notifier",
        "console",
        "stripe-sim",
        "healthcheck",
    ]
    .map(String::from)
    .into();
    assert_eq!(packages("cargo chef cook"), shipped);
    assert_eq!(packages("cargo build"), shipped);
}

/// The live compose test builds our images from the Dockerfile's runtime stages with host
/// binaries; the builder stages run for real only in deploy/offline/prove-dockerfile (tens of
/// minutes), which records the Dockerfile it built. A Dockerfile changed since is unproven.
#[test]
fn the_dockerfile_as_it_is_now_was_built_end_to_end() {
    use sha2::{Digest, Sha256};
    let dockerfile = read_repo_file("deploy/Dockerfile");
    let digest = hex::encode(Sha256::digest(dockerfile.as_bytes()));
    let record = read_repo_file("deploy/offline/dockerfile.proven");
    let proven = record
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.split_whitespace().next())
        .expect("dockerfile.proven records a sha256");
    assert_eq!(
        proven, digest,
        "deploy/Dockerfile changed since its multi-stage build last ran: run \
         deploy/offline/prove-dockerfile and commit deploy/offline/dockerfile.proven"
    );
    assert!(
        !dockerfile.lines().any(|l| l.starts_with("# syntax=")),
        "a `# syntax=` line makes the builder pull a frontend image, which a host without a \
         registry cannot"
    );
}

#[test]
fn the_stack_starts_in_dependency_order_and_the_worker_scales() {
    let model = compose_config(&["--profile", "sim"]);
    let services = &model["services"];
    let depends =
        |service: &str, on: &str| services[service]["depends_on"][on]["condition"].clone();

    for service in ["worker", "landing", "notifier"] {
        assert_eq!(
            depends(service, "migrate"),
            "service_completed_successfully",
            "{service}"
        );
        assert_eq!(depends(service, "postgres"), "service_healthy", "{service}");
    }
    assert_eq!(depends("migrate", "postgres"), "service_healthy");
    assert_eq!(depends("worker", "rabbitmq"), "service_healthy");
    assert_eq!(depends("ingress", "rabbitmq"), "service_healthy");
    assert_eq!(depends("notifier", "rabbitmq"), "service_healthy");
    // With deploy/sim.env the notifier's mail goes to the sim profile's mailbox.
    let notifier_env = &services["notifier"]["environment"];
    assert_eq!(notifier_env["APP_NOTIFIER__SMTP_HOST"], "mailbox");
    assert!(
        services["mailbox"].is_object(),
        "the sim profile has a mailbox"
    );
    assert_eq!(depends("stripe-sim", "ingress"), "service_healthy");
    assert_eq!(
        strings(&services["migrate"]["command"]),
        ["worker", "migrate"]
    );
    for backing in ["postgres", "rabbitmq"] {
        assert!(
            services[backing]["healthcheck"]["test"].is_array(),
            "{backing} has a healthcheck"
        );
    }

    // `docker compose up --scale worker=3` needs a worker without a fixed name or host port.
    let worker = &services["worker"];
    assert!(
        worker.get("container_name").is_none(),
        "worker has a container_name"
    );
    assert!(
        worker.get("ports").is_none(),
        "worker publishes a host port: {}",
        worker["ports"]
    );

    // Every service reports traces to the collector and logs JSON.
    for (service, _) in BUILT.iter().filter(|(s, _)| *s != "stripe-sim") {
        let environment = &services[*service]["environment"];
        assert_eq!(
            environment["APP_TELEMETRY__OTLP_ENDPOINT"], "http://otel-collector:4318",
            "{service}"
        );
        assert_eq!(environment["APP_LOG__FORMAT"], "json", "{service}");
    }

    // With deploy/sim.env the services call the simulator, which signs its webhooks with a
    // secret the ingress accepts and delivers them to the ingress's webhook path.
    let sim = strings(&services["stripe-sim"]["command"]);
    let flag = |name: &str| -> String {
        sim.iter()
            .find_map(|a| a.strip_prefix(&format!("--{name}=")))
            .unwrap_or_else(|| panic!("stripe-sim has no --{name}"))
            .to_owned()
    };
    let worker_env = &services["worker"]["environment"];
    assert_eq!(
        worker_env["APP_STRIPE__API_BASE"],
        "http://stripe-sim:12111"
    );
    let secrets = services["ingress"]["environment"]["APP_WEBHOOK__SECRETS"]
        .as_str()
        .unwrap();
    assert!(
        secrets.split(',').any(|s| s == flag("webhook-secret")),
        "the sim signs with an accepted secret"
    );
    assert_eq!(flag("webhook"), "http://ingress:8080/webhook");
    assert_eq!(
        flag("api-key"),
        worker_env["APP_STRIPE__SECRET_KEY"].as_str().unwrap()
    );
}

#[test]
fn every_file_the_stack_mounts_exists_and_prometheus_scrapes_every_service() {
    let model = compose_config(&["--profile", "sim"]);
    let root = repo_root();
    for (service, definition) in model["services"].as_object().unwrap() {
        for volume in definition["volumes"].as_array().into_iter().flatten() {
            // docker-compose prints bind mounts as "SOURCE:TARGET[:MODE]" with an absolute source.
            let text = volume.as_str().map(str::to_owned).unwrap_or_else(|| {
                format!(
                    "{}:{}",
                    volume["source"].as_str().unwrap_or_default(),
                    volume["target"].as_str().unwrap_or_default()
                )
            });
            let source = text.split(':').next().unwrap();
            if source.starts_with('/') {
                assert!(
                    std::path::Path::new(source).exists()
                        && source.starts_with(root.to_str().unwrap()),
                    "{service} mounts {source}, which is not a file of the repository"
                );
            }
        }
    }

    let prometheus = tests::deploy_support::read_yaml("deploy/prometheus/prometheus.yml");
    let mut scraped = BTreeSet::new();
    for job in prometheus["scrape_configs"].as_array().unwrap() {
        for static_config in job["static_configs"].as_array().into_iter().flatten() {
            for target in strings(&static_config["targets"]) {
                scraped.insert(target.split(':').next().unwrap().to_owned());
            }
        }
        for dns in job["dns_sd_configs"].as_array().into_iter().flatten() {
            scraped.extend(strings(&dns["names"]));
        }
    }
    for service in [
        "ingress",
        "worker",
        "landing",
        "notifier",
        "rabbitmq-nodes",
        "otel-collector",
        "alertmanager",
    ] {
        assert!(
            scraped.contains(service),
            "Prometheus does not scrape {service}"
        );
    }
    // A host is a service's name or one of its network aliases (`rabbitmq-nodes`: every broker).
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (service, definition) in model["services"].as_object().unwrap() {
        names.insert(service.clone());
        for network in definition["networks"].as_object().into_iter().flatten() {
            names.extend(strings(&network.1["aliases"]));
        }
    }
    for host in scraped.iter().filter(|h| *h != "localhost") {
        assert!(
            names.contains(host),
            "Prometheus scrapes {host}, which is neither a service nor an alias of one"
        );
    }
}

/// `docker-compose -f docker-compose.yml -f deploy/rabbitmq/cluster.yml config`, with
/// deploy/sim.env's values and `cookie` as RABBITMQ_ERLANG_COOKIE: (succeeded, stdout, stderr).
fn cluster_config(cookie: Option<&str>) -> (bool, String, String) {
    let env_file = std::env::temp_dir().join(format!("cluster-{}.env", uuid::Uuid::new_v4()));
    std::fs::copy(repo_root().join("deploy/sim.env"), &env_file).unwrap();
    let mut command = std::process::Command::new("docker-compose");
    command
        .args(["--env-file", env_file.to_str().unwrap()])
        .args([
            "-f",
            "docker-compose.yml",
            "-f",
            "deploy/rabbitmq/cluster.yml",
        ])
        .args(["config"])
        .current_dir(repo_root())
        .env_remove("RABBITMQ_ERLANG_COOKIE");
    if let Some(cookie) = cookie {
        command.env("RABBITMQ_ERLANG_COOKIE", cookie);
    }
    let out = command.output().expect("run docker-compose");
    let _ = std::fs::remove_file(env_file);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cluster_overlay_runs_three_nodes_that_share_a_cookie_and_gives_every_client_all_of_them() {
    let (ok, _, stderr) = cluster_config(None);
    assert!(!ok, "a cluster without a shared cookie must not start");
    assert!(stderr.contains("RABBITMQ_ERLANG_COOKIE"), "{stderr}");

    let (ok, stdout, stderr) = cluster_config(Some("a-shared-cookie"));
    assert!(ok, "{stderr}");
    let model = tests::deploy_support::yaml_to_json(&stdout).expect("docker-compose prints YAML");
    for node in ["rabbitmq", "rabbitmq-2", "rabbitmq-3"] {
        let service = &model["services"][node];
        assert_eq!(
            service["environment"]["RABBITMQ_ERLANG_COOKIE"], "a-shared-cookie",
            "{node}"
        );
        assert_eq!(service["hostname"], node, "the node name is rabbit@{node}");
        // `docker-compose config` prints each mount as `source:target[:mode]`.
        let mounts = strings(&service["volumes"]);
        assert!(
            mounts
                .iter()
                .any(|m| m.contains(":/etc/rabbitmq/conf.d/40-cluster.conf")),
            "{node} mounts the cluster configuration: {mounts:?}"
        );
        assert_eq!(
            strings(&service["networks"]["default"]["aliases"]),
            vec!["rabbitmq-nodes".to_owned()],
            "{node} is found by Prometheus"
        );
    }
    // The first node forms the cluster alone; the others join it once it is healthy (so after
    // its topology import), one after the other.
    let peers_file = |node: &str| {
        let mounts = strings(&model["services"][node]["volumes"]);
        let mount = mounts
            .iter()
            .find(|m| m.contains(":/etc/rabbitmq/conf.d/41-peers.conf"))
            .unwrap_or_else(|| panic!("{node} mounts its peer list: {mounts:?}"))
            .clone();
        let source = mount.split(':').next().unwrap().to_owned();
        std::fs::read_to_string(&source).expect("the peer list exists")
    };
    let listed = |conf: &str| -> Vec<String> {
        conf.lines()
            .filter(|l| l.starts_with("cluster_formation.classic_config.nodes."))
            .map(|l| l.rsplit(" = ").next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(listed(&peers_file("rabbitmq")), ["rabbit@rabbitmq"]);
    for node in ["rabbitmq-2", "rabbitmq-3"] {
        assert_eq!(
            listed(&peers_file(node)),
            ["rabbit@rabbitmq", "rabbit@rabbitmq-2", "rabbit@rabbitmq-3"],
            "{node}"
        );
    }
    for (node, after) in [("rabbitmq-2", "rabbitmq"), ("rabbitmq-3", "rabbitmq-2")] {
        assert_eq!(
            model["services"][node]["depends_on"][after]["condition"], "service_healthy",
            "{node} boots once {after} is healthy"
        );
    }
    for (client, user) in [
        ("ingress", "fulfillment_ingress"),
        ("worker", "fulfillment_worker"),
        ("notifier", "fulfillment_notifier"),
        ("console", "fulfillment_console"),
    ] {
        let url = model["services"][client]["environment"]["APP_BROKER__URL"]
            .as_str()
            .unwrap_or_default();
        let nodes: Vec<url::Url> = url
            .split(',')
            .map(|node| url::Url::parse(node).expect("each node is a URL"))
            .collect();
        let hosts: Vec<&str> = nodes
            .iter()
            .map(|node| node.host_str().unwrap_or_default())
            .collect();
        assert_eq!(hosts, ["rabbitmq", "rabbitmq-2", "rabbitmq-3"], "{client}");
        for node in &nodes {
            assert_eq!(node.username(), user, "{client} connects as its own user");
            assert_eq!(node.password(), None, "{client}: the password stays apart");
        }
        assert!(url.matches("heartbeat=5").count() == 3, "{client}: {url}");
    }
}
