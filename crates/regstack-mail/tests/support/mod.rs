//! Loopback peers for the transport tests: a small SMTP server (plain, STARTTLS, implicit TLS,
//! AUTH), a throw-away PKI, and a MIME reader for what the server received.

#![allow(dead_code)]

pub mod mime;
pub mod pki;
pub mod smtp_server;

/// Serve the whole regstack app of `rs` on a loopback port (with connection addresses); the
/// API's base URL, a client for it (no proxy, 60 s timeout) and the server task.
pub async fn serve_app(
    rs: &regstack_core::RegStack,
) -> (String, reqwest::Client, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = regstack_http_axum::app(rs.clone());
    let server = tokio::spawn(async move {
        regstack_http_axum::axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    (
        format!("http://{addr}{}", rs.config().api_prefix()),
        client,
        server,
    )
}
