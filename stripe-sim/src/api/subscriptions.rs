//! `/v1/subscriptions/{id}`: the subscription a `mode=subscription` session created, read back
//! by whoever fulfils it.

use actix_web::{web, HttpRequest, HttpResponse};

use super::connected_account;
use super::params::Params;
use super::respond::ok;
use super::unrecognized;
use crate::error::SimError;
use crate::state::SimState;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/subscriptions/{subscription}")
            .route(web::get().to(retrieve))
            .default_service(web::to(unrecognized)),
    );
}

async fn retrieve(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let params = Params::from_query(req.query_string())?;
    params.check_known(&["expand"], &[], "GET /v1/subscriptions/{subscription}")?;
    params.expand(&[])?;
    state
        .retrieve_subscription(connected_account::of(&req).as_deref(), &path)
        .map(ok)
}
