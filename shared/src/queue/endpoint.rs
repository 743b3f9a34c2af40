//! Where the broker is and how to reach it safely: its URL (one node, or every node of a
//! cluster), a password kept apart from the URL, and the CA that signed its TLS certificate.
//!
//! A password in a URL must be percent-encoded (`@` is `%40`, `/` is `%2F`, `%` is `%25`), which
//! secret stores do not do: `broker.password` takes it as it is and replaces the password of
//! every node. `amqps://` nodes are reached over TLS (rustls); their certificate must chain to
//! the system's roots or to a CA in `broker.ca_file` (a managed broker's private CA, a
//! self-signed one). A certificate we cannot trust fails the connection with a message that
//! names `broker.ca_file`.

use std::path::Path;
use std::sync::Arc;

use lapin::tcp::OwnedTLSConfig;
use lapin::uri::{AMQPScheme, AMQPUri};
use secrecy::{ExposeSecret, SecretString};

use super::connection::broker_nodes;
use crate::settings::BrokerSettings;

/// The broker's address and credentials; build it with [`BrokerEndpoint::from_settings`] (a
/// bare URL converts too, for tools and tests).
#[derive(Clone)]
pub struct BrokerEndpoint {
    url: SecretString,
    password: Option<SecretString>,
    ca_file: Option<String>,
}

impl BrokerEndpoint {
    pub fn new(url: SecretString) -> Self {
        Self {
            url,
            password: None,
            ca_file: None,
        }
    }

    /// `broker.url`, with `broker.password` and `broker.ca_file` when they are set.
    pub fn from_settings(settings: &BrokerSettings) -> Self {
        let endpoint = Self::new(settings.url.clone());
        let endpoint = match settings.password.expose_secret() {
            "" => endpoint,
            _ => endpoint.with_password(settings.password.clone()),
        };
        match settings.ca_file.trim() {
            "" => endpoint,
            path => endpoint.with_ca_file(path),
        }
    }

    /// Replaces the password of every node's URL.
    pub fn with_password(mut self, password: SecretString) -> Self {
        self.password = Some(password);
        self
    }

    /// Trusts the CA(s) in this PEM file on `amqps://` nodes, besides the system's roots.
    pub fn with_ca_file(mut self, path: impl Into<String>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// The nodes' URLs, as given (for logs, see [`Self::describe`]).
    pub(crate) fn nodes(&self) -> Vec<&str> {
        broker_nodes(self.url.expose_secret())
    }

    /// `node` parsed, with the separate password applied. The error names `broker.url` and
    /// never shows the URL (it holds a password).
    pub(crate) fn uri(&self, node: &str) -> Result<AMQPUri, lapin::Error> {
        let mut uri: AMQPUri = node.parse().map_err(|problem| {
            io_error(
                std::io::ErrorKind::InvalidInput,
                format!("broker.url: a node is not an AMQP URI ({problem})"),
            )
        })?;
        if let Some(password) = &self.password {
            uri.authority.userinfo.password = password.expose_secret().to_owned();
        }
        Ok(uri)
    }

    /// The TLS settings of a connection: the CA file's certificates, read at every connect so
    /// that a renewed CA is picked up by the next reconnect.
    pub(crate) fn tls(&self) -> Result<OwnedTLSConfig, lapin::Error> {
        let cert_chain = match &self.ca_file {
            None => None,
            Some(path) => Some(
                read_ca_file(path)
                    .map_err(|problem| {
                        io_error(
                            std::io::ErrorKind::InvalidInput,
                            format!("broker.ca_file {problem}"),
                        )
                    })?
                    .unwrap_or_default(),
            ),
        };
        Ok(OwnedTLSConfig {
            identity: None,
            cert_chain,
        })
    }

    /// A failed connection to `uri`, explained when it is about trusting the broker's
    /// certificate: the raw rustls error ("invalid peer certificate: UnknownIssuer") says
    /// nothing about which setting to change.
    pub(crate) fn explain(&self, uri: &AMQPUri, error: lapin::Error) -> lapin::Error {
        let shown = error.to_string();
        let about_trust = shown.contains("certificate") || shown.contains("Certificate");
        if uri.scheme != AMQPScheme::AMQPS || !about_trust {
            return error;
        }
        let host = &uri.authority.host;
        let advice = match &self.ca_file {
            Some(path) => format!(
                "it is signed neither by a CA in broker.ca_file ({path}) nor by one the system \
                 trusts, or it does not name {host}; point broker.ca_file at the PEM of the CA \
                 that signed it"
            ),
            None => format!(
                "it is not signed by a CA the system trusts, or it does not name {host}; set \
                 broker.ca_file to the PEM of the CA that signed it (a private or self-signed CA)"
            ),
        };
        io_error(
            std::io::ErrorKind::InvalidData,
            format!(
                "the TLS certificate of the broker at {host} is not trusted ({shown}): {advice}"
            ),
        )
    }
}

fn io_error(kind: std::io::ErrorKind, message: String) -> lapin::Error {
    lapin::Error::IOError(Arc::new(std::io::Error::new(kind, message)))
}

/// The PEM text of a CA file: `None` when `path` is empty (the system's roots only); an error
/// (for a message after the key's name) when it cannot be read or holds no certificate.
pub fn read_ca_file(path: &str) -> Result<Option<String>, String> {
    let path = path.trim();
    if path.is_empty() {
        return Ok(None);
    }
    let pem = std::fs::read_to_string(Path::new(path))
        .map_err(|e| format!("{path} cannot be read: {e}"))?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(Some(pem))
}

impl From<SecretString> for BrokerEndpoint {
    fn from(url: SecretString) -> Self {
        Self::new(url)
    }
}

impl From<&SecretString> for BrokerEndpoint {
    fn from(url: &SecretString) -> Self {
        Self::new(url.clone())
    }
}

impl From<&BrokerEndpoint> for BrokerEndpoint {
    fn from(endpoint: &BrokerEndpoint) -> Self {
        endpoint.clone()
    }
}

impl BrokerEndpoint {
    /// The nodes as logs may show them: scheme, host and port, never a user or a password.
    pub fn describe(&self) -> String {
        self.nodes()
            .iter()
            .map(|node| without_credentials(node))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A node's URI for logs: scheme, host and port, no user or password.
pub(crate) fn without_credentials(node: &str) -> String {
    match url::Url::parse(node) {
        Ok(parsed) => {
            let default_port = if parsed.scheme() == "amqps" {
                5671
            } else {
                5672
            };
            format!(
                "{}://{}:{}",
                parsed.scheme(),
                parsed.host_str().unwrap_or("?"),
                parsed.port().unwrap_or(default_port)
            )
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

impl std::fmt::Debug for BrokerEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerEndpoint")
            .field("nodes", &self.describe())
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_separate_password_replaces_every_nodes_password_and_is_taken_as_it_is() {
        let endpoint = BrokerEndpoint::new(SecretString::from(
            "amqp://app:old@rabbitmq-1/%2f,amqps://app:old@rabbitmq-2/%2f".to_owned(),
        ))
        .with_password(SecretString::from("p@ss:w/rd#%20x".to_owned()));
        for node in endpoint.nodes() {
            let uri = endpoint.uri(node).unwrap();
            assert_eq!(uri.authority.userinfo.username, "app");
            assert_eq!(uri.authority.userinfo.password, "p@ss:w/rd#%20x");
            assert_eq!(uri.vhost, "/");
        }
    }

    #[test]
    fn a_percent_encoded_password_in_the_url_is_decoded() {
        let endpoint = BrokerEndpoint::new(SecretString::from(
            "amqp://app:p%40ss%3Aw%2Frd%23%2520x@rabbitmq/%2f".to_owned(),
        ));
        let uri = endpoint.uri(endpoint.nodes()[0]).unwrap();
        assert_eq!(uri.authority.userinfo.password, "p@ss:w/rd#%20x");
    }

    #[test]
    fn debug_and_descriptions_never_show_a_password() {
        let endpoint = BrokerEndpoint::new(SecretString::from(
            "amqps://app:inurl@rabbitmq-1,amqp://app:inurl@rabbitmq-2:5673/%2f".to_owned(),
        ))
        .with_password(SecretString::from("separate".to_owned()))
        .with_ca_file("/etc/ca.pem");
        let shown = format!("{endpoint:?}");
        assert!(
            !shown.contains("inurl") && !shown.contains("separate"),
            "{shown}"
        );
        assert!(
            shown.contains("amqps://rabbitmq-1:5671,amqp://rabbitmq-2:5673"),
            "{shown}"
        );
        assert!(shown.contains("/etc/ca.pem"), "{shown}");
    }

    #[test]
    fn a_ca_file_must_be_readable_and_hold_a_certificate() {
        assert_eq!(read_ca_file(" "), Ok(None));
        let missing = read_ca_file("/nonexistent/ca.pem").unwrap_err();
        assert!(
            missing.contains("/nonexistent/ca.pem cannot be read"),
            "{missing}"
        );
        let dir = std::env::temp_dir().join(format!("ca-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let key_only = dir.join("key.pem");
        std::fs::write(&key_only, "-----BEGIN PRIVATE KEY-----\n...\n").unwrap();
        let problem = read_ca_file(key_only.to_str().unwrap()).unwrap_err();
        assert!(problem.contains("holds no PEM certificate"), "{problem}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
