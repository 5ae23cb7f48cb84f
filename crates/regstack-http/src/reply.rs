//! [`Reply`]: a framework-neutral response (status, headers, body bytes), the one type every
//! front end turns into its own.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::json;

/// A complete answer of the JSON API. Front ends convert it (`Response::map` over the body).
pub type Reply = http::Response<Bytes>;

/// `value` as JSON with `status` (`content-type: application/json`).
pub fn json(status: StatusCode, value: &impl Serialize) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut reply = Reply::new(Bytes::from(body));
            *reply.status_mut() = status;
            reply.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            reply
        }
        Err(e) => {
            tracing::error!(target: "regstack.http", error = %e, "response body could not be serialised");
            internal_error()
        }
    }
}

/// `value` as JSON with 200.
pub fn ok(value: &impl Serialize) -> Reply {
    json(StatusCode::OK, value)
}

/// `{"detail": detail}` with `status`.
pub fn detail(status: StatusCode, detail: impl Into<String>) -> Reply {
    json(status, &json!({ "detail": detail.into() }))
}

/// The plain-text 500 of Starlette.
pub fn internal_error() -> Reply {
    let mut reply = Reply::new(Bytes::from_static(b"Internal Server Error"));
    *reply.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    reply
}

/// `reply` with a `Retry-After` of `seconds` (at least 1).
pub fn with_retry_after(mut reply: Reply, seconds: u64) -> Reply {
    reply
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    reply
}

/// A reply carrying a credential: no cache (browser, proxy) may keep it.
pub fn no_store(mut reply: Reply) -> Reply {
    let headers = reply.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    reply
}
