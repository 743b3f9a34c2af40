//! A throwaway RabbitMQ node with a TLS listener, started from the installed `rabbitmq-server`
//! beside the shared one (which has no TLS listener and is never restarted by tests).
//!
//! Everything of the node is its own: name, ports (AMQP, TLS, distribution), data and log
//! directories, configuration, Erlang cookie (its own `HOME`), and no plugins (the shared node's
//! management plugin would otherwise try to bind the same HTTP port). Every listener is on
//! 127.0.0.1. It is ready once its own log says its TLS listener started; a try that booted
//! without it (another process took the port first) is stopped and made again on fresh ports.
//! It is stopped (`rabbitmqctl stop`, then a kill if need be) and its directory removed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::certs::{path, TestCertificates};

/// How long a node may take to boot (a first boot initialises its database: 5 to 30 s here).
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Tries, each on fresh ports, before a node that will not start fails the test.
const ATTEMPTS: usize = 3;

/// What the node logs once it has booted, with or without every listener it was given.
const BOOTED: &str = "Server startup complete";

/// A running node; `tls_port` accepts `amqps://`.
#[derive(Debug)]
pub struct TlsRabbitNode {
    pub name: String,
    pub tls_port: u16,
    dir: PathBuf,
    child: Child,
    ctl: PathBuf,
}

impl TlsRabbitNode {
    /// Starts a node serving `certs.server_cert` on ports of its own and waits (bounded) until
    /// it has started its TLS listener. `Err` only when RabbitMQ is not installed here; a node
    /// that cannot be started in [`ATTEMPTS`] tries is a failure, with what each try logged.
    pub fn start(certs: &TestCertificates) -> Result<TlsRabbitNode, String> {
        Self::start_with(certs, node_ports)
    }

    /// [`TlsRabbitNode::start`], taking each try's `[amqp, tls, distribution]` ports from
    /// `ports`: a test hands it a port that is already taken.
    pub fn start_with(
        certs: &TestCertificates,
        mut ports: impl FnMut() -> [u16; 3],
    ) -> Result<TlsRabbitNode, String> {
        let (server, ctl) = installed_scripts()?;
        let mut failures = Vec::new();
        for _ in 0..ATTEMPTS {
            match Self::boot(certs, &server, &ctl, ports()) {
                Ok(node) => return Ok(node),
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "no RabbitMQ node with a TLS listener started in {ATTEMPTS} tries:\n{}",
            failures.join("\n---\n")
        );
    }

    /// One try: a node on `ports`, returned once its own log says its TLS listener started.
    fn boot(
        certs: &TestCertificates,
        server: &Path,
        ctl: &Path,
        [amqp_port, tls_port, dist_port]: [u16; 3],
    ) -> Result<TlsRabbitNode, String> {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..10];
        let name = format!("fulfillment-tls-{id}@localhost");
        let dir = std::env::temp_dir().join(format!("fulfillment-rabbit-{id}"));
        for sub in ["mnesia", "log", "home"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("mkdir: {e}"))?;
        }
        let config = dir.join("rabbitmq.conf");
        std::fs::write(
            &config,
            format!(
                "listeners.ssl.default = 127.0.0.1:{tls_port}\n\
                 ssl_options.cacertfile = {}\n\
                 ssl_options.certfile = {}\n\
                 ssl_options.keyfile = {}\n\
                 ssl_options.verify = verify_none\n\
                 ssl_options.fail_if_no_peer_cert = false\n",
                path(&certs.ca),
                path(&certs.server_cert),
                path(&certs.server_key),
            ),
        )
        .map_err(|e| format!("write the configuration: {e}"))?;
        let plugins = dir.join("enabled_plugins");
        std::fs::write(&plugins, "[].\n").map_err(|e| format!("write enabled_plugins: {e}"))?;
        let log = std::fs::File::create(dir.join("console.log"))
            .map_err(|e| format!("create the console log: {e}"))?;
        let child = Command::new(server)
            .envs(node_environment(&name, &dir))
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", amqp_port.to_string())
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_PID_FILE", dir.join("node.pid"))
            .env("RABBITMQ_CONFIG_FILE", &config)
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", &plugins)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", server.display()))?;
        // From here on, dropping the node stops it and removes its directory, failed or not.
        let mut node = TlsRabbitNode {
            name,
            tls_port,
            dir,
            child,
            ctl: ctl.to_owned(),
        };
        node.wait_until_listening()?;
        Ok(node)
    }

    /// `amqps://guest:guest@127.0.0.1:<tls_port>/%2f` (guest may log in from loopback).
    pub fn amqps_url(&self) -> String {
        format!("amqps://guest:guest@127.0.0.1:{}/%2f", self.tls_port)
    }

    /// Reads the node's own log (bounded) until it says its TLS listener started on
    /// `tls_port`. Probing the port is not enough: another process may have bound it between
    /// [`node_ports`] and the node's boot, and the node then boots without a TLS listener
    /// while the port answers in plain text.
    fn wait_until_listening(&mut self) -> Result<(), String> {
        let started = format!("started TLS (SSL) listener on 127.0.0.1:{}", self.tls_port);
        let log = self.dir.join("log").join(format!("{}.log", self.name));
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            let logged = std::fs::read_to_string(&log).unwrap_or_default();
            if logged.contains(&started) {
                return Ok(());
            }
            if logged.contains(BOOTED) {
                return Err(format!(
                    "the node booted without its TLS listener on {}:\n{}",
                    self.tls_port,
                    tail(&logged)
                ));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "the node exited ({status}) while booting:\n{}",
                    self.console_tail()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no TLS listener on {} after {BOOT_TIMEOUT:?}:\n{}",
                    self.tls_port,
                    self.console_tail()
                ));
            }
            // The pause between two reads of a bounded wait.
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn console_tail(&self) -> String {
        tail(&std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default())
    }
}

/// The last lines of a log, to say why a try failed.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

impl Drop for TlsRabbitNode {
    fn drop(&mut self) {
        let _ = Command::new(&self.ctl)
            .envs(node_environment(&self.name, &self.dir))
            .args(["-n", &self.name, "--timeout", "30", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            // The pause between two checks of a bounded wait for the node to exit.
            std::thread::sleep(Duration::from_millis(100));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            // The script waits on the Erlang VM it started: end the VM, then the script.
            if let Ok(pid) = std::fs::read_to_string(self.dir.join("node.pid")) {
                let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What both the server and `rabbitmqctl` need to find the node: its name and a `HOME` of its
/// own, where the Erlang cookie is created (the shared node's cookie is not ours to read).
fn node_environment(name: &str, dir: &Path) -> Vec<(String, String)> {
    vec![
        ("RABBITMQ_NODENAME".into(), name.into()),
        ("HOME".into(), path(&dir.join("home")).into()),
    ]
}

/// The scripts themselves, not Debian's `/usr/sbin` wrappers: those switch to the `rabbitmq`
/// user, whose `HOME` (and cookie) is the shared node's.
fn installed_scripts() -> Result<(PathBuf, PathBuf), String> {
    let debian = Path::new("/usr/lib/rabbitmq/bin");
    if debian.join("rabbitmq-server").exists() {
        return Ok((debian.join("rabbitmq-server"), debian.join("rabbitmqctl")));
    }
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.exists())
        })
    };
    match (on_path("rabbitmq-server"), on_path("rabbitmqctl")) {
        (Some(server), Some(ctl)) => Ok((server, ctl)),
        _ => Err("rabbitmq-server is not installed (scripts/ensure-services installs it)".into()),
    }
}

/// Three free loopback ports for a node: AMQP, TLS and distribution. They come from below the
/// kernel's ephemeral range ([`crate::free_port`]), so no port-0 bind or outgoing connection of
/// another test takes one while the node boots. `rabbitmqctl` listens 10,000 above the
/// distribution port, which therefore stays below 22,000 (its CLI ports below 32,010).
pub fn node_ports() -> [u16; 3] {
    [
        crate::free_port(),
        crate::free_port(),
        crate::free_port_in(20_000..22_000),
    ]
}
