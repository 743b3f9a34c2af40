//! What the compose stack may take from its host, checked without a Docker engine: every
//! container has a memory limit, the broker is told its own, trace and metric stores are
//! bounded, and the stateful services get time to stop cleanly. The broker's disk alarm is
//! exercised for real in `deploy_live_stack` (the ingress answers 503 while it is raised).

use serde_json::Value;
use tests::deploy_support::{compose_config, read_repo_file};

/// Bytes of a compose memory size (`512m`, `1g`, or a number of bytes as `config` prints it).
fn bytes(value: &Value) -> u64 {
    if let Some(n) = value.as_u64() {
        return n;
    }
    let text = value.as_str().unwrap_or_else(|| panic!("a size: {value}"));
    let (number, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let number: u64 = number.parse().unwrap();
    number
        * match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1 << 10,
            "m" | "mb" => 1 << 20,
            "g" | "gb" => 1 << 30,
            other => panic!("unit {other}"),
        }
}

fn services(model: &Value) -> impl Iterator<Item = (&String, &Value)> {
    model["services"].as_object().unwrap().iter()
}

#[test]
fn every_container_has_a_memory_limit_and_the_broker_knows_its_own() {
    // The cluster overlay needs its cookie: sim.env's values and one.
    let env = std::env::temp_dir().join(format!("resources-{}.env", uuid::Uuid::new_v4()));
    let mut values = read_repo_file("deploy/sim.env");
    values.push_str("RABBITMQ_ERLANG_COOKIE=a-cookie-for-the-config-check\n");
    std::fs::write(&env, values).unwrap();
    let cluster = compose_config(&[
        "--env-file",
        env.to_str().unwrap(),
        "-f",
        "docker-compose.yml",
        "-f",
        "deploy/rabbitmq/cluster.yml",
        "-f",
        "deploy/offline/compose.yml",
    ]);
    let _ = std::fs::remove_file(&env);
    for model in [compose_config(&[]), cluster] {
        for (name, service) in services(&model) {
            let limit = service
                .get("mem_limit")
                .unwrap_or_else(|| panic!("{name} has no mem_limit"));
            assert!(bytes(limit) >= 64 << 20, "{name}: {limit}");
        }
    }
    // RabbitMQ reads the host's memory, not the cgroup's: unless told, its alarm would sit
    // above the container's limit and the kernel would kill the node first.
    let conf = read_repo_file("deploy/rabbitmq/rabbitmq.conf");
    let setting = |key: &str| -> String {
        conf.lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("rabbitmq.conf sets no {key}"))
            .to_owned()
    };
    let model = compose_config(&[]);
    let told = bytes(&Value::String(setting(
        "total_memory_available_override_value",
    )));
    assert_eq!(told, bytes(&model["services"]["rabbitmq"]["mem_limit"]));
    let watermark: f64 = setting("vm_memory_high_watermark.relative")
        .parse()
        .unwrap();
    assert!((0.3..=0.7).contains(&watermark), "{watermark}");
    let disk = bytes(&Value::String(setting("disk_free_limit.absolute")));
    assert!(
        disk >= 1 << 30,
        "a disk alarm at {disk} bytes leaves no room to react"
    );
}

#[test]
fn traces_and_metrics_are_bounded_and_stateful_services_get_time_to_stop() {
    let model = compose_config(&[]);
    let service = |name: &str| &model["services"][name];
    assert!(
        service("jaeger")["environment"]["MEMORY_MAX_TRACES"]
            .as_str()
            .and_then(|n| n.parse::<u64>().ok())
            .is_some(),
        "Jaeger's in-memory store is capped"
    );
    let ratio: f64 = service("worker")["environment"]["APP_TELEMETRY__SAMPLE_RATIO"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ratio < 1.0, "every trace kept by default: {ratio}");
    let flags: Vec<&str> = service("prometheus")["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        flags
            .iter()
            .any(|f| f.starts_with("--storage.tsdb.retention.size=")),
        "Prometheus keeps data by size too: {flags:?}"
    );
    for stateful in ["postgres", "rabbitmq"] {
        let grace = service(stateful)["stop_grace_period"]
            .as_str()
            .unwrap_or_else(|| panic!("{stateful} has Docker's 10 s to stop"));
        let seconds: u64 = grace.trim_end_matches('s').parse().unwrap();
        assert!(seconds >= 30, "{stateful}: {grace}");
    }
    assert_eq!(service("postgres")["stop_signal"], "SIGINT");
}
