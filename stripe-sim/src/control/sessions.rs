//! `POST /_sim/checkout/sessions/{id}/{complete|async_payment_succeeded|async_payment_failed|expire}`.
//! Each answers with the event the step created (its `data.object` is the updated session).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::json_body;
use crate::error::SimError;
use crate::state::{Customer, PaymentOutcome, Shipping, SimState};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/checkout/sessions/{session}/complete",
        web::post().to(complete),
    )
    .route(
        "/checkout/sessions/{session}/async_payment_succeeded",
        web::post().to(async_payment_succeeded),
    )
    .route(
        "/checkout/sessions/{session}/async_payment_failed",
        web::post().to(async_payment_failed),
    )
    .route(
        "/checkout/sessions/{session}/expire",
        web::post().to(expire),
    );
}

/// `{"payment": "paid"|"unpaid"|"no_payment_required", "name": …, "email": …, "shipping": …}`.
/// A session that collects a shipping address gets `shipping`, or Stripe's example address
/// in a country it allows when the body has none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct CompleteBody {
    payment: Payment,
    name: String,
    email: String,
    shipping: Option<Shipping>,
}

impl Default for CompleteBody {
    fn default() -> Self {
        CompleteBody {
            payment: Payment::Paid,
            name: "Jenny Rosen".into(),
            email: "jenny.rosen@example.com".into(),
            shipping: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Payment {
    Paid,
    Unpaid,
    NoPaymentRequired,
}

impl From<Payment> for PaymentOutcome {
    fn from(p: Payment) -> Self {
        match p {
            Payment::Paid => PaymentOutcome::Paid,
            Payment::Unpaid => PaymentOutcome::Unpaid,
            Payment::NoPaymentRequired => PaymentOutcome::NoPaymentRequired,
        }
    }
}

async fn complete(
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let body: CompleteBody = json_body(&body)?;
    let allowed = state
        .session_record(&path)
        .and_then(|s| s.shipping_countries);
    let shipping = match (allowed, body.shipping) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(SimError::invalid_param(
                "shipping",
                "The session collects no shipping address \
                 (it was created without shipping_address_collection).",
            ))
        }
        (Some(allowed), Some(shipping)) if allowed.contains(&shipping.country) => Some(shipping),
        (Some(_), Some(shipping)) => {
            return Err(SimError::invalid_param(
                "shipping[country]",
                format!(
                    "The session does not ship to {:?}: it is not in \
                     shipping_address_collection[allowed_countries].",
                    shipping.country
                ),
            ))
        }
        (Some(allowed), None) => Some(Shipping::example(&body.name, &allowed)),
    };
    let customer = Customer {
        name: body.name,
        email: body.email,
        shipping,
    };
    let event = state.complete_session(&path, body.payment.into(), customer)?;
    Ok(HttpResponse::Ok().json(event))
}

async fn async_payment_succeeded(
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    Ok(HttpResponse::Ok().json(state.succeed_async_payment(&path)?))
}

async fn async_payment_failed(
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    Ok(HttpResponse::Ok().json(state.fail_async_payment(&path)?))
}

async fn expire(
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    Ok(HttpResponse::Ok().json(state.expire_session(&path)?))
}
