#![doc = include_str!("../README.md")]

pub mod extract;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, RawPathParams, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, get, on};
use regstack_core::RegStack;
use regstack_http::{Api, BodyTooLarge, Reply, RequestParts, Route, app as answers};

pub use crate::extract::{CurrentUser, OptionalUser, Rejection, Superuser};

/// The axum version this crate is built with, so hosts can match it.
pub use axum;
/// The framework-neutral layer this crate mounts (route table, wire types, rate limits).
pub use regstack_http;
pub use regstack_http::{ApiError, ratelimit, wire};

/// An answer of `regstack-http` as an axum response.
pub fn into_response(reply: Reply) -> Response {
    reply.map(Body::from)
}

/// The router-relative paths of the JSON API mounted for this configuration (each once).
pub fn route_paths(rs: &RegStack) -> Vec<&'static str> {
    let mut paths: Vec<&'static str> = Vec::new();
    for route in regstack_http::mounted_routes(rs.config()) {
        if !paths.contains(&route.path) {
            paths.push(route.path);
        }
    }
    paths
}

fn method_filter(route: &Route) -> MethodFilter {
    MethodFilter::try_from(route.method.clone()).unwrap_or(MethodFilter::POST)
}

/// Read the body (at most `limit` bytes) and hand the request to `regstack-http`.
async fn handle(
    api: Api,
    route: &'static Route,
    params: Vec<(String, String)>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let bytes = if route.body {
        axum::body::to_bytes(body, api.max_body_bytes())
            .await
            .map_err(|_| BodyTooLarge)
    } else {
        Ok(bytes::Bytes::new())
    };
    let request = RequestParts {
        headers: parts.headers,
        query: parts.uri.query().map(str::to_owned),
        params,
        peer,
    };
    let reply = api
        .handle(
            route,
            request,
            bytes.as_ref().map(|b| b.as_ref()).map_err(|e| *e),
        )
        .await;
    into_response(reply)
}

fn endpoint(route: &'static Route) -> MethodRouter<Api> {
    let filter = method_filter(route);
    if route.path.contains('{') {
        on(
            filter,
            move |State(api): State<Api>, params: RawPathParams, req: Request| async move {
                let params = params
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                handle(api, route, params, req).await
            },
        )
    } else {
        on(
            filter,
            move |State(api): State<Api>, req: Request| async move {
                handle(api, route, Vec::new(), req).await
            },
        )
    }
}

/// The JSON API with router-relative paths (`/login`, `/me`, ...), ready to be nested under
/// `api_prefix` by a host. Routes are decided once, from the configuration and the route
/// table of `regstack-http`.
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
    let api = Api::new(rs.clone())?;
    let mut by_path: BTreeMap<&'static str, MethodRouter<Api>> = BTreeMap::new();
    for route in regstack_http::mounted_routes(rs.config()) {
        let added = endpoint(route);
        let merged = match by_path.remove(route.path) {
            Some(existing) => existing.merge(added),
            None => added,
        };
        by_path.insert(route.path, merged);
    }
    let mut r = Router::new();
    for (path, methods) in by_path {
        r = r.route(path, methods);
    }
    Ok(r.with_state(api))
}

/// `GET /healthz`: 200 while the database answers, 503 otherwise.
pub async fn healthz(State(rs): State<RegStack>) -> Response {
    into_response(answers::healthz(&rs).await)
}

/// A complete application: the JSON API under `api_prefix`, `GET /healthz`, and the
/// framework answers of 0.9.3 (JSON 404 / 405 bodies, 307 for a trailing slash).
///
/// # Panics
///
/// Like [`router`], on an invalid rate-limit configuration.
pub fn app(rs: RegStack) -> Router {
    let prefix = rs.config().api_prefix().to_owned();
    let known: Arc<Vec<String>> = Arc::new(answers::known_paths(&rs));
    let api = router(rs.clone());
    let base = Router::new()
        .route(answers::HEALTHZ, get(healthz))
        .with_state(rs.clone());
    let mounted = if prefix.is_empty() || prefix == "/" {
        base.merge(api)
    } else {
        base.nest(&prefix, api)
    };
    mounted
        .fallback(move |req: Request| fallback(known.clone(), req))
        .layer(middleware::from_fn_with_state(rs, json_405))
}

/// The JSON 404, or 307 to the same URL without a trailing slash when that
/// names a route.
async fn fallback(known: Arc<Vec<String>>, req: Request) -> Response {
    into_response(answers::not_found(
        req.uri().path(),
        req.uri().query(),
        req.headers(),
        &known,
    ))
}

/// Give axum's bare 405 the JSON body and `Allow` header of 0.9.3 (the methods come from the
/// route table).
async fn json_405(State(rs): State<RegStack>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    if answers::is_bare_405(resp.status(), resp.headers()) {
        let methods = answers::allowed_methods(rs.config(), &path);
        if !methods.is_empty() {
            return into_response(answers::method_not_allowed(&methods));
        }
    }
    resp
}

/// Serve `app` on `listener` as production wants it: with each connection's address (the
/// per-IP limits key on it), until ctrl-c or SIGTERM, then let the requests in flight finish and
/// [`RegStack::close`] `rs` (deferred mail delivered, pools closed; bounded by its timeout).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    rs: RegStack,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!(target: "regstack.http", "shutting down: finishing background work");
    rs.close().await;
    Ok(())
}

/// ctrl-c, or SIGTERM on unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
