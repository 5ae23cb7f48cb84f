#![doc = include_str!("../README.md")]

pub mod admin;
pub mod app;
pub mod auth;
pub mod body;
pub mod error;
mod handlers;
pub mod ratelimit;
pub mod reply;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderMap, Method};
use regstack_core::{RegStack, RegStackConfig};

pub use crate::error::ApiError;
pub use crate::reply::Reply;

/// The `http` version this crate speaks, so front ends can match it.
pub use http;

/// What a route does: one variant per endpoint of the JSON API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    Register,
    Verify,
    ResendVerification,
    Login,
    LoginMfaConfirm,
    Logout,
    Me,
    PatchMe,
    ChangePassword,
    ChangeEmail,
    ConfirmEmailChange,
    DeleteAccount,
    ForgotPassword,
    ResetPassword,
    AdminStats,
    AdminListUsers,
    AdminGetUser,
    AdminPatchUser,
    AdminDeleteUser,
    AdminResendVerification,
    AdminPromotePending,
}

/// One endpoint of the JSON API: everything a front end needs to mount it, and what the rate
/// limiter, the trailing-slash redirects and the tests read. Paths are router-relative
/// (mounted under `api_prefix`); parameters are written `{name}`.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub endpoint: Endpoint,
    /// The `*_rate_limit` setting that limits this route, if any.
    pub rate_limit: Option<&'static str>,
    /// Whether the route reads a JSON body (parsed before the handler runs, so a malformed or
    /// oversized body is refused before authentication, as in 0.9.3).
    pub body: bool,
    /// Whether the route is mounted under a configuration.
    pub mounted: fn(&RegStackConfig) -> bool,
}

fn always(_: &RegStackConfig) -> bool {
    true
}

fn password_reset(c: &RegStackConfig) -> bool {
    c.enable_password_reset
}

fn admin_router(c: &RegStackConfig) -> bool {
    c.enable_admin_router
}

const fn route(
    method: Method,
    path: &'static str,
    endpoint: Endpoint,
    rate_limit: Option<&'static str>,
    body: bool,
    mounted: fn(&RegStackConfig) -> bool,
) -> Route {
    Route {
        method,
        path,
        endpoint,
        rate_limit,
        body,
        mounted,
    }
}

/// Every route of the JSON API, in 0.9.3's order.
pub static ROUTES: [Route; 21] = {
    use Endpoint as E;
    [
        route(
            Method::POST,
            "/register",
            E::Register,
            Some("register_rate_limit"),
            true,
            always,
        ),
        route(
            Method::POST,
            "/verify",
            E::Verify,
            Some("verify_rate_limit"),
            true,
            always,
        ),
        route(
            Method::POST,
            "/resend-verification",
            E::ResendVerification,
            Some("resend_verification_rate_limit"),
            true,
            always,
        ),
        route(
            Method::POST,
            "/login",
            E::Login,
            Some("login_rate_limit"),
            true,
            always,
        ),
        route(
            Method::POST,
            "/login/mfa-confirm",
            E::LoginMfaConfirm,
            Some("login_mfa_confirm_rate_limit"),
            true,
            always,
        ),
        route(Method::POST, "/logout", E::Logout, None, false, always),
        route(Method::GET, "/me", E::Me, None, false, always),
        route(Method::PATCH, "/me", E::PatchMe, None, true, always),
        route(
            Method::POST,
            "/change-password",
            E::ChangePassword,
            Some("change_password_rate_limit"),
            true,
            always,
        ),
        route(
            Method::POST,
            "/change-email",
            E::ChangeEmail,
            Some("change_email_rate_limit"),
            true,
            always,
        ),
        route(
            Method::POST,
            "/confirm-email-change",
            E::ConfirmEmailChange,
            Some("confirm_email_change_rate_limit"),
            true,
            always,
        ),
        route(
            Method::DELETE,
            "/account",
            E::DeleteAccount,
            Some("delete_account_rate_limit"),
            true,
            always,
        ),
        route(
            Method::POST,
            "/forgot-password",
            E::ForgotPassword,
            Some("forgot_password_rate_limit"),
            true,
            password_reset,
        ),
        route(
            Method::POST,
            "/reset-password",
            E::ResetPassword,
            Some("reset_password_rate_limit"),
            true,
            password_reset,
        ),
        route(
            Method::GET,
            "/admin/stats",
            E::AdminStats,
            None,
            false,
            admin_router,
        ),
        route(
            Method::GET,
            "/admin/users",
            E::AdminListUsers,
            None,
            false,
            admin_router,
        ),
        route(
            Method::GET,
            "/admin/users/{user_id}",
            E::AdminGetUser,
            None,
            false,
            admin_router,
        ),
        route(
            Method::PATCH,
            "/admin/users/{user_id}",
            E::AdminPatchUser,
            None,
            true,
            admin_router,
        ),
        route(
            Method::DELETE,
            "/admin/users/{user_id}",
            E::AdminDeleteUser,
            None,
            false,
            admin_router,
        ),
        route(
            Method::POST,
            "/admin/users/{user_id}/resend-verification",
            E::AdminResendVerification,
            None,
            false,
            admin_router,
        ),
        route(
            Method::POST,
            "/admin/pending/{email}/promote",
            E::AdminPromotePending,
            None,
            false,
            admin_router,
        ),
    ]
};

/// The routes mounted under `config`, in table order.
pub fn mounted_routes(config: &RegStackConfig) -> impl Iterator<Item = &'static Route> + '_ {
    ROUTES.iter().filter(move |r| (r.mounted)(config))
}

/// One mounted JSON API: the account system and its parsed rate limits. Build it once at
/// start-up and share it (it is cheap to clone).
#[derive(Debug, Clone)]
pub struct Api {
    rs: RegStack,
    limits: Arc<ratelimit::RouteLimits>,
}

impl Api {
    /// Parse the configured rate limits (fail closed on an invalid one).
    pub fn new(rs: RegStack) -> Result<Self, ratelimit::RateLimitConfigError> {
        let limits = Arc::new(ratelimit::RouteLimits::from_config(rs.config())?);
        Ok(Self { rs, limits })
    }

    /// The account system.
    pub fn regstack(&self) -> &RegStack {
        &self.rs
    }

    /// The largest body a front end may read for a route (`max_body_bytes`).
    pub fn max_body_bytes(&self) -> usize {
        self.rs.config().max_body_bytes
    }

    /// Answer one request of `route`. `body` is the body as the front end read it: the bytes,
    /// or `Err(BodyTooLarge)` when it exceeded [`Api::max_body_bytes`]; it is parsed only for
    /// routes that read one. `params` are the path parameters by name (percent-decoded);
    /// `peer` is the connection's address when the front end knows it.
    pub async fn handle(
        &self,
        route: &Route,
        parts: RequestParts,
        body: Result<&[u8], BodyTooLarge>,
    ) -> Reply {
        let parsed = if route.body {
            match body {
                Ok(bytes) => {
                    body::JsonBody::parse(parts.headers.get(http::header::CONTENT_TYPE), bytes)
                }
                Err(BodyTooLarge) => Err(ApiError::PayloadTooLarge),
            }
        } else {
            Ok(body::JsonBody(None))
        };
        let result = match parsed {
            Ok(body) => {
                let rate = ratelimit::RateLimit::new(
                    &self.limits,
                    route.path,
                    self.rs.config(),
                    &parts.headers,
                    parts.peer,
                );
                let req = Request {
                    rs: self.rs.clone(),
                    headers: parts.headers,
                    query: parts.query,
                    params: parts.params,
                    body,
                    rate,
                };
                handlers::run(route.endpoint, req).await
            }
            Err(e) => Err(e),
        };
        result.unwrap_or_else(ApiError::into_reply)
    }
}

/// A request body over `max_body_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTooLarge;

/// What a front end hands over of one request besides its body.
#[derive(Debug, Clone, Default)]
pub struct RequestParts {
    pub headers: HeaderMap,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    /// Path parameters by name, percent-decoded.
    pub params: Vec<(String, String)>,
    /// The connection's peer address, when known.
    pub peer: Option<SocketAddr>,
}

/// One request as a handler sees it.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) rs: RegStack,
    pub(crate) headers: HeaderMap,
    pub(crate) query: Option<String>,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) body: body::JsonBody,
    pub(crate) rate: ratelimit::RateLimit,
}

impl Request {
    /// A path parameter of the route (empty when absent: the table and the front end agree).
    pub(crate) fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn each_route_is_mounted_exactly_when_its_config_says() {
        let mut c = RegStackConfig::default();
        let paths =
            |c: &RegStackConfig| -> Vec<&str> { mounted_routes(c).map(|r| r.path).collect() };
        assert!(paths(&c).contains(&"/forgot-password"));
        assert!(!paths(&c).iter().any(|p| p.starts_with("/admin")));
        c.enable_password_reset = false;
        c.enable_admin_router = true;
        let mounted = paths(&c);
        assert!(!mounted.contains(&"/forgot-password") && !mounted.contains(&"/reset-password"));
        assert_eq!(
            mounted.iter().filter(|p| p.starts_with("/admin")).count(),
            7
        );
        assert_eq!(mounted.len(), ROUTES.len() - 2);
    }

    #[test]
    fn every_method_and_path_is_listed_once() {
        let mut seen = BTreeSet::new();
        for r in &ROUTES {
            assert!(
                seen.insert((r.method.as_str(), r.path)),
                "{} {}",
                r.method,
                r.path
            );
        }
    }

    #[test]
    fn the_rate_limit_fields_are_the_settings_of_the_built_routes() {
        let in_table: BTreeSet<(&str, &str)> = ROUTES
            .iter()
            .filter_map(|r| r.rate_limit.map(|f| (r.path, f)))
            .collect();
        let settings: BTreeSet<(&str, &str)> = regstack_core::config::RATE_LIMIT_ROUTES
            .iter()
            .copied()
            .collect();
        // Settings whose routes are not built yet (OAuth, phone enrolment): each lands with its
        // route, and this list shrinks.
        let not_built: BTreeSet<(&str, &str)> = [
            ("/oauth/exchange", "oauth_exchange_rate_limit"),
            ("/phone/start", "phone_start_rate_limit"),
            ("/phone/confirm", "phone_confirm_rate_limit"),
            ("/phone", "phone_disable_rate_limit"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            in_table,
            settings
                .difference(&not_built)
                .copied()
                .collect::<BTreeSet<_>>()
        );
    }
}
