//! A throwaway RabbitMQ node with a TLS listener, started from the installed `rabbitmq-server`
//! beside the shared one (which has no TLS listener and is never restarted by tests).
//!
//! Everything of the node is its own: name, ports (AMQP, TLS, distribution), data and log
//! directories, configuration, Erlang cookie (its own `HOME`), and no plugins (the shared node's
//! management plugin would otherwise try to bind the same HTTP port). Every listener is on
//! 127.0.0.1. It is stopped (`rabbitmqctl stop`, then a kill if need be) and its directory
//! removed on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::certs::{path, TestCertificates};

/// How long a node may take to boot (a first boot initialises its database: 5 to 30 s here).
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

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
    /// Starts a node serving `certs.server_cert` and waits (bounded) until its TLS port
    /// accepts connections. `Err` says why it could not be started here.
    pub fn start(certs: &TestCertificates) -> Result<TlsRabbitNode, String> {
        let (server, ctl) = installed_scripts()?;
        let id = &uuid::Uuid::new_v4().simple().to_string()[..10];
        let name = format!("fulfillment-tls-{id}@localhost");
        let dir = std::env::temp_dir().join(format!("fulfillment-rabbit-{id}"));
        for sub in ["mnesia", "log", "home"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("mkdir: {e}"))?;
        }
        let [amqp_port, tls_port, dist_port] = free_ports();
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
        let child = Command::new(&server)
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
        let mut node = TlsRabbitNode {
            name,
            tls_port,
            dir,
            child,
            ctl,
        };
        node.wait_until_listening()?;
        Ok(node)
    }

    /// `amqps://guest:guest@127.0.0.1:<tls_port>/%2f` (guest may log in from loopback).
    pub fn amqps_url(&self) -> String {
        format!("amqps://guest:guest@127.0.0.1:{}/%2f", self.tls_port)
    }

    /// Polls the TLS port (bounded) until it accepts a connection; fails at once when the
    /// node exits, with the end of its console log.
    fn wait_until_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "the node exited ({status}) while booting:\n{}",
                    self.console_tail()
                ));
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.tls_port)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the TLS port {} was not open after {BOOT_TIMEOUT:?}:\n{}",
                    self.tls_port,
                    self.console_tail()
                ));
            }
            // The pause between two probes of a bounded wait.
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn console_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
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

/// Three free loopback ports. The distribution port stays below 55536 and outside
/// 35672..=35682: `rabbitmqctl` listens 10000 above a node's distribution port, and the shared
/// node's CLI range is 35672..=35682.
fn free_ports() -> [u16; 3] {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < 3 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("a bound address").port();
        held.push(listener);
        if port < 55536 && !(35672..=35682).contains(&port) {
            ports.push(port);
        }
    }
    [ports[0], ports[1], ports[2]]
}
