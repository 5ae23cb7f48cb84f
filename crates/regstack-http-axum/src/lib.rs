#![doc = include_str!("../README.md")]

mod admin;
pub mod body;
pub mod error;
pub mod extract;
pub mod ratelimit;
mod routes;
pub mod wire;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use regstack_core::RegStack;

pub use crate::error::ApiError;
pub use crate::extract::{CurrentUser, OptionalUser, Superuser};
pub use crate::routes::healthz;

/// The axum version this crate is built with, so hosts can match it.
pub use axum;

/// The router-relative paths of the JSON API mounted for this configuration.
pub fn route_paths(rs: &RegStack) -> Vec<&'static str> {
    let cfg = rs.config();
    let mut paths = vec![
        "/register",
        "/verify",
        "/resend-verification",
        "/login",
        "/login/mfa-confirm",
        "/logout",
        "/me",
        "/change-password",
        "/change-email",
        "/confirm-email-change",
        "/account",
    ];
    if cfg.enable_password_reset {
        paths.extend(["/forgot-password", "/reset-password"]);
    }
    if cfg.enable_admin_router {
        paths.extend(["/admin/stats", "/admin/users"]);
    }
    paths
}

/// The JSON API with router-relative paths (`/login`, `/me`, ...), ready to be nested under
/// `api_prefix` by a host. Routes are decided once, from the configuration.
///
/// # Panics
///
/// When a configured `*_rate_limit` string is invalid (fail closed); [`try_router`] returns
/// the error instead. `regstack::build` checks it before any router is made.
pub fn router(rs: RegStack) -> Router {
    try_router(rs).unwrap_or_else(|e| panic!("{e}"))
}

/// [`router`], returning an invalid rate-limit configuration as an error.
pub fn try_router(rs: RegStack) -> Result<Router, ratelimit::RateLimitConfigError> {
    let limits = Arc::new(ratelimit::RouteLimits::from_config(rs.config())?);
    let cfg = rs.config();
    let mut r = Router::new()
        .route("/register", post(routes::register))
        .route("/verify", post(routes::verify))
        .route("/resend-verification", post(routes::resend_verification))
        .route("/login", post(routes::login))
        .route("/login/mfa-confirm", post(routes::login_mfa_confirm))
        .route("/logout", post(routes::logout))
        .route("/me", get(routes::me).patch(routes::patch_me))
        .route("/change-password", post(routes::change_password))
        .route("/change-email", post(routes::change_email))
        .route("/confirm-email-change", post(routes::confirm_email_change))
        .route("/account", delete(routes::delete_account));
    if cfg.enable_password_reset {
        r = r
            .route("/forgot-password", post(routes::forgot_password))
            .route("/reset-password", post(routes::reset_password));
    }
    if cfg.enable_admin_router {
        r = r
            .route("/admin/stats", get(admin::stats))
            .route("/admin/users", get(admin::list_users))
            .route(
                "/admin/users/{user_id}",
                get(admin::get_user)
                    .patch(admin::patch_user)
                    .delete(admin::delete_user),
            )
            .route(
                "/admin/users/{user_id}/resend-verification",
                post(admin::resend_verification),
            )
            .route(
                "/admin/pending/{email}/promote",
                post(admin::promote_pending),
            );
    }
    Ok(r.layer(axum::Extension(limits)).with_state(rs))
}

/// A complete application: the JSON API under `api_prefix`, `GET /healthz`, and the
/// framework answers of 0.9.3 (JSON 404 / 405 bodies, 307 for a trailing slash).
///
/// # Panics
///
/// Like [`router`], on an invalid rate-limit configuration.
pub fn app(rs: RegStack) -> Router {
    let prefix = rs.config().api_prefix().to_owned();
    let known: Arc<Vec<String>> = Arc::new(
        route_paths(&rs)
            .into_iter()
            .map(|p| format!("{prefix}{p}"))
            .chain(std::iter::once("/healthz".to_owned()))
            .collect(),
    );
    let api = router(rs.clone());
    let base = Router::new().route("/healthz", get(healthz)).with_state(rs);
    let mounted = if prefix.is_empty() || prefix == "/" {
        base.merge(api)
    } else {
        base.nest(&prefix, api)
    };
    mounted
        .fallback(move |req: Request| fallback(known.clone(), req))
        .layer(middleware::from_fn(json_405))
}

/// 404 `{"detail":"Not Found"}`, or 307 to the same URL without a trailing slash when that
/// names a route.
async fn fallback(known: Arc<Vec<String>>, req: Request) -> Response {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        if known.iter().any(|k| k == trimmed) {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            let query = req
                .uri()
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            let location = format!("http://{host}{trimmed}{query}");
            if let Ok(v) = HeaderValue::from_str(&location) {
                return (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, v)]).into_response();
            }
        }
    }
    error::detail(StatusCode::NOT_FOUND, "Not Found")
}

/// Give axum's bare 405 (which keeps its `Allow` header) the JSON body of 0.9.3.
async fn json_405(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if resp.status() != StatusCode::METHOD_NOT_ALLOWED
        || resp.headers().contains_key(header::CONTENT_TYPE)
    {
        return resp;
    }
    let (mut parts, _) = resp.into_parts();
    // Starlette's form: `GET, PATCH` (HEAD is implicit in axum, not offered by 0.9.3).
    if let Some(allow) = parts
        .headers
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
    {
        let methods: Vec<&str> = allow
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty() && *m != "HEAD")
            .collect();
        if let Ok(v) = HeaderValue::from_str(&methods.join(", ")) {
            parts.headers.insert(header::ALLOW, v);
        }
    }
    let body = error::detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    let (body_parts, body) = body.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (k, v) in &body_parts.headers {
        parts.headers.insert(k, v.clone());
    }
    Response::from_parts(parts, body)
}
