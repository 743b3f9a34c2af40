//! Signing in and out. `POST /login` checks the password off the async threads (Argon2 is slow
//! on purpose), counts failures per name ([`crate::login_throttle`]), and on success starts a
//! session and sets its cookie. Nothing about the attempt but the name and the outcome is
//! logged.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::pages::{respond, Nav};
use crate::sign_in::{self, Refused, SignedIn};
use crate::startup::AppState;

#[derive(Debug, Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    name: String,
    error: Option<String>,
}

pub async fn form() -> HttpResponse {
    respond(
        StatusCode::OK,
        &LoginPage {
            nav: None,
            name: String::new(),
            error: None,
        },
    )
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
    let token = sign_in::start(&state.pool, &name, role, state.session_ttl).await?;
    tracing::info!(operator = %name, role = role.as_str(), "signed in");
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
