//! `/v1/events`: list and retrieve.

use actix_web::{web, HttpRequest, HttpResponse};

use super::connected_account;
use super::params::{string_list, Params};
use super::respond::ok;
use super::unrecognized;
use crate::error::SimError;
use crate::objects;
use crate::state::events::EventQuery;
use crate::state::SimState;

/// Stripe's cap on `types[]`.
const MAX_TYPES: usize = 20;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/events")
            .route(web::get().to(list))
            .default_service(web::to(unrecognized)),
    )
    .service(
        web::resource("/events/{id}")
            .route(web::get().to(retrieve))
            .default_service(web::to(unrecognized)),
    );
}

async fn list(req: HttpRequest, state: web::Data<SimState>) -> Result<HttpResponse, SimError> {
    let params = Params::from_query(req.query_string())?;
    params.check_known(
        &[
            "created",
            "ending_before",
            "limit",
            "starting_after",
            "type",
            "types",
        ],
        &["delivery_success", "expand"],
        "GET /v1/events",
    )?;
    let query = EventQuery {
        account: connected_account::of(&req),
        types: types(&params)?,
        created: params.created()?,
        page: params.page()?,
    };
    let page = state.list_events(&query)?;
    Ok(ok(objects::list::render(page, "/v1/events")))
}

/// `type` (one name or pattern) or `types[]` (up to 20), never both.
fn types(params: &Params) -> Result<Vec<String>, SimError> {
    let single = params.non_empty("type")?;
    let many = params
        .get("types")
        .map(|v| string_list(v, "types"))
        .transpose()?;
    match (single, many) {
        (Some(_), Some(_)) => Err(SimError::exclusive_params("type", "types")),
        (Some(t), None) => Ok(vec![t]),
        (None, Some(list)) if list.len() > MAX_TYPES => Err(SimError::invalid_param(
            "types",
            format!("You may pass at most {MAX_TYPES} types."),
        )),
        (None, Some(list)) => Ok(list.into_iter().filter(|t| !t.is_empty()).collect()),
        (None, None) => Ok(Vec::new()),
    }
}

async fn retrieve(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let params = Params::from_query(req.query_string())?;
    params.check_known(&[], &["expand"], "GET /v1/events/{id}")?;
    state
        .retrieve_event(connected_account::of(&req).as_deref(), &path)
        .map(ok)
}
