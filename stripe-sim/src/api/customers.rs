//! `/v1/customers`: create and retrieve, what a merchant needs to start a session for a
//! customer it already knows and to read the customer's name back.

use actix_web::{web, HttpRequest, HttpResponse};

use super::create_session_params::metadata;
use super::params::Params;
use super::respond::{idempotent, ok};
use super::unrecognized;
use crate::error::SimError;
use crate::state::{CreateCustomer, SimState};

const CREATE: &str = "POST /v1/customers";

/// Parameters Stripe accepts on create that the simulator does not model.
const CREATE_STRIPE_ONLY: &[&str] = &[
    "address",
    "balance",
    "cash_balance",
    "description",
    "invoice_prefix",
    "invoice_settings",
    "next_invoice_sequence",
    "payment_method",
    "phone",
    "preferred_locales",
    "shipping",
    "source",
    "tax",
    "tax_exempt",
    "tax_id_data",
    "test_clock",
];

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/customers")
            .route(web::post().to(create))
            .default_service(web::to(unrecognized)),
    )
    .service(
        web::resource("/customers/{customer}")
            .route(web::get().to(retrieve))
            .default_service(web::to(unrecognized)),
    );
}

async fn create(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let params = Params::from_form(&body)?;
    params.check_known(
        &["email", "expand", "metadata", "name"],
        CREATE_STRIPE_ONLY,
        CREATE,
    )?;
    params.expand(&[])?;
    idempotent(&req, &state, &params, || {
        state.create_customer(CreateCustomer {
            name: params.string("name")?,
            email: params.string("email")?,
            metadata: metadata(params.get("metadata"))?,
        })
    })
}

async fn retrieve(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let params = Params::from_query(req.query_string())?;
    params.check_known(&["expand"], &[], "GET /v1/customers/{customer}")?;
    params.expand(&[])?;
    state.retrieve_customer(&path).map(ok)
}
