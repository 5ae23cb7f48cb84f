//! The SES transport against a local HTTP server standing in for the SESv2 endpoint: the
//! request must be a well-formed `SendEmail`, signed with SigV4 by the configured keys.

#![cfg(feature = "ses")]

use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use regstack_core::config::EmailConfig;
use regstack_core::mail::{EmailKind, MailError, compose};
use regstack_core::{EmailMessage, Mailer, RegStackConfig};
use regstack_mail::{AskamaComposer, SesMailer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const KEY_ID: &str = "AKIDREGSTACKTEST";
const SECRET: &str = "regstack/test/secret/key/0123456789abcdef";
const REGION: &str = "eu-central-1";

#[derive(Debug, Clone)]
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 server that answers every request with `status` and `body` and records it.
struct FakeSes {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    task: JoinHandle<()>,
}

impl Drop for FakeSes {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeSes {
    async fn start(status: &'static str, body: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut io = BufReader::new(tcp);
                    loop {
                        let mut line = String::new();
                        if io.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let method = parts.next().unwrap_or_default().to_owned();
                        let target = parts.next().unwrap_or_default().to_owned();
                        let mut headers = Vec::new();
                        loop {
                            let mut h = String::new();
                            io.read_line(&mut h).await.unwrap();
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            let (n, v) = h.split_once(':').unwrap();
                            headers.push((n.trim().to_owned(), v.trim().to_owned()));
                        }
                        let len: usize = headers
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                            .map_or(0, |(_, v)| v.parse().unwrap());
                        let mut payload = vec![0; len];
                        io.read_exact(&mut payload).await.unwrap();
                        seen.lock().unwrap().push(Request {
                            method,
                            target,
                            headers,
                            body: payload,
                        });
                        let answer = format!(
                            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                             x-amzn-requestid: test-request\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        io.get_mut().write_all(answer.as_bytes()).await.unwrap();
                    }
                });
            }
        });
        Self {
            url,
            requests,
            task,
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Recompute the AWS Signature Version 4 of `req` with `secret` and compare it with the one in
/// its `Authorization` header; returns the credential scope.
fn check_sigv4(req: &Request, secret: &str) -> Vec<String> {
    let auth = req.header("authorization").expect("signed request");
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .unwrap_or_else(|| panic!("not SigV4: {auth}"));
    let mut credential = "";
    let mut signed_headers = "";
    let mut signature = "";
    for field in rest.split(',').map(str::trim) {
        let (k, v) = field.split_once('=').unwrap();
        match k {
            "Credential" => credential = v,
            "SignedHeaders" => signed_headers = v,
            "Signature" => signature = v,
            other => panic!("unexpected field {other}"),
        }
    }
    let scope: Vec<String> = credential.split('/').map(str::to_owned).collect();
    assert_eq!(scope.len(), 5, "{credential}");
    assert_eq!(scope[4], "aws4_request");
    let amz_date = req.header("x-amz-date").expect("x-amz-date");
    assert!(
        amz_date.starts_with(&scope[1]),
        "{amz_date} vs {}",
        scope[1]
    );
    for required in ["host", "x-amz-date"] {
        assert!(
            signed_headers.split(';').any(|h| h == required),
            "{required} must be signed: {signed_headers}"
        );
    }

    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let canonical_headers: String = signed_headers
        .split(';')
        .map(|name| {
            let values: Vec<String> = req
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            assert!(!values.is_empty(), "signed header {name} is missing");
            format!("{name}:{}\n", values.join(","))
        })
        .collect();
    let payload_hash = req
        .header("x-amz-content-sha256")
        .map_or_else(|| hex(&Sha256::digest(&req.body)), str::to_owned);
    let canonical_request = format!(
        "{}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        req.method
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
        scope[1..].join("/"),
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), &scope[1]);
    let k_region = hmac(&k_date, &scope[2]);
    let k_service = hmac(&k_region, &scope[3]);
    let k_signing = hmac(&k_service, "aws4_request");
    assert_eq!(
        hex(&hmac(&k_signing, &string_to_sign)),
        signature,
        "SigV4 signature does not verify"
    );
    scope
}

fn email_config(endpoint: &str) -> EmailConfig {
    EmailConfig {
        ses_region: REGION.into(),
        ses_access_key_id: Some(KEY_ID.into()),
        ses_secret_access_key: Some(SECRET.into()),
        ses_endpoint_url: Some(endpoint.into()),
        ..EmailConfig::default()
    }
}

fn message() -> EmailMessage {
    let cfg = RegStackConfig {
        app_name: "MyApp".into(),
        ..RegStackConfig::default()
    };
    compose(
        &AskamaComposer::default(),
        &cfg,
        EmailKind::PasswordReset,
        "alice@example.com",
        Some("Alice"),
        "http://localhost:8000/reset-password?token=eyJhbGciOi.eyJzdWIi.sig-_",
    )
}

#[tokio::test]
async fn send_email_is_a_signed_sesv2_request() {
    let ses = FakeSes::start("200 OK", r#"{"MessageId":"test-message-1"}"#).await;
    let mailer = SesMailer::from_config(&email_config(&ses.url));
    let m = message();
    mailer.send(&m).await.unwrap();

    let reqs = ses.requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.target, "/v2/email/outbound-emails");
    assert!(
        req.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let scope = check_sigv4(req, SECRET);
    assert_eq!(scope[0], KEY_ID);
    assert_eq!(scope[2], REGION);
    assert_eq!(scope[3], "ses");
    let forged = req.clone();
    assert!(
        std::panic::catch_unwind(|| check_sigv4(&forged, "another secret")).is_err(),
        "the checker rejects a signature made with another key"
    );

    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["FromEmailAddress"], "MyApp <noreply@example.com>");
    assert_eq!(
        body["Destination"],
        json!({ "ToAddresses": ["alice@example.com"] })
    );
    let simple = &body["Content"]["Simple"];
    assert_eq!(
        simple["Subject"],
        json!({ "Data": "Reset your MyApp password", "Charset": "UTF-8" })
    );
    assert_eq!(
        simple["Body"]["Text"],
        json!({ "Data": m.text, "Charset": "UTF-8" })
    );
    assert_eq!(
        simple["Body"]["Html"],
        json!({ "Data": m.html, "Charset": "UTF-8" })
    );

    // The client is reused: a second message is a second request on the same settings.
    mailer.send(&m).await.unwrap();
    assert_eq!(ses.requests().len(), 2);
    check_sigv4(&ses.requests()[1], SECRET);
}

#[tokio::test]
async fn a_rejection_is_a_transport_error() {
    let ses = FakeSes::start(
        "400 Bad Request",
        r#"{"__type":"MessageRejected","message":"Email address is not verified."}"#,
    )
    .await;
    let mailer = SesMailer::from_config(&email_config(&ses.url));
    let err = mailer.send(&message()).await.unwrap_err();
    assert!(matches!(err, MailError::Transport(_)), "{err:?}");
    assert_eq!(ses.requests().len(), 1, "a rejection is not retried");
}

#[tokio::test]
async fn header_injection_never_reaches_ses() {
    let ses = FakeSes::start("200 OK", r#"{"MessageId":"x"}"#).await;
    let mailer = SesMailer::from_config(&email_config(&ses.url));
    let mut m = message();
    m.from_name = "MyApp\r\nBcc: victim@example.com".into();
    assert!(matches!(
        mailer.send(&m).await,
        Err(MailError::InvalidHeader("from name"))
    ));
    assert!(ses.requests().is_empty());
}
