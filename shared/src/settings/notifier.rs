//! The `[notifier]` section: where the customer's mail goes out (SMTP), which templates it is
//! written from, and which of the merchant's systems get a signed callback. Checked at start-up,
//! each problem naming its key.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::SettingsError;

/// How the notifier talks to its SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP: a server on the same host or private network (the local development one).
    None,
    /// Plain connection upgraded with STARTTLS, refused when the server does not offer it.
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierSettings {
    pub host: String,
    pub port: u16,
    /// Customers get mail from us: the order confirmation and the payment-failed notice. Read
    /// by the worker and landing too: fulfillment records each such mail as pending with its
    /// announcement, and the success page promises it. False where no notifier runs.
    pub customer_mail: bool,
    /// Unacked announcements the broker sends ahead; also how many are handled at once.
    pub prefetch: u16,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    /// Empty: no authentication.
    pub smtp_username: String,
    pub smtp_password: SecretString,
    /// The sender of every mail, `Name <address>` or a bare address.
    pub smtp_from: String,
    /// Directory of the merchant's templates; a file there replaces the shipped one of the same
    /// name. Empty: the shipped templates only.
    pub template_dir: String,
    /// The merchant's systems told of every announcement with a signed POST.
    pub callback_urls: Vec<String>,
    /// Signs the callbacks (HMAC-SHA256); required when there is a callback URL.
    pub callback_secret: SecretString,
    /// Longest one send (an SMTP conversation, a callback request) may take.
    pub send_timeout_ms: u64,
    /// Longest pause before a failed send is tried again; pauses start at 100 ms and double.
    pub retry_max_ms: u64,
}

impl NotifierSettings {
    /// The callback URLs, blank entries (an empty environment variable) left out.
    pub fn callbacks(&self) -> Vec<url::Url> {
        self.callback_urls
            .iter()
            .filter_map(|raw| url::Url::parse(raw.trim()).ok())
            .collect()
    }

    pub(super) fn check(&self) -> Result<(), SettingsError> {
        let invalid = |key, problem: &str| {
            Err(SettingsError::Invalid {
                key,
                problem: problem.to_owned(),
            })
        };
        if self.prefetch == 0 {
            return invalid("notifier.prefetch", "must be at least 1");
        }
        if self.smtp_host.trim().is_empty() {
            return invalid(
                "notifier.smtp_host",
                "must be set (the SMTP server's host name)",
            );
        }
        if self.smtp_port == 0 {
            return invalid(
                "notifier.smtp_port",
                "must be a port number (25, 465, 587, …)",
            );
        }
        let from = self.smtp_from.trim();
        let address = from
            .rsplit_once('<')
            .map_or(from, |(_, rest)| rest.trim_end_matches('>'));
        if !address.contains('@') || address.contains(char::is_whitespace) {
            return invalid(
                "notifier.smtp_from",
                "must be a mail address, bare or as `Name <address>`",
            );
        }
        if !self.template_dir.is_empty() && !std::path::Path::new(&self.template_dir).is_dir() {
            return invalid("notifier.template_dir", "is not a directory");
        }
        for raw in self.callback_urls.iter().map(|u| u.trim()) {
            if raw.is_empty() {
                continue;
            }
            match url::Url::parse(raw) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                // The URL may carry a token (a chat's incoming webhook): never echoed.
                _ => {
                    return invalid(
                        "notifier.callback_urls",
                        "every entry must be an http(s) URL",
                    )
                }
            }
        }
        if !self.callbacks().is_empty() && self.callback_secret.expose_secret().trim().len() < 16 {
            return invalid(
                "notifier.callback_secret",
                "must be at least 16 characters when notifier.callback_urls is set (it signs \
                 every callback)",
            );
        }
        if self.send_timeout_ms == 0 {
            return invalid("notifier.send_timeout_ms", "must be above zero");
        }
        if self.retry_max_ms == 0 {
            return invalid("notifier.retry_max_ms", "must be above zero");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::{Settings, SettingsError, Uses};

    fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let mut all = vec![("APP_DATABASE__URL", "postgres://u@db/f")];
        all.extend_from_slice(vars);
        Settings::load_from(
            Uses::NOTIFIER,
            all.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    fn key_of(result: Result<Settings, SettingsError>) -> &'static str {
        match result {
            Err(SettingsError::Invalid { key, .. }) => key,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_defaults_run_a_notifier_without_stripe_or_callbacks() {
        let settings = load(&[]).expect("the defaults are valid");
        assert!(settings.notifier.callbacks().is_empty());
    }

    #[test]
    fn callback_urls_need_a_secret_and_each_must_be_http() {
        assert_eq!(
            key_of(load(&[(
                "APP_NOTIFIER__CALLBACK_URLS",
                "https://chat.example/hook"
            )])),
            "notifier.callback_secret"
        );
        assert_eq!(
            key_of(load(&[
                ("APP_NOTIFIER__CALLBACK_URLS", "ftp://inventory.example/x"),
                ("APP_NOTIFIER__CALLBACK_SECRET", "0123456789abcdef0"),
            ])),
            "notifier.callback_urls"
        );
        let settings = load(&[
            (
                "APP_NOTIFIER__CALLBACK_URLS",
                "https://chat.example/hook,http://inventory:9000/orders",
            ),
            ("APP_NOTIFIER__CALLBACK_SECRET", "0123456789abcdef0"),
        ])
        .expect("two URLs and a secret");
        assert_eq!(settings.notifier.callbacks().len(), 2);
        // Taken verbatim: a secret of digits keeps its leading zero.
        use secrecy::ExposeSecret;
        assert_eq!(
            settings.notifier.callback_secret.expose_secret(),
            "0123456789abcdef0"
        );
    }

    #[test]
    fn a_sender_that_is_no_address_and_a_missing_template_dir_are_named() {
        assert_eq!(
            key_of(load(&[("APP_NOTIFIER__SMTP_FROM", "Corner Store")])),
            "notifier.smtp_from"
        );
        assert_eq!(
            key_of(load(&[(
                "APP_NOTIFIER__TEMPLATE_DIR",
                "/nonexistent/templates"
            )])),
            "notifier.template_dir"
        );
    }
}
