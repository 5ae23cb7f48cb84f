//! The SNS transport against a loopback stand-in for the AWS endpoint, which checks that each
//! request is a well-formed `Publish` signed with SigV4 (recomputed here by hand).

mod common;

use std::time::Duration;

use aws_sdk_sns::config::{BehaviorVersion, Credentials, Region};
use axum::http::{Method, StatusCode};
use common::{FakeServer, LogBuffer, Recorded, Reply};
use hmac::{Hmac, Mac};
use regstack_core::config::{SmsBackend, SmsConfig};
use regstack_core::sms::{SmsError, SmsKind, default_text};
use regstack_core::{SmsMessage, SmsSender};
use regstack_sms::{Error, SnsSms};
use sha2::{Digest, Sha256};

const AKID: &str = "AKIDREGSTACKTEST0001";
const SECRET: &str = "regstack/Test+Secret/Key0123456789abcdefXYZ";
const REGION: &str = "ap-southeast-2";
const CODE: &str = "730541";

fn published() -> Reply {
    Reply {
        status: StatusCode::OK,
        content_type: "text/xml",
        body: r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
  <PublishResult><MessageId>567910cd-659e-55d4-8ccb-5aaf14679dc0</MessageId></PublishResult>
  <ResponseMetadata><RequestId>d74b8436-ae13-5ab4-a9ff-ce54dfea72a0</RequestId></ResponseMetadata>
</PublishResponse>"#
            .into(),
        delay: Duration::ZERO,
    }
}

/// A client with static test credentials, pointed at the fake endpoint.
fn client(endpoint: &str) -> aws_sdk_sns::Client {
    let config = aws_sdk_sns::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(AKID, SECRET, None, None, "regstack-test"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

fn message(from: Option<&str>) -> SmsMessage {
    SmsMessage {
        kind: SmsKind::PhoneSetup,
        to: "+61491570156".into(),
        from: from.map(str::to_owned),
        body: default_text(SmsKind::PhoneSetup, "Café & Co", CODE, 5),
    }
}

// --- SigV4, by hand (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html)

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug)]
struct Authorization {
    access_key: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse_authorization(value: &str) -> Authorization {
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .unwrap_or_else(|| panic!("not a SigV4 header: {value}"));
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',').map(str::trim) {
        let (k, v) = part.split_once('=').unwrap();
        match k {
            "Credential" => credential = Some(v.to_owned()),
            "SignedHeaders" => signed = Some(v.to_owned()),
            "Signature" => signature = Some(v.to_owned()),
            other => panic!("unexpected {other}"),
        }
    }
    let credential = credential.unwrap();
    let scope: Vec<&str> = credential.split('/').collect();
    assert_eq!(scope.len(), 5, "{credential}");
    assert_eq!(scope[4], "aws4_request");
    Authorization {
        access_key: scope[0].to_owned(),
        date: scope[1].to_owned(),
        region: scope[2].to_owned(),
        service: scope[3].to_owned(),
        signed_headers: signed.unwrap().split(';').map(str::to_owned).collect(),
        signature: signature.unwrap(),
    }
}

/// Collapse runs of spaces and trim, as the canonical header value wants.
fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[allow(clippy::too_many_arguments)]
fn sigv4_signature(
    secret: &str,
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    headers: &[(String, String)],
    signed_headers: &[String],
    body: &[u8],
    amz_date: &str,
    region: &str,
    service: &str,
) -> String {
    let mut canonical_headers = String::new();
    for name in signed_headers {
        let values: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| canonical_value(v))
            .collect();
        assert!(!values.is_empty(), "signed header {name} not sent");
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical_request = format!(
        "{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{}\n{}",
        signed_headers.join(";"),
        hex(&Sha256::digest(body)),
    );
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let key = hmac(format!("AWS4{secret}").as_bytes(), date);
    let key = hmac(&key, region);
    let key = hmac(&key, service);
    let key = hmac(&key, "aws4_request");
    hex(&hmac(&key, &string_to_sign))
}

/// The verifier reproduces the worked example of the AWS documentation.
#[test]
fn the_sigv4_check_matches_the_aws_example() {
    let headers = [
        (
            "content-type".to_owned(),
            "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
        ),
        ("host".to_owned(), "iam.amazonaws.com".to_owned()),
        ("x-amz-date".to_owned(), "20150830T123600Z".to_owned()),
    ];
    let signed = ["content-type", "host", "x-amz-date"].map(str::to_owned);
    assert_eq!(
        sigv4_signature(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "GET",
            "/",
            "Action=ListUsers&Version=2010-05-08",
            &headers,
            &signed,
            b"",
            "20150830T123600Z",
            "us-east-1",
            "iam",
        ),
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );
}

/// Check that `req` is a well-formed SNS `Publish` signed by `AKID`/`SECRET` for `REGION`
/// within the last few minutes; returns its form fields.
fn assert_signed_publish(req: &Recorded) -> Vec<(String, String)> {
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.path, "/");
    assert_eq!(req.query, None);
    assert!(
        req.header("content-type")
            .starts_with("application/x-www-form-urlencoded"),
        "{:?}",
        req.headers
    );
    assert_eq!(req.header("x-amz-security-token"), "");

    let auth = parse_authorization(req.header("authorization"));
    assert_eq!(auth.access_key, AKID);
    assert_eq!(auth.region, REGION);
    assert_eq!(auth.service, "sns");
    for required in ["host", "x-amz-date", "content-type"] {
        assert!(
            auth.signed_headers.iter().any(|h| h == required),
            "{required} not signed: {auth:?}"
        );
    }
    let mut sorted = auth.signed_headers.clone();
    sorted.sort();
    assert_eq!(sorted, auth.signed_headers, "SignedHeaders must be sorted");

    let amz_date = req.header("x-amz-date");
    assert_eq!(&amz_date[..8], auth.date);
    let when = chrono::NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc();
    let skew = (chrono::Utc::now() - when).num_seconds().abs();
    assert!(skew < 300, "x-amz-date {amz_date} is {skew}s away");

    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    let sign = |secret: &str| {
        sigv4_signature(
            secret,
            "POST",
            "/",
            "",
            &headers,
            &auth.signed_headers,
            &req.body,
            amz_date,
            REGION,
            "sns",
        )
    };
    assert_eq!(auth.signature, sign(SECRET), "signature does not verify");
    assert_ne!(auth.signature, sign("another-secret"));

    let form = req.form();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("Action"), Some("Publish"));
    assert_eq!(get("Version"), Some("2010-03-31"));
    assert_eq!(get("TopicArn"), None);
    assert_eq!(get("TargetArn"), None);
    form
}

fn fields(form: &[(String, String)], prefix: &str) -> Vec<(String, String)> {
    form.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .cloned()
        .collect()
}

fn transport_error(err: SmsError) -> Error {
    match err {
        SmsError::Transport(source) => *source.downcast::<Error>().expect("a regstack_sms::Error"),
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[tokio::test]
async fn publishes_a_signed_request_to_the_phone_number() {
    let server = FakeServer::start(published()).await;
    let sns = SnsSms::from_client(client(&server.url));
    let logs = LogBuffer::default();
    let guard = logs.capture();
    sns.send(&message(None)).await.unwrap();
    drop(guard);

    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let form = assert_signed_publish(&seen[0]);
    assert_eq!(
        fields(&form, "PhoneNumber"),
        [("PhoneNumber".into(), "+61491570156".into())]
    );
    assert_eq!(
        fields(&form, "Message"),
        [(
            "Message".into(),
            format!("Café & Co verification code: {CODE}. Expires in 5 minutes.")
        )]
    );
    assert!(
        fields(&form, "MessageAttributes").is_empty(),
        "no sender id without a from number: {form:?}"
    );

    let text = logs.text();
    assert!(text.contains("sms published to sns"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains(CODE), "the code reached a log line:\n{text}");
}

#[tokio::test]
async fn a_from_number_becomes_the_sender_id_attribute() {
    let server = FakeServer::start(published()).await;
    let sns = SnsSms::from_client(client(&server.url));
    sns.send(&message(Some("RegStack"))).await.unwrap();
    sns.send(&message(Some(""))).await.unwrap();

    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    let form = assert_signed_publish(&seen[0]);
    assert_eq!(
        fields(&form, "MessageAttributes"),
        [
            ("MessageAttributes.entry.1.Name", "AWS.SNS.SMS.SenderID"),
            ("MessageAttributes.entry.1.Value.DataType", "String"),
            ("MessageAttributes.entry.1.Value.StringValue", "RegStack"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    let form = assert_signed_publish(&seen[1]);
    assert!(
        fields(&form, "MessageAttributes").is_empty(),
        "an empty from number is no sender id"
    );
}

#[tokio::test]
async fn a_refusal_carries_status_code_and_message() {
    let server = FakeServer::start(Reply {
        status: StatusCode::BAD_REQUEST,
        content_type: "text/xml",
        body: r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
  <Error><Type>Sender</Type><Code>InvalidParameter</Code>
    <Message>Invalid parameter: PhoneNumber Reason: +61491570156 is not valid to publish to</Message>
  </Error>
  <RequestId>f7ecc0d5-4fa5-5a8a-b4d0-3f2d1d0a0c11</RequestId>
</ErrorResponse>"#
            .into(),
        delay: Duration::ZERO,
    })
    .await;
    let sns = SnsSms::from_client(client(&server.url));
    let err = transport_error(sns.send(&message(None)).await.unwrap_err());
    assert!(
        matches!(&err, Error::Rejected { provider: "sns", status: 400, detail }
            if detail == "InvalidParameter: Invalid parameter: PhoneNumber Reason: +61491570156 is not valid to publish to"),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1, "a client error is not retried");
    assert!(!format!("{err:?}").contains(SECRET));
}

#[tokio::test]
async fn non_e164_recipients_are_refused_before_any_request() {
    let server = FakeServer::start(published()).await;
    let sns = SnsSms::from_client(client(&server.url));
    let msg = SmsMessage {
        to: "0491570156".into(),
        ..message(None)
    };
    assert!(matches!(sns.send(&msg).await, Err(SmsError::InvalidNumber)));
    assert!(server.requests().is_empty());
}

#[test]
fn debug_shows_region_and_endpoint_only() {
    let config = SmsConfig {
        backend: SmsBackend::Sns,
        sns_endpoint_url: Some("http://127.0.0.1:9/".into()),
        ..SmsConfig::default()
    };
    let debug = format!("{:?}", SnsSms::from_config(&config));
    assert!(debug.starts_with("SnsSms"), "{debug}");
    assert!(
        debug.contains("eu-west-1") && debug.contains("http://127.0.0.1:9/"),
        "{debug}"
    );
    let debug = format!("{:?}", SnsSms::from_client(client("http://127.0.0.1:9")));
    assert!(debug.contains(REGION) && !debug.contains(SECRET), "{debug}");
}

/// `from_config` end to end: region, endpoint override and the default credential chain
/// (here: the environment). The environment of this process cannot be changed safely, so the
/// send runs in a child process (the ignored test below) with its own environment.
#[tokio::test]
async fn from_config_signs_with_the_default_credential_chain() {
    let server = FakeServer::start(published()).await;
    let exe = std::env::current_exe().unwrap();
    let url = server.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(exe);
        cmd.args([
            "--exact",
            "child_sends_through_from_config",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
        for var in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_SNS",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_ACCESS_KEY_ID", AKID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_CONFIG_FILE", "/nonexistent/regstack-test/config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/regstack-test/credentials",
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("REGSTACK_TEST_SNS_ENDPOINT", url);
        cmd.output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let form = assert_signed_publish(&seen[0]);
    assert_eq!(
        fields(&form, "MessageAttributes.entry.1.Value.StringValue"),
        [(
            "MessageAttributes.entry.1.Value.StringValue".into(),
            "+15550001111".into()
        )]
    );
}

#[tokio::test]
#[ignore = "run in a child process by from_config_signs_with_the_default_credential_chain"]
async fn child_sends_through_from_config() {
    let endpoint = std::env::var("REGSTACK_TEST_SNS_ENDPOINT").expect("run by the parent test");
    let config = SmsConfig {
        backend: SmsBackend::Sns,
        from_number: Some("+15550001111".into()),
        sns_region: REGION.into(),
        sns_endpoint_url: Some(endpoint),
        timeout_seconds: 5,
        ..SmsConfig::default()
    };
    let sns = SnsSms::from_config(&config);
    sns.send(&message(config.from_number.as_deref()))
        .await
        .unwrap();
}
