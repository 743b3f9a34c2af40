//! Customer objects: created through the API, named by sessions (`customer=cus_…`), and
//! expanded into a retrieved session (`expand[]=customer`) so a client learns the customer's
//! name in the same call as the session.

use std::collections::BTreeMap;

use serde_json::Value;

use super::records::CustomerRecord;
use super::SimState;
use crate::error::SimError;
use crate::{ids, objects};

/// Stripe's limit on a customer's name and email.
const MAX_FIELD_LEN: usize = 512;

/// The parameters of `POST /v1/customers` that the simulator models.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateCustomer {
    pub name: Option<String>,
    pub email: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

impl SimState {
    /// Validates `params` and stores a new customer; returns it as the API renders it.
    pub fn create_customer(&self, params: CreateCustomer) -> Result<Value, SimError> {
        for (param, value) in [("name", &params.name), ("email", &params.email)] {
            if value
                .as_ref()
                .is_some_and(|v| v.chars().count() > MAX_FIELD_LEN)
            {
                return Err(SimError::invalid_param(
                    param,
                    format!("{param} must be at most {MAX_FIELD_LEN} characters."),
                ));
            }
        }
        let record = CustomerRecord {
            id: ids::customer(),
            created: self.now(),
            // Stripe stores an empty string as "not set".
            name: params.name.filter(|n| !n.is_empty()),
            email: params.email.filter(|e| !e.is_empty()),
            metadata: params.metadata,
        };
        let rendered = objects::customer::render(&record);
        self.lock_store()
            .customers
            .insert(record.id.clone(), record);
        Ok(rendered)
    }

    /// `GET /v1/customers/{id}`: 404 `resource_missing` for an id this simulator never made.
    pub fn retrieve_customer(&self, id: &str) -> Result<Value, SimError> {
        self.lock_store()
            .customers
            .get(id)
            .map(objects::customer::render)
            .ok_or_else(|| SimError::not_found("customer", id, "id"))
    }

    /// Replaces a rendered session's `customer` id with the customer object, as
    /// `expand[]=customer` does; a session without a customer keeps `null`.
    pub(crate) fn expand_customer(&self, session: &mut Value) {
        let Some(id) = session["customer"].as_str() else {
            return;
        };
        if let Some(record) = self.lock_store().customers.get(id) {
            session["customer"] = objects::customer::render(record);
        }
    }

    /// Whether `id` names a customer, for `customer=` on a new session.
    pub(crate) fn has_customer(&self, id: &str) -> bool {
        self.lock_store().customers.contains_key(id)
    }
}
