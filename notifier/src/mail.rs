//! The customer's mail over SMTP: the order confirmation for `order.fulfilled`, "your payment
//! failed" for `order.payment_failed`, written from the [`Templates`].
//!
//! Every mail's `Message-ID` is `<message_id@sender's domain>`: the same for every send of one
//! announcement, so a repeat after a crash between sending and recording is recognisable as
//! the same mail.

use anyhow::Context;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use shared::errors::error_chain;
use shared::settings::{NotifierSettings, SmtpTls};
use uuid::Uuid;

use crate::dispatch::SendError;
use crate::notice::Notice;
use crate::templates::{TemplateName, Templates};

/// Sends the customer's mail.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    templates: Templates,
    shop_name: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    pub fn new(settings: &NotifierSettings, shop_name: &str) -> anyhow::Result<Self> {
        let host = settings.smtp_host.trim();
        let builder = match settings.smtp_tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .context("notifier.smtp_host")?,
            SmtpTls::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).context("notifier.smtp_host")?
            }
        };
        let mut builder = builder
            .port(settings.smtp_port)
            .timeout(Some(settings.send_timeout()));
        if !settings.smtp_username.is_empty() {
            builder = builder.credentials(Credentials::new(
                settings.smtp_username.clone(),
                settings.smtp_password.expose_secret().to_owned(),
            ));
        }
        let from: Mailbox = settings
            .smtp_from
            .trim()
            .parse()
            .context("notifier.smtp_from is not a mail address")?;
        Ok(Self {
            transport: builder.build(),
            from,
            templates: Templates::load(&settings.template_dir)?,
            shop_name: shop_name.to_owned(),
        })
    }

    /// Writes and sends `notice`'s mail to `to`.
    pub async fn send(&self, message_id: Uuid, notice: &Notice, to: &str) -> Result<(), SendError> {
        let mail = self.write(message_id, notice, to)?;
        match self.transport.send(mail).await {
            Ok(_) => Ok(()),
            // A 5xx (no such mailbox, refused): sending again cannot help.
            Err(e) if e.is_permanent() => {
                Err(SendError::Permanent(format!("SMTP: {}", error_chain(&e))))
            }
            // A 4xx, a refused or dropped connection, a timeout: the server may take it later.
            Err(e) => Err(SendError::Transient(format!("SMTP: {}", error_chain(&e)))),
        }
    }

    /// The mail, ready to send.
    pub fn write(&self, message_id: Uuid, notice: &Notice, to: &str) -> Result<Message, SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("the customer's address is not one: {e}")))?;
        let (subject, body) = match notice {
            Notice::Fulfilled(order) => (
                self.render(TemplateName::FulfilledSubject, order)?,
                self.render(TemplateName::FulfilledBody, order)?,
            ),
            Notice::PaymentFailed(failed) => (
                self.render(TemplateName::PaymentFailedSubject, failed)?,
                self.render(TemplateName::PaymentFailedBody, failed)?,
            ),
        };
        // A subject is one line, whatever the template's line ends.
        let subject = subject.lines().next().unwrap_or_default().trim().to_owned();
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{message_id}@{}>", self.from.email.domain())))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| SendError::Permanent(format!("building the mail: {e}")))
    }

    fn render(
        &self,
        name: TemplateName,
        order: &impl serde::Serialize,
    ) -> Result<String, SendError> {
        self.templates
            .render(name, &self.shop_name, order)
            // The templates parsed at start-up; one failing on this order's data will fail
            // again on every attempt.
            .map_err(|e| SendError::Permanent(format!("{e:#}")))
    }
}
