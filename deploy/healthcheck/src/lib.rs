//! A container health probe with no dependencies beyond the standard library.
//!
//! `healthcheck PORT [PATH]` sends `GET PATH` (default `/healthz`) to `127.0.0.1:PORT` over a
//! plain TCP connection and exits 0 when the answer's status is 2xx, 1 otherwise (refused
//! connection, timeout, non-2xx, garbage). Docker's `HEALTHCHECK` runs it inside the container,
//! so the runtime image needs neither curl nor a shell utility.
//!
//! Flow: [`Probe::from_args`] parses the arguments; [`Probe::run`] connects with a timeout,
//! writes one HTTP/1.1 request with `Connection: close`, and reads only the status line.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Whole-probe budget per step (connect, write, read). Docker's own timeout is longer.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(3);

/// One health probe: where to connect and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub address: SocketAddr,
    pub path: String,
    pub timeout: Duration,
}

/// Why a probe failed; printed to stderr so `docker inspect` shows it.
#[derive(Debug)]
pub enum ProbeError {
    Usage(String),
    Io(std::io::Error),
    /// The first line was not `HTTP/1.x NNN …`.
    Malformed(String),
    /// A well-formed answer whose status is not 2xx.
    Unhealthy(u16),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(message) => write!(f, "{message}\nusage: healthcheck PORT [PATH]"),
            Self::Io(e) => write!(f, "cannot reach the service: {e}"),
            Self::Malformed(line) => write!(f, "not an HTTP answer: {line:?}"),
            Self::Unhealthy(status) => write!(f, "unhealthy: status {status}"),
        }
    }
}

impl std::error::Error for ProbeError {}

impl From<std::io::Error> for ProbeError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl Probe {
    /// `PORT [PATH]`, the program name already removed. The port is a number because the
    /// Dockerfile's shell-form `HEALTHCHECK` expands the service's port variable before calling.
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Self, ProbeError> {
        let mut args = args.into_iter();
        let port = args
            .next()
            .ok_or_else(|| ProbeError::Usage("missing PORT".into()))?;
        let port: u16 = port
            .trim()
            .parse()
            .map_err(|_| ProbeError::Usage(format!("PORT must be a number, got {port:?}")))?;
        let path = args.next().unwrap_or_else(|| "/healthz".to_owned());
        if !path.starts_with('/') || path.contains(char::is_whitespace) {
            return Err(ProbeError::Usage(format!(
                "PATH must start with / and have no spaces, got {path:?}"
            )));
        }
        if let Some(extra) = args.next() {
            return Err(ProbeError::Usage(format!("unexpected argument {extra:?}")));
        }
        Ok(Self {
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            path,
            timeout: STEP_TIMEOUT,
        })
    }

    /// Sends the request and returns the 2xx status, or why the service is not healthy.
    pub fn run(&self) -> Result<u16, ProbeError> {
        let mut stream = TcpStream::connect_timeout(&self.address, self.timeout)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        write!(
            stream,
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: healthcheck\r\nConnection: close\r\n\r\n",
            self.path, self.address
        )?;
        let mut status_line = String::new();
        // Only the first line matters; a 256-byte cap keeps a misbehaving peer from feeding us
        // an endless line.
        BufReader::new(stream.take(256)).read_line(&mut status_line)?;
        let status = parse_status(&status_line)?;
        if (200..300).contains(&status) {
            Ok(status)
        } else {
            Err(ProbeError::Unhealthy(status))
        }
    }
}

/// `HTTP/1.1 200 OK` → 200.
fn parse_status(line: &str) -> Result<u16, ProbeError> {
    let malformed = || ProbeError::Malformed(line.trim_end().to_owned());
    let mut parts = line.split_whitespace();
    let version = parts.next().ok_or_else(malformed)?;
    if !version.starts_with("HTTP/1.") {
        return Err(malformed());
    }
    parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or_else(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A one-shot server that answers `reply` and hands back the request it received.
    fn serve_once(reply: &'static str) -> (u16, thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 512];
            while !request.ends_with(b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            stream.write_all(reply.as_bytes()).unwrap();
            String::from_utf8(request).unwrap()
        });
        (port, handle)
    }

    fn probe(port: u16, path: &str) -> Probe {
        Probe::from_args([port.to_string(), path.to_owned()]).unwrap()
    }

    #[test]
    fn a_2xx_answer_is_healthy_and_the_request_asks_for_the_path() {
        let (port, server) = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert_eq!(probe(port, "/healthz").run().unwrap(), 200);
        let request = server.join().unwrap();
        assert!(
            request.starts_with("GET /healthz HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("Connection: close"), "{request}");
    }

    #[test]
    fn a_503_answer_is_unhealthy() {
        let (port, server) = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        let error = probe(port, "/readyz").run().unwrap_err();
        assert!(matches!(error, ProbeError::Unhealthy(503)), "{error}");
        server.join().unwrap();
    }

    #[test]
    fn a_closed_port_is_unhealthy() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let error = probe(port, "/healthz").run().unwrap_err();
        assert!(matches!(error, ProbeError::Io(_)), "{error}");
    }

    #[test]
    fn a_non_http_answer_is_unhealthy() {
        let (port, server) = serve_once("SSH-2.0-OpenSSH\r\n");
        let error = probe(port, "/healthz").run().unwrap_err();
        assert!(matches!(error, ProbeError::Malformed(_)), "{error}");
        server.join().unwrap();
    }

    #[test]
    fn arguments_are_a_numeric_port_and_an_optional_absolute_path() {
        let default = Probe::from_args(["8080".to_owned()]).unwrap();
        assert_eq!(default.path, "/healthz");
        assert_eq!(default.address, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert!(matches!(
            Probe::from_args(Vec::<String>::new()),
            Err(ProbeError::Usage(_))
        ));
        assert!(matches!(
            Probe::from_args(["http".to_owned()]),
            Err(ProbeError::Usage(_))
        ));
        assert!(matches!(
            Probe::from_args(["80".to_owned(), "healthz".to_owned()]),
            Err(ProbeError::Usage(_))
        ));
        assert!(matches!(
            Probe::from_args(["80".to_owned(), "/a".to_owned(), "b".to_owned()]),
            Err(ProbeError::Usage(_))
        ));
    }
}
