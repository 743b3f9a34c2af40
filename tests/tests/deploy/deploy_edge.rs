//! The compose stack's edge and its safe defaults, checked without a Docker engine: only the TLS
//! proxy is published to the world, each service is handed only the settings it uses, nothing
//! starts on development values outside deploy/sim.env, replica counts and the build-only image
//! policy live in the file, and the proxy's own configuration is valid Caddy. The same Caddyfile
//! run natively (the client's address, a provided certificate) is checked in `running_edge`; the
//! edge in the compose stack (TLS, routing, balancing) by `deploy_live_stack`.

mod running_edge;

use std::time::Duration;

use serde_json::Value;
use tests::deploy_support::{compose_config, repo_root, run_in_repo};

/// The services built from deploy/Dockerfile (never to be pulled).
const BUILT: &[&str] = &["migrate", "ingress", "worker", "landing", "stripe-sim"];

/// `docker-compose config` with an env file of `lines` alone: (succeeded, stderr).
fn config_with(lines: &[&str]) -> (bool, String) {
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    let path = std::env::temp_dir().join(format!("edge-{}.env", uuid::Uuid::new_v4()));
    std::fs::write(&path, text).unwrap();
    let (ok, _, stderr) = run_in_repo(
        "docker-compose",
        &["--env-file", path.to_str().unwrap(), "config", "-q"],
        "Debian's docker-compose, installed by scripts/ensure-services",
    );
    let _ = std::fs::remove_file(&path);
    (ok, stderr)
}

fn environment(model: &Value, service: &str) -> Vec<String> {
    model["services"][service]["environment"]
        .as_object()
        .map(|env| env.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn only_the_edge_is_published_and_operations_uis_stay_on_loopback() {
    for model in [
        compose_config(&[]),
        compose_config(&["--env-file", ".env.example"]),
    ] {
        for (name, service) in model["services"].as_object().unwrap() {
            for port in service["ports"].as_array().into_iter().flatten() {
                match (name.as_str(), port) {
                    // The edge: HTTPS, and HTTP for redirects and ACME challenges.
                    ("edge", Value::Object(p)) => {
                        assert!([443, 80].contains(&p["target"].as_u64().unwrap()), "{port}")
                    }
                    // The simulator's hosted page, in the sim profile only.
                    ("stripe-sim", _) => {}
                    (_, Value::String(text)) => assert!(
                        text.starts_with("127.0.0.1:"),
                        "{name} publishes {text} beyond loopback"
                    ),
                    _ => panic!("{name} publishes {port} to the world"),
                }
            }
        }
        for service in ["ingress", "landing", "worker"] {
            assert!(
                model["services"][service].get("ports").is_none(),
                "{service} is published; only the edge may be"
            );
        }
    }
}

#[test]
fn each_service_is_handed_only_the_settings_it_uses() {
    let model = compose_config(&[]);
    let ingress = environment(&model, "ingress");
    for absent in [
        "APP_DATABASE__URL",
        "APP_STRIPE__SECRET_KEY",
        "APP_STRIPE__API_BASE",
        "APP_LANDING__FORM_SECRET",
    ] {
        assert!(
            !ingress.iter().any(|k| k == absent),
            "ingress gets {absent}"
        );
    }
    assert!(ingress.iter().any(|k| k == "APP_WEBHOOK__SECRETS"));
    let landing = environment(&model, "landing");
    assert!(!landing.iter().any(|k| k == "APP_BROKER__URL"));
    assert!(!landing.iter().any(|k| k == "APP_WEBHOOK__SECRETS"));
    let migrate = environment(&model, "migrate");
    for absent in [
        "APP_BROKER__URL",
        "APP_STRIPE__SECRET_KEY",
        "APP_WEBHOOK__SECRETS",
    ] {
        assert!(
            !migrate.iter().any(|k| k == absent),
            "migrate gets {absent}"
        );
    }
    let worker = environment(&model, "worker");
    assert!(!worker.iter().any(|k| k == "APP_WEBHOOK__SECRETS"));
    assert!(!worker.iter().any(|k| k == "APP_LANDING__FORM_SECRET"));
    // The console verifies no webhook and signs no shop form; it is reached on loopback only,
    // never from the edge's network.
    let console = environment(&model, "console");
    assert!(!console.iter().any(|k| k == "APP_WEBHOOK__SECRETS"));
    assert!(!console.iter().any(|k| k == "APP_LANDING__FORM_SECRET"));
    assert!(console.iter().any(|k| k == "APP_CONSOLE__OPERATORS_FILE"));
    // The file that variable names is mounted, in the base file alone (no secrets overlay):
    // without it the entrypoint finds nothing to read and the console never starts.
    let mounted: Vec<&str> = model["services"]["console"]["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["source"].as_str().or(s.as_str()))
        .collect();
    assert_eq!(mounted, ["console_operators"], "the console's secrets");
    assert!(model["secrets"]["console_operators"]["file"]
        .as_str()
        .is_some_and(|file| file.ends_with("deploy/console/operators.sim")));
    assert!(model["services"]["console"]["networks"]
        .as_object()
        .is_none_or(|networks| !networks.contains_key("edge")));
    // Landing believes X-Forwarded-For from the edge network alone, where the proxy sits.
    let subnet = &model["networks"]["edge"]["ipam"]["config"][0]["subnet"];
    assert_eq!(
        model["services"]["landing"]["environment"]["APP_LANDING__TRUSTED_PROXIES"],
        *subnet
    );
    assert_eq!(
        model["services"]["edge"]["networks"],
        serde_json::json!({ "edge": null })
    );
}

#[test]
fn nothing_starts_on_development_values_outside_the_simulator_env_file() {
    // No .env at all: Compose refuses, naming what to set.
    let (ok, stderr) = config_with(&[]);
    assert!(!ok, "the stack must not start without its Stripe settings");
    assert!(stderr.contains("STRIPE_API_BASE"), "{stderr}");
    // Everything but the public URL: refused, naming it.
    let (ok, stderr) = config_with(&["STRIPE_API_BASE=https://api.stripe.com"]);
    assert!(!ok);
    assert!(stderr.contains("LANDING_PUBLIC_URL"), "{stderr}");

    // The template an operator copies holds no secret, and no development value.
    let example = std::fs::read_to_string(repo_root().join(".env.example")).unwrap();
    for development in ["local_development_only", "stripe-sim"] {
        let line = example
            .lines()
            .find(|l| !l.starts_with('#') && l.contains(development));
        assert!(line.is_none(), ".env.example carries {line:?}");
    }
    for secret in [
        "POSTGRES_PASSWORD",
        "POSTGRES_MIGRATION_PASSWORD",
        "POSTGRES_APP_PASSWORD",
        "RABBITMQ_PASSWORD",
        "RABBITMQ_INGRESS_PASSWORD",
        "RABBITMQ_WORKER_PASSWORD",
        "RABBITMQ_NOTIFIER_PASSWORD",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRETS",
        "LANDING_FORM_SECRET",
    ] {
        assert!(
            example.lines().any(|l| l == format!("{secret}=")),
            ".env.example must leave {secret} for the operator to fill in"
        );
    }
    // The development values exist in one place, which switches the simulator on; the template
    // does not.
    let sim = std::fs::read_to_string(repo_root().join("deploy/sim.env")).unwrap();
    assert!(sim.lines().any(|l| l == "COMPOSE_PROFILES=sim"));
    assert!(!example.contains("COMPOSE_PROFILES"));
}

#[test]
fn replica_counts_and_the_build_only_image_policy_live_in_the_compose_file() {
    let model = compose_config(&[]);
    assert_eq!(model["services"]["worker"]["scale"], 2);
    for service in ["ingress", "landing"] {
        assert_eq!(model["services"][service]["scale"], 1, "{service}");
    }
    for service in BUILT {
        assert_eq!(
            model["services"][*service]["pull_policy"], "build",
            "{service} could be pulled from a registry and handed our secrets"
        );
    }
    let path = std::env::temp_dir().join(format!("edge-{}.env", uuid::Uuid::new_v4()));
    let mut text = std::fs::read_to_string(repo_root().join("deploy/sim.env")).unwrap();
    text.push_str("WORKER_REPLICAS=4\nLANDING_REPLICAS=2\n");
    std::fs::write(&path, text).unwrap();
    let scaled = compose_config(&["--env-file", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(scaled["services"]["worker"]["scale"], 4);
    assert_eq!(scaled["services"]["landing"]["scale"], 2);
}

/// `caddy adapt` of the shipped Caddyfile with `tls` as EDGE_TLS: the JSON config, or the error.
fn adapt(tls: &str) -> Result<Value, String> {
    let out = std::process::Command::new("caddy")
        .args(["adapt", "--config", "deploy/edge/Caddyfile", "--adapter"])
        .arg("caddyfile")
        .env("EDGE_TLS", tls)
        .env("EDGE_SITE_ADDRESS", "shop.example.com")
        .current_dir(repo_root())
        .output()
        .expect("caddy, installed by scripts/ensure-services");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("caddy adapt prints JSON"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn the_caddyfile_is_valid_in_both_tls_modes_and_routes_nothing_operational() {
    let automatic = adapt("automatic").expect("the Caddyfile adapts");
    let provided = adapt("provided").expect("the Caddyfile adapts with provided certificates");
    let text = provided.to_string();
    assert!(
        text.contains("/etc/caddy/certificates/cert.pem"),
        "provided mode loads the operator's certificate: {text}"
    );
    assert!(!automatic.to_string().contains("/etc/caddy/certificates"));
    let error = adapt("unknown").expect_err("an unknown EDGE_TLS is an error");
    assert!(error.contains("unknown"), "{error}");

    // The site's routes, in order: the operational paths answer 404 before anything is proxied.
    let server = &automatic["apps"]["http"]["servers"];
    let site = server
        .as_object()
        .unwrap()
        .values()
        .find(|s| s["listen"] == serde_json::json!([":443"]))
        .expect("a server on :443");
    let routes = &site["routes"][0]["handle"][0]["routes"];
    let first = &routes[0];
    let paths: Vec<&str> = first["match"][0]["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for path in ["/metrics", "/readyz", "/healthz"] {
        assert!(paths.contains(&path), "{path} is not kept off the edge");
    }
    assert!(first.to_string().contains("\"status_code\":404"), "{first}");
    let proxied = routes.to_string();
    assert!(proxied.contains("\"name\":\"ingress\"") && proxied.contains("\"name\":\"landing\""));
}

#[test]
fn the_edge_closes_an_idle_upstream_connection_before_the_service_would() {
    let config = adapt("automatic").expect("the Caddyfile adapts");
    let defaults = shared::Settings::load_from(shared::settings::Uses::COMMON, Vec::new())
        .expect("the default settings load");
    let service_keeps = Duration::from_secs(
        defaults
            .ingress
            .keep_alive_secs
            .min(defaults.landing.keep_alive_secs),
    );
    let mut proxies = Vec::new();
    collect_handlers(&config, "reverse_proxy", &mut proxies);
    assert_eq!(proxies.len(), 2, "one proxy to ingress, one to landing");
    for proxy in proxies {
        let idle_ns = proxy["transport"]["keep_alive"]["idle_timeout"]
            .as_u64()
            .unwrap_or_else(|| panic!("the edge bounds its idle upstream connections: {proxy}"));
        assert!(
            Duration::from_nanos(idle_ns) < service_keeps,
            "the edge keeps idle connections {:?}, the services {service_keeps:?}: the edge \
             would write requests on connections the services are closing",
            Duration::from_nanos(idle_ns)
        );
    }
}

/// Every object in `value` whose `handler` is `name`.
fn collect_handlers<'a>(value: &'a Value, name: &str, found: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            if map.get("handler").and_then(Value::as_str) == Some(name) {
                found.push(value);
            }
            map.values().for_each(|v| collect_handlers(v, name, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_handlers(v, name, found)),
        _ => {}
    }
}
