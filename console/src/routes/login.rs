//! Signing in and out. `POST /login` checks the password off the async threads (Argon2 is slow
//! on purpose), counts failures per name ([`crate::login_throttle`]), and on success starts a
//! session and sets its cookie. Behind a trusted single sign-on proxy, `GET /login` starts the
//! session of the operator the proxy names ([`crate::proxy_sign_in`]) without a form. Nothing
//! about the attempt but the name and the outcome is logged.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::operators::Role;
use crate::pages::{respond, Nav};
use crate::proxy_sign_in::{self, Vouched};
use crate::sign_in::{self, Refused, SignedIn};
use crate::state::AppState;

#[derive(Debug, Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    name: String,
    error: Option<String>,
}

pub async fn form(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, Refused> {
    match proxy_sign_in::vouched(state.proxy.as_ref(), &req) {
        Vouched::Operator(name) => return through_proxy(&state, name).await,
        Vouched::Untrusted { peer } => {
            // Someone reached the port without the proxy, or the proxy's address changed.
            tracing::warn!(
                ?peer,
                "ignored the proxy's user header from an untrusted address"
            );
        }
        Vouched::Nobody => {}
    }
    Ok(respond(
        StatusCode::OK,
        &LoginPage {
            nav: None,
            name: String::new(),
            error: None,
        },
    ))
}

/// Starts the session of the operator the trusted proxy names, if the operators file lists
/// them.
async fn through_proxy(state: &AppState, name: String) -> Result<HttpResponse, Refused> {
    let Some(role) = state.operators.role_of(&name) else {
        tracing::warn!(operator = %name, via = "proxy", "sign-in refused: not an operator");
        return Ok(crate::pages::message(
            StatusCode::FORBIDDEN,
            "Not an operator",
            &format!(
                "The sign-on proxy knows you as \u{201c}{name}\u{201d}, who is not listed in \
                 console.operators. Ask an operator to add you."
            ),
        ));
    };
    signed_in(state, &name, role, "proxy").await
}

#[derive(Deserialize)]
pub struct Credentials {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

pub async fn submit(
    state: web::Data<AppState>,
    credentials: web::Form<Credentials>,
) -> Result<HttpResponse, Refused> {
    let Credentials { name, password } = credentials.into_inner();
    let name = name.trim().to_owned();
    let refuse = |status: StatusCode, name: String, error: String| {
        respond(
            status,
            &LoginPage {
                nav: None,
                name,
                error: Some(error),
            },
        )
    };
    if let Some(wait) = state.login_throttle.blocked_for(&name) {
        tracing::warn!(operator = %name, "sign-in refused: too many failures");
        return Ok(refuse(
            StatusCode::TOO_MANY_REQUESTS,
            name,
            format!(
                "Too many failed attempts for this name. Try again in {} s.",
                wait.as_secs() + 1
            ),
        ));
    }
    let operators = state.operators.clone();
    let checked_name = name.clone();
    let role = web::block(move || operators.verify(&checked_name, &password))
        .await
        .ok()
        .flatten();
    let Some(role) = role else {
        state.login_throttle.failed(&name);
        tracing::warn!(operator = %name, "sign-in failed");
        return Ok(refuse(
            StatusCode::UNAUTHORIZED,
            name,
            "That name and password do not match.".into(),
        ));
    };
    state.login_throttle.succeeded(&name);
    signed_in(&state, &name, role, "password").await
}

/// Starts `name`'s session and sends them, with its cookie, to the overview.
async fn signed_in(
    state: &AppState,
    name: &str,
    role: Role,
    via: &'static str,
) -> Result<HttpResponse, Refused> {
    let token = sign_in::start(&state.pool, name, role, state.session_ttl).await?;
    tracing::info!(operator = %name, role = role.as_str(), via, "signed in");
    Ok(HttpResponse::SeeOther()
        .cookie(sign_in::cookie(
            token,
            state.session_ttl,
            state.secure_cookie,
        ))
        .insert_header((header::LOCATION, "/"))
        .finish())
}

#[derive(Debug, Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(
    state: web::Data<AppState>,
    operator: SignedIn,
    req: HttpRequest,
    form: web::Form<SignOutForm>,
) -> Result<HttpResponse, Refused> {
    operator.check_form(&form.csrf)?;
    sign_in::end(&state.pool, &req, state.secure_cookie).await?;
    tracing::info!(operator = %operator.name, "signed out");
    Ok(HttpResponse::SeeOther()
        .cookie(sign_in::removal(state.secure_cookie))
        .insert_header((header::LOCATION, "/login"))
        .finish())
}
