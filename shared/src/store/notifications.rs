//! `notifications`: what the notifier told whom, one row per announcement and channel. The
//! notifier claims, sends and marks rows (`notifier::ledger`); fulfillment adds the customer's
//! mail as pending with the announcement ([`super::outbox::enqueue`]); the success page reads
//! where that mail is ([`customer_mail`]).

use sqlx::PgExecutor;

use crate::announcements::{Announcement, OrderFulfilled};
use crate::domain::{account_id, AccountId};

/// The mail channel's name in `notifications`.
pub const EMAIL: &str = "email";

/// Where the customer's order confirmation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerMail {
    /// The mail server took it.
    Sent,
    /// Not sent yet, and nothing has gone wrong with it: it is on its way.
    Pending,
    /// A send failed; it may still go out after a retry or a redrive, but nobody should be
    /// promised it.
    Failing,
}

/// The order confirmation of session `session_id` on `account`, if one is to be mailed.
pub async fn customer_mail(
    executor: impl PgExecutor<'_>,
    account: Option<&AccountId>,
    session_id: &str,
) -> Result<Option<CustomerMail>, sqlx::Error> {
    // Through the outbox's unique (topic, session_id, account) key to the notification's
    // primary key: two index lookups, no index on notifications.session_id needed.
    let row: Option<(bool, bool)> = sqlx::query_as(
        "SELECT n.sent_at IS NOT NULL, n.last_error IS NOT NULL \
         FROM outbox o JOIN notifications n ON n.message_id = o.id AND n.channel = $4 \
         WHERE o.topic = $1 AND o.session_id = $2 AND o.account = $3",
    )
    .bind(OrderFulfilled::ROUTING_KEY)
    .bind(session_id)
    .bind(account_id::stored(account))
    .bind(EMAIL)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|(sent, failed)| match (sent, failed) {
        (true, _) => CustomerMail::Sent,
        (false, false) => CustomerMail::Pending,
        (false, true) => CustomerMail::Failing,
    }))
}
