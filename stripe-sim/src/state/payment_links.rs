//! Payment Links: a reusable link to a fixed set of catalog prices. Opening its public URL
//! creates a fresh Checkout Session (with `payment_link` set) for each customer.
//!
//! The handler converts the form into [`CreatePaymentLink`]; the rules about values live here,
//! next to the session they produce, so the API and tests meet the same errors.

use serde_json::Value;

use super::create_session::{CreateSession, LineItemParams};
use super::SimState;
use crate::error::SimError;
use crate::{ids, objects};

/// The longest redirect URL accepted (Stripe refuses URLs past a few thousand characters).
const MAX_REDIRECT_URL_LEN: usize = 2048;
/// Stripe's limit on `after_completion[hosted_confirmation][custom_message]`.
const MAX_CUSTOM_MESSAGE_LEN: usize = 500;

/// What the customer sees after paying through a link (`after_completion`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterCompletion {
    /// `type=redirect`: the browser goes to `url`, `{CHECKOUT_SESSION_ID}` filled in.
    Redirect { url: String },
    /// `type=hosted_confirmation` (the default): a page on Stripe's side.
    HostedConfirmation { custom_message: Option<String> },
}

/// The parameters of `POST /v1/payment_links` that the simulator models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePaymentLink {
    /// `(price id, quantity)`, in the order given.
    pub line_items: Vec<(String, i64)>,
    pub after_completion: AfterCompletion,
    pub metadata: std::collections::BTreeMap<String, String>,
    /// `shipping_address_collection[allowed_countries]`: every session the link opens asks for
    /// an address in one of these.
    pub shipping_countries: Option<Vec<String>>,
}

/// A stored link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PaymentLinkRecord {
    pub id: String,
    pub created: i64,
    pub active: bool,
    pub line_items: Vec<(String, i64)>,
    /// The currency of its prices (all the same, as a session requires).
    pub currency: String,
    pub after_completion: AfterCompletion,
    pub metadata: std::collections::BTreeMap<String, String>,
    pub shipping_countries: Option<Vec<String>>,
    /// The public address a customer opens: `{public_base_url}/b/{id}`.
    pub url: String,
}

/// Why a link's public URL could not start a checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpenLinkError {
    Unknown,
    Deactivated,
    /// The session could not be created (a price archived since, say).
    Failed(String),
}

impl SimState {
    /// Validates `params` and stores a new active link; returns it as the API renders it.
    pub fn create_payment_link(&self, params: CreatePaymentLink) -> Result<Value, SimError> {
        if params.line_items.is_empty() {
            return Err(SimError::missing_param("line_items"));
        }
        let mut currency: Option<String> = None;
        let mut interval = None;
        for (i, (price_id, quantity)) in params.line_items.iter().enumerate() {
            let param = format!("line_items[{i}][price]");
            if price_id.is_empty() {
                return Err(SimError::empty_param(&param));
            }
            let price = self
                .catalog()
                .price(price_id)
                .ok_or_else(|| SimError::missing_reference("price", price_id, &param))?;
            if !price.active {
                return Err(SimError::inactive_price(&param));
            }
            // A link with a recurring price opens subscription-mode sessions, which bill on one
            // interval.
            if let Some(recurring) = &price.recurring {
                if *interval.get_or_insert(recurring) != recurring {
                    return Err(SimError::invalid_param(
                        &param,
                        "A payment link cannot have prices with different billing intervals.",
                    ));
                }
            }
            match &currency {
                None => currency = Some(price.currency.clone()),
                Some(c) if *c != price.currency => {
                    return Err(SimError::invalid_param(
                        &param,
                        format!(
                            "All prices on a payment link must use the same currency: \
                             line_items[{i}] is in {} but line_items[0] is in {c}.",
                            price.currency
                        ),
                    ))
                }
                Some(_) => {}
            }
            if !(1..=999_999).contains(quantity) {
                return Err(SimError::invalid_param(
                    &format!("line_items[{i}][quantity]"),
                    "Quantity must be between 1 and 999999.",
                ));
            }
        }
        check_after_completion(&params.after_completion)?;
        if let Some(countries) = &params.shipping_countries {
            super::shipping::check_allowed_countries(countries)?;
        }
        let id = ids::payment_link();
        let record = PaymentLinkRecord {
            url: format!("{}/b/{id}", self.public_base_url()),
            id,
            created: self.now(),
            active: true,
            line_items: params.line_items,
            currency: currency.expect("at least one line item"),
            after_completion: params.after_completion,
            metadata: params.metadata,
            shipping_countries: params.shipping_countries,
        };
        let rendered = objects::payment_link::render(&record);
        self.lock_store()
            .payment_links
            .insert(record.id.clone(), record);
        Ok(rendered)
    }

    /// The link as `GET /v1/payment_links/{id}` renders it.
    pub fn retrieve_payment_link(&self, id: &str) -> Result<Value, SimError> {
        self.lock_store()
            .payment_links
            .get(id)
            .map(objects::payment_link::render)
            .ok_or_else(|| SimError::not_found("payment_link", id, "payment_link"))
    }

    /// `POST /v1/payment_links/{id}` with `active`: deactivating stops new checkouts, and
    /// reactivating allows them again; sessions already open are unaffected, as at Stripe.
    pub fn set_payment_link_active(&self, id: &str, active: bool) -> Result<Value, SimError> {
        let mut store = self.lock_store();
        let link = store
            .payment_links
            .get_mut(id)
            .ok_or_else(|| SimError::not_found("payment_link", id, "payment_link"))?;
        link.active = active;
        Ok(objects::payment_link::render(link))
    }

    /// A customer opened the link: a new open session for its line items, returned as the API
    /// renders it (its `url` is the hosted payment page).
    pub(crate) fn open_payment_link(&self, id: &str) -> Result<Value, OpenLinkError> {
        let link = self
            .lock_store()
            .payment_links
            .get(id)
            .cloned()
            .ok_or(OpenLinkError::Unknown)?;
        if !link.active {
            return Err(OpenLinkError::Deactivated);
        }
        let (success_url, confirmation) = match &link.after_completion {
            AfterCompletion::Redirect { url } => (Some(url.clone()), None),
            AfterCompletion::HostedConfirmation { custom_message } => {
                (None, custom_message.clone())
            }
        };
        let catalog = self.catalog();
        let recurring = link
            .line_items
            .iter()
            .any(|(price, _)| catalog.price(price).is_some_and(|p| p.recurring.is_some()));
        let params = CreateSession {
            mode: if recurring { "subscription" } else { "payment" }.into(),
            line_items: link
                .line_items
                .iter()
                .map(|(price, quantity)| LineItemParams::catalog(price, *quantity))
                .collect(),
            success_url,
            shipping_countries: link.shipping_countries.clone(),
            ..CreateSession::default()
        };
        let now = self.now();
        let mut record = self
            .build_session(params, now)
            .map_err(|e| OpenLinkError::Failed(e.message().to_string()))?;
        record.payment_link = Some(link.id.clone());
        record.confirmation_message = confirmation;
        let rendered = objects::session::render(&record);
        self.lock_store().insert_session(record);
        Ok(rendered)
    }
}

fn check_after_completion(after: &AfterCompletion) -> Result<(), SimError> {
    match after {
        AfterCompletion::Redirect { url } => {
            let param = "after_completion[redirect][url]";
            if url.is_empty() {
                return Err(SimError::empty_param(param));
            }
            if url.len() > MAX_REDIRECT_URL_LEN {
                return Err(SimError::invalid_param(
                    param,
                    format!("The URL must be at most {MAX_REDIRECT_URL_LEN} characters."),
                ));
            }
            super::create_session::check_url(param, url)
        }
        AfterCompletion::HostedConfirmation {
            custom_message: Some(message),
        } if message.chars().count() > MAX_CUSTOM_MESSAGE_LEN => Err(SimError::invalid_param(
            "after_completion[hosted_confirmation][custom_message]",
            format!("The custom message must be at most {MAX_CUSTOM_MESSAGE_LEN} characters."),
        )),
        AfterCompletion::HostedConfirmation { .. } => Ok(()),
    }
}
