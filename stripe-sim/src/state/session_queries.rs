//! Reading sessions back: retrieve, expand, list, line items.

use std::cmp::Reverse;
use std::collections::HashMap;

use serde_json::Value;

use super::events::CreatedFilter;
use super::records::{SessionRecord, SessionStatus};
use super::SimState;
use crate::error::SimError;
use crate::objects;
use crate::pagination::{paginate, Page, PageRequest};

/// How many line items an expanded session carries: Stripe expands the first page.
pub const EXPANDED_LINE_ITEMS: usize = 10;

/// The filters of `GET /v1/checkout/sessions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SessionQuery {
    /// The account the request was made for (`Stripe-Account`); `None`: the platform.
    pub account: Option<String>,
    pub status: Option<SessionStatus>,
    pub payment_intent: Option<String>,
    pub payment_link: Option<String>,
    pub created: CreatedFilter,
    pub page: PageRequest,
}

impl SimState {
    /// The session as `GET /v1/checkout/sessions/{id}` renders it, with `line_items` expanded
    /// (first page, as a list object) when `expand_line_items` is set. Whatever account the
    /// session is on: this is the simulator's own view, for tests; the API goes through
    /// [`SimState::retrieve_session_on`].
    pub fn retrieve_session(&self, id: &str, expand_line_items: bool) -> Result<Value, SimError> {
        let account = self
            .lock_store()
            .sessions
            .get(id)
            .and_then(|s| s.account.clone());
        self.retrieve_session_on(account.as_deref(), id, expand_line_items)
    }

    /// The session as a request made for `account` (`Stripe-Account`; `None`: the platform)
    /// sees it: a session of another account, or of the platform when an account is named, is
    /// a 404 as if it did not exist, as Stripe answers.
    pub fn retrieve_session_on(
        &self,
        account: Option<&str>,
        id: &str,
        expand_line_items: bool,
    ) -> Result<Value, SimError> {
        let mut session = {
            let store = self.lock_store();
            objects::session::render(visible(&store.sessions, account, id)?)
        };
        if expand_line_items {
            let page = self.line_items(
                account,
                id,
                &PageRequest {
                    limit: EXPANDED_LINE_ITEMS,
                    cursor: None,
                },
            )?;
            session["line_items"] = objects::list::render(page, &line_items_url(id));
        }
        Ok(session)
    }

    /// The session's own record, for the payment page.
    pub(crate) fn session_record(&self, id: &str) -> Option<SessionRecord> {
        self.lock_store().sessions.get(id).cloned()
    }

    /// One page of a session's line items, in the order they were given, as a request made
    /// for `account` sees them.
    pub(crate) fn line_items(
        &self,
        account: Option<&str>,
        id: &str,
        page: &PageRequest,
    ) -> Result<Page<Value>, SimError> {
        let store = self.lock_store();
        let session = visible(&store.sessions, account, id)?;
        let items: Vec<(usize, _)> = session.line_items.iter().enumerate().collect();
        let page = paginate(items, page, "line item", |cursor| {
            session.line_items.iter().position(|li| li.id == cursor)
        })?;
        Ok(page.map(objects::line_item::render))
    }

    /// One page of sessions, newest first.
    pub(crate) fn list_sessions(&self, query: &SessionQuery) -> Result<Page<Value>, SimError> {
        let store = self.lock_store();
        let mut items: Vec<_> = store
            .sessions
            .values()
            .filter(|s| s.account == query.account)
            .filter(|s| query.status.is_none_or(|st| s.status == st))
            .filter(|s| {
                query
                    .payment_intent
                    .as_ref()
                    .is_none_or(|pi| s.payment_intent.as_ref() == Some(pi))
            })
            .filter(|s| {
                query
                    .payment_link
                    .as_ref()
                    .is_none_or(|link| s.payment_link.as_ref() == Some(link))
            })
            .filter(|s| query.created.contains(s.created))
            .map(|s| (Reverse((s.created, s.seq)), s))
            .collect();
        items.sort_by_key(|item| item.0);
        let page = paginate(items, &query.page, "checkout.session", |cursor| {
            let s = store
                .sessions
                .get(cursor)
                .filter(|s| s.account == query.account)?;
            Some(Reverse((s.created, s.seq)))
        })?;
        Ok(page.map(objects::session::render))
    }
}

/// Session `id` if a request made for `account` may see it: only its own account's (or, without
/// an account, only the platform's) sessions exist for a request.
fn visible<'a>(
    sessions: &'a HashMap<String, SessionRecord>,
    account: Option<&str>,
    id: &str,
) -> Result<&'a SessionRecord, SimError> {
    sessions
        .get(id)
        .filter(|s| s.account.as_deref() == account)
        .ok_or_else(|| SimError::not_found("checkout.session", id, "session"))
}

/// The path SDKs call to page through a session's line items.
pub(crate) fn line_items_url(id: &str) -> String {
    format!("/v1/checkout/sessions/{id}/line_items")
}
