//! The answers of a whole application around the JSON API, as 0.9.3's Starlette gives them:
//! `GET /healthz`, JSON 404 and 405 bodies, and the 307 redirect of a path with a trailing
//! slash to the route without it.

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use regstack_core::{RegStack, RegStackConfig};
use serde_json::json;

use crate::reply::{Reply, detail, json};

/// The path of the health check a whole application serves.
pub const HEALTHZ: &str = "/healthz";

/// `GET /healthz`: 200 `{"status": "ok"}` while the database answers, 503 otherwise.
pub async fn healthz(rs: &RegStack) -> Reply {
    if rs.healthy().await {
        json(StatusCode::OK, &json!({ "status": "ok" }))
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": "unavailable" }),
        )
    }
}

/// The full paths (`api_prefix` + route, and `/healthz`) of the routes mounted for `rs`, each
/// once, in table order: what the trailing-slash redirect may lead to.
pub fn known_paths(rs: &RegStack) -> Vec<String> {
    let prefix = rs.config().api_prefix();
    let mut paths: Vec<String> = Vec::new();
    for route in crate::mounted_routes(rs.config()) {
        let path = format!("{prefix}{}", route.path);
        if !route.path.contains('{') && !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths.push(HEALTHZ.to_owned());
    paths
}

/// The answer for a path no route matched: a 307 to the same URL without its trailing slash
/// when that names a route in `known`, else 404 `{"detail": "Not Found"}`. (A known path with
/// a parameter is matched by the front end's router, never here.)
pub fn not_found(path: &str, query: Option<&str>, headers: &HeaderMap, known: &[String]) -> Reply {
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        if known.iter().any(|k| k == trimmed) {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            let location = format!("http://{host}{trimmed}{query}");
            if let Ok(v) = HeaderValue::from_str(&location) {
                let mut reply = Reply::new(bytes::Bytes::new());
                *reply.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                reply.headers_mut().insert(header::LOCATION, v);
                return reply;
            }
        }
    }
    detail(StatusCode::NOT_FOUND, "Not Found")
}

/// The 405 for a path whose route exists under other methods: `{"detail": "Method Not
/// Allowed"}` with Starlette's `Allow` (`GET, PATCH`; HEAD is not offered).
pub fn method_not_allowed(allowed: &[Method]) -> Reply {
    let methods: Vec<&str> = allowed
        .iter()
        .map(Method::as_str)
        .filter(|m| *m != "HEAD")
        .collect();
    let mut reply = detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    if let Ok(v) = HeaderValue::from_str(&methods.join(", ")) {
        reply.headers_mut().insert(header::ALLOW, v);
    }
    reply
}

/// Whether a framework's own answer is a bare 405 (no body yet) that [`method_not_allowed`]
/// should replace.
pub fn is_bare_405(status: StatusCode, headers: &HeaderMap) -> bool {
    status == StatusCode::METHOD_NOT_ALLOWED && !headers.contains_key(header::CONTENT_TYPE)
}

/// The methods the mounted routes (and `/healthz`) answer at `path` (a full path, with
/// `api_prefix`), in table order; a `{name}` segment of a route matches any one segment.
pub fn allowed_methods(config: &RegStackConfig, path: &str) -> Vec<Method> {
    let mut methods = Vec::new();
    if path == HEALTHZ {
        methods.push(Method::GET);
    }
    let Some(rest) = path.strip_prefix(config.api_prefix()) else {
        return methods;
    };
    for route in crate::mounted_routes(config) {
        if matches_pattern(route.path, rest) && !methods.contains(&route.method) {
            methods.push(route.method.clone());
        }
    }
    methods
}

fn matches_pattern(pattern: &str, path: &str) -> bool {
    let mut p = pattern.split('/');
    let mut a = path.split('/');
    loop {
        match (p.next(), a.next()) {
            (None, None) => return true,
            (Some(seg), Some(actual)) if seg.starts_with('{') && seg.ends_with('}') => {
                if actual.is_empty() {
                    return false;
                }
            }
            (Some(seg), Some(actual)) if seg == actual => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_slash_redirects_only_to_a_known_path() {
        let known = vec!["/api/auth/me".to_owned(), HEALTHZ.to_owned()];
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("example.org:8000"));
        let r = not_found("/api/auth/me/", Some("a=1"), &h, &known);
        assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            r.headers()[header::LOCATION],
            "http://example.org:8000/api/auth/me?a=1"
        );
        let r = not_found("/api/auth/nope/", None, &h, &known);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.body().as_ref(), br#"{"detail":"Not Found"}"#);
    }

    #[test]
    fn a_405_lists_the_methods_without_head() {
        let r = method_not_allowed(&[Method::GET, Method::HEAD, Method::PATCH]);
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[header::ALLOW], "GET, PATCH");
        let mut h = HeaderMap::new();
        assert!(is_bare_405(StatusCode::METHOD_NOT_ALLOWED, &h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(!is_bare_405(StatusCode::METHOD_NOT_ALLOWED, &h));
    }

    #[test]
    fn allowed_methods_come_from_the_table() {
        let c = RegStackConfig {
            enable_admin_router: true,
            ..RegStackConfig::default()
        };
        assert_eq!(
            allowed_methods(&c, "/api/auth/me"),
            [Method::GET, Method::PATCH]
        );
        assert_eq!(allowed_methods(&c, "/api/auth/login"), [Method::POST]);
        assert_eq!(
            allowed_methods(&c, "/api/auth/admin/users/abc"),
            [Method::GET, Method::PATCH, Method::DELETE]
        );
        assert!(allowed_methods(&c, "/api/auth/admin/users/").is_empty());
        assert_eq!(allowed_methods(&c, "/healthz"), [Method::GET]);
        assert!(allowed_methods(&c, "/login").is_empty());
    }
}
