//! Signed-in operators: server-side sessions in `console_sessions`, a cookie holding a random
//! token (only its SHA-256 is stored), and a per-session token every form carries (CSRF).
//!
//! [`SignedIn`] is an extractor: a handler that takes one is never reached without a live
//! session. A page request without one is sent to the sign-in form; anything else is a 401.
//! [`SignedIn::may_act`] refuses a viewer, [`SignedIn::check_form`] a form without this
//! session's token.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use subtle::ConstantTimeEq;

use crate::operators::Role;
use crate::pages::Nav;
use crate::proxy_sign_in::{self, Vouched};
use crate::state::AppState;

/// The cookie's name. `__Host-` makes the browser insist on Secure, path `/` and no domain, so
/// no other site or subdomain can set or read it; without Secure the prefix cannot be used.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-console"
    } else {
        "console"
    }
}

/// An operator with a live session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub name: String,
    pub role: Role,
    /// The token this session's forms carry.
    pub csrf: String,
}

/// Why a request is refused before its handler runs, or by its guards.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("sign in first")]
    NotSignedIn { page: bool },
    #[error("viewers can look but not act: ask an operator")]
    ViewerMayNotAct,
    #[error(
        "the form has expired or did not come from this console: reload the page and try again"
    )]
    BadFormToken,
    #[error("the console cannot reach its database")]
    Database(#[from] sqlx::Error),
}

impl ResponseError for Refused {
    fn status_code(&self) -> StatusCode {
        match self {
            Refused::NotSignedIn { .. } => StatusCode::UNAUTHORIZED,
            Refused::ViewerMayNotAct | Refused::BadFormToken => StatusCode::FORBIDDEN,
            Refused::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Refused::NotSignedIn { page: true } = self {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login"))
                .finish();
        }
        if let Refused::Database(e) = self {
            tracing::error!(error = %shared::errors::error_chain(e), "console database unreachable");
        }
        crate::pages::message(self.status_code(), "Refused", &self.to_string())
    }
}

impl SignedIn {
    /// The page header's part for this operator: who, as what, and the sign-out form's token.
    pub fn nav(&self) -> Option<Nav> {
        Some(Nav {
            name: self.name.clone(),
            role: self.role.as_str(),
            csrf: self.csrf.clone(),
        })
    }

    /// Refuses a viewer.
    pub fn may_act(&self) -> Result<(), Refused> {
        if self.role.may_act() {
            Ok(())
        } else {
            Err(Refused::ViewerMayNotAct)
        }
    }

    /// Refuses a form whose token is not this session's (compared in constant time).
    pub fn check_form(&self, token: &str) -> Result<(), Refused> {
        if bool::from(self.csrf.as_bytes().ct_eq(token.as_bytes())) {
            Ok(())
        } else {
            Err(Refused::BadFormToken)
        }
    }
}

impl FromRequest for SignedIn {
    type Error = Refused;
    type Future = Pin<Box<dyn Future<Output = Result<SignedIn, Refused>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let page = req.method() == Method::GET;
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = state
            .as_ref()
            .and_then(|s| req.cookie(cookie_name(s.secure_cookie)))
            .map(|c| c.value().to_owned());
        // Behind the single sign-on proxy, a session is honoured only for the operator the
        // proxy names now (someone else signed in at the proxy: their own session, via /login).
        let vouched = state
            .as_ref()
            .map(|s| proxy_sign_in::vouched(s.proxy.as_ref(), req));
        Box::pin(async move {
            let (Some(state), Some(token)) = (state, token) else {
                return Err(Refused::NotSignedIn { page });
            };
            let signed_in = find(&state.pool, &token)
                .await?
                .ok_or(Refused::NotSignedIn { page })?;
            match vouched {
                Some(Vouched::Operator(name)) if name != signed_in.name => {
                    Err(Refused::NotSignedIn { page })
                }
                _ => Ok(signed_in),
            }
        })
    }
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Starts a session for `name`; returns the cookie's token. Expired sessions are dropped on the
/// way, so the table holds only live ones.
pub async fn start(
    pool: &PgPool,
    name: &str,
    role: Role,
    ttl: Duration,
) -> Result<String, sqlx::Error> {
    let token = random_token();
    sqlx::query(
        "WITH expired AS (DELETE FROM console_sessions WHERE expires_at < now()) \
         INSERT INTO console_sessions (token_hash, operator, role, csrf_token, expires_at) \
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
    )
    .bind(token_hash(&token))
    .bind(name)
    .bind(role.as_str())
    .bind(random_token())
    .bind(ttl.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(token)
}

async fn find(pool: &PgPool, token: &str) -> Result<Option<SignedIn>, sqlx::Error> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT operator, role, csrf_token FROM console_sessions \
         WHERE token_hash = $1 AND expires_at > now()",
    )
    .bind(token_hash(token))
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(name, role, csrf)| {
        Some(SignedIn {
            name,
            role: Role::parse(&role)?,
            csrf,
        })
    }))
}

/// Ends the session whose cookie `req` carries, if any.
pub async fn end(pool: &PgPool, req: &HttpRequest, secure: bool) -> Result<(), sqlx::Error> {
    if let Some(cookie) = req.cookie(cookie_name(secure)) {
        sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
            .bind(token_hash(cookie.value()))
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// The session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's page
/// sends it), Secure unless configured otherwise, gone when the session expires.
pub fn cookie(token: String, ttl: Duration, secure: bool) -> Cookie<'static> {
    Cookie::build(cookie_name(secure), token)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        ))
        .finish()
}

/// A cookie that replaces the session cookie with an expired, empty one.
pub fn removal(secure: bool) -> Cookie<'static> {
    let mut cookie = cookie(String::new(), Duration::ZERO, secure);
    cookie.make_removal();
    cookie
}
