//! `/v1/checkout/sessions`: create, retrieve, list, line items, expire.

use actix_web::{web, HttpRequest, HttpResponse};

use super::params::Params;
use super::respond::{idempotent, ok};
use super::{connected_account, create_session_params, unrecognized};
use crate::error::SimError;
use crate::objects;
use crate::state::records::SessionStatus;
use crate::state::session_queries::{line_items_url, SessionQuery};
use crate::state::{CreateSession, SimState};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/checkout/sessions")
            .route(web::post().to(create))
            .route(web::get().to(list))
            .default_service(web::to(unrecognized)),
    )
    .service(
        web::resource("/checkout/sessions/{session}")
            .route(web::get().to(retrieve))
            .default_service(web::to(unrecognized)),
    )
    .service(
        web::resource("/checkout/sessions/{session}/line_items")
            .route(web::get().to(line_items))
            .default_service(web::to(unrecognized)),
    )
    .service(
        web::resource("/checkout/sessions/{session}/expire")
            .route(web::post().to(expire))
            .default_service(web::to(unrecognized)),
    );
}

/// What `expand` asks for on a session: its `line_items`, `customer`, `subscription`.
struct Expansion {
    line_items: bool,
    customer: bool,
    subscription: bool,
}

impl Expansion {
    fn parse(params: &Params) -> Result<Self, SimError> {
        let paths = params.expand(&["customer", "line_items", "subscription"])?;
        let asks = |path: &str| paths.iter().any(|p| p == path);
        Ok(Expansion {
            line_items: asks("line_items"),
            customer: asks("customer"),
            subscription: asks("subscription"),
        })
    }

    fn any(&self) -> bool {
        self.line_items || self.customer || self.subscription
    }

    /// The session `id` as the API renders it with these expansions, to a request made for
    /// `account` (`None`: the platform).
    fn retrieve(
        &self,
        state: &SimState,
        account: Option<&str>,
        id: &str,
    ) -> Result<serde_json::Value, SimError> {
        let mut session = state.retrieve_session_on(account, id, self.line_items)?;
        if self.customer {
            state.expand_customer(&mut session);
        }
        if self.subscription {
            state.expand_subscription(&mut session);
        }
        Ok(session)
    }
}

async fn create(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let params = Params::from_form(&body)?;
    let expand = Expansion::parse(&params)?;
    let account = connected_account::of(&req);
    idempotent(&req, &state, &params, || {
        let session = state.create_session(CreateSession {
            account: account.clone(),
            ..create_session_params::parse(&params)?
        })?;
        if !expand.any() {
            return Ok(session);
        }
        let id = session["id"].as_str().expect("a session has an id");
        expand.retrieve(&state, account.as_deref(), id)
    })
}

async fn retrieve(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let params = Params::from_query(req.query_string())?;
    params.check_known(&["expand"], &[], "GET /v1/checkout/sessions/{session}")?;
    Expansion::parse(&params)?
        .retrieve(&state, connected_account::of(&req).as_deref(), &path)
        .map(ok)
}

async fn line_items(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let params = Params::from_query(req.query_string())?;
    params.check_known(
        &["ending_before", "expand", "limit", "starting_after"],
        &[],
        "GET /v1/checkout/sessions/{session}/line_items",
    )?;
    params.expand(&[])?;
    let account = connected_account::of(&req);
    let page = state.line_items(account.as_deref(), &path, &params.page()?)?;
    Ok(ok(objects::list::render(page, &line_items_url(&path))))
}

async fn list(req: HttpRequest, state: web::Data<SimState>) -> Result<HttpResponse, SimError> {
    let params = Params::from_query(req.query_string())?;
    params.check_known(
        &[
            "created",
            "ending_before",
            "limit",
            "payment_intent",
            "payment_link",
            "starting_after",
            "status",
        ],
        &["customer", "customer_details", "expand", "subscription"],
        "GET /v1/checkout/sessions",
    )?;
    let status = match params.non_empty("status")? {
        None => None,
        Some(s) => Some(SessionStatus::parse(&s).ok_or_else(|| {
            SimError::invalid_param(
                "status",
                format!("Invalid status: must be one of open, complete, or expired (got {s})."),
            )
        })?),
    };
    let query = SessionQuery {
        account: connected_account::of(&req),
        status,
        payment_intent: params.non_empty("payment_intent")?,
        payment_link: params.non_empty("payment_link")?,
        created: params.created()?,
        page: params.page()?,
    };
    let page = state.list_sessions(&query)?;
    Ok(ok(objects::list::render(page, "/v1/checkout/sessions")))
}

/// `POST /v1/checkout/sessions/{id}/expire`: the real API's way to close an open session.
async fn expire(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let params = Params::from_form(&body)?;
    params.check_known(
        &["expand"],
        &[],
        "POST /v1/checkout/sessions/{session}/expire",
    )?;
    let expand = Expansion::parse(&params)?;
    let account = connected_account::of(&req);
    idempotent(&req, &state, &params, || {
        // Another account's session does not exist for this request: 404 before any change.
        state.retrieve_session_on(account.as_deref(), &path, false)?;
        state.expire_session(&path)?;
        expand.retrieve(&state, account.as_deref(), &path)
    })
}
