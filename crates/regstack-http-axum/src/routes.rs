//! The handlers of the JSON API. Each one validates its body, calls one core flow and renders
//! the outcome; no business rule lives here.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use regstack_core::RegStack;
use regstack_core::flows::{LoginOutcome, RegisterInput, Registered};
use serde_json::json;

use crate::body::{Fields, JsonBody, Schema, validate};
use crate::error::ApiError;
use crate::extract::{CurrentUser, authenticate};
use crate::ratelimit::RateLimit;
use crate::wire::{MessageResponse, TokenResponse, UserPublic, isoformat};

type ApiResult = Result<Response, ApiError>;

struct RegisterReq {
    email: String,
    password: String,
    full_name: Option<String>,
}

impl Schema for RegisterReq {
    const FIELDS: &'static [&'static str] = &["email", "password", "full_name"];
    fn read(f: &mut Fields<'_>) -> Option<Self> {
        let email = f.email("email");
        let password = f.password("password");
        let full_name = f.full_name("full_name");
        Some(Self {
            email: email?,
            password: password?,
            full_name: full_name?.flatten(),
        })
    }
}

pub(crate) async fn register(
    State(rs): State<RegStack>,
    rl: RateLimit,
    body: JsonBody,
) -> ApiResult {
    let req: RegisterReq = validate(body)?;
    rl.check("/register")?;
    let outcome = rs
        .register(RegisterInput {
            email: req.email,
            password: req.password,
            full_name: req.full_name,
        })
        .await?;
    Ok(match outcome {
        Registered::Pending { email, expires_at } => (
            StatusCode::CREATED,
            Json(json!({
                "status": "pending_verification",
                "email": email,
                "expires_at": isoformat(&expires_at),
            })),
        )
            .into_response(),
        Registered::Created(user) => {
            (StatusCode::CREATED, Json(UserPublic::from(&user))).into_response()
        }
    })
}

struct TokenReq {
    token: String,
}

impl Schema for TokenReq {
    const FIELDS: &'static [&'static str] = &["token"];
    fn read(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            token: f.string("token")?,
        })
    }
}

pub(crate) async fn verify(State(rs): State<RegStack>, rl: RateLimit, body: JsonBody) -> ApiResult {
    let req: TokenReq = validate(body)?;
    rl.check("/verify")?;
    let user = rs.verify(&req.token).await?;
    Ok(Json(UserPublic::from(&user)).into_response())
}

struct EmailReq {
    email: String,
}

impl Schema for EmailReq {
    const FIELDS: &'static [&'static str] = &["email"];
    fn read(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            email: f.email("email")?,
        })
    }
}

pub(crate) async fn resend_verification(
    State(rs): State<RegStack>,
    rl: RateLimit,
    body: JsonBody,
) -> ApiResult {
    let req: EmailReq = validate(body)?;
    rl.check("/resend-verification")?;
    rs.resend_verification(req.email);
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageResponse {
            message: "If a pending registration exists, a new email has been sent.",
        }),
    )
        .into_response())
}

struct LoginReq {
    email: String,
    password: String,
}

impl Schema for LoginReq {
    const FIELDS: &'static [&'static str] = &["email", "password"];
    fn read(f: &mut Fields<'_>) -> Option<Self> {
        let email = f.email("email");
        let password = f.password("password");
        Some(Self {
            email: email?,
            password: password?,
        })
    }
}

fn token_response(access_token: String, expires_in: i64) -> Response {
    no_store(
        Json(TokenResponse {
            access_token,
            token_type: "bearer",
            expires_in,
        })
        .into_response(),
    )
}

/// A response carrying a credential: no cache (browser, proxy) may keep it.
fn no_store(mut resp: Response) -> Response {
    let headers = resp.headers_mut();
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        axum::http::header::PRAGMA,
        axum::http::HeaderValue::from_static("no-cache"),
    );
    resp
}

pub(crate) async fn login(State(rs): State<RegStack>, rl: RateLimit, body: JsonBody) -> ApiResult {
    let req: LoginReq = validate(body)?;
    rl.check("/login")?;
    Ok(match rs.login(&req.email, &req.password).await? {
        LoginOutcome::Token(t) => token_response(t.access_token, t.expires_in),
        LoginOutcome::MfaRequired {
            mfa_pending_token,
            expires_in,
        } => no_store(
            Json(json!({
                "status": "mfa_required",
                "mfa_pending_token": mfa_pending_token,
                "expires_in": expires_in,
                "delivery": "sms",
            }))
            .into_response(),
        ),
    })
}

struct MfaConfirmReq {
    mfa_pending_token: String,
    code: String,
}

impl Schema for MfaConfirmReq {
    const FIELDS: &'static [&'static str] = &["mfa_pending_token", "code"];
    fn read(f: &mut Fields<'_>) -> Option<Self> {
        let token = f.string("mfa_pending_token");
        let code = f.string_len("code", 4, 10);
        Some(Self {
            mfa_pending_token: token?,
            code: code?,
        })
    }
}

pub(crate) async fn login_mfa_confirm(
    State(rs): State<RegStack>,
    rl: RateLimit,
    body: JsonBody,
) -> ApiResult {
    let req: MfaConfirmReq = validate(body)?;
    rl.check("/login/mfa-confirm")?;
    let t = rs
        .login_mfa_confirm(&req.mfa_pending_token, &req.code)
        .await?;
    Ok(token_response(t.access_token, t.expires_in))
}

pub(crate) async fn logout(State(rs): State<RegStack>, headers: HeaderMap) -> ApiResult {
    let auth = authenticate(&rs, &headers).await?;
    rs.logout(&auth).await?;
    Ok(Json(MessageResponse {
        message: "Logged out.",
    })
    .into_response())
}

pub(crate) async fn me(CurrentUser(user): CurrentUser) -> Response {
    Json(UserPublic::from(&user)).into_response()
}

struct ProfileReq {
    full_name: Option<Option<String>>,
}

impl Schema for ProfileReq {
    const FIELDS: &'static [&'static str] = &["full_name"];
    fn read(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            full_name: f.full_name("full_name")?,
        })
    }
}

pub(crate) async fn patch_me(
    State(rs): State<RegStack>,
    headers: HeaderMap,
    body: JsonBody,
) -> ApiResult {
    let auth = authenticate(&rs, &headers).await?;
    let req: ProfileReq = validate(body)?;
    let user = rs.update_profile(&auth.user, req.full_name).await?;
    Ok(Json(UserPublic::from(&user)).into_response())
}

/// `GET /healthz`: 200 while the database answers, 503 otherwise.
pub async fn healthz(State(rs): State<RegStack>) -> Response {
    if rs.healthy().await {
        Json(json!({ "status": "ok" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable" })),
        )
            .into_response()
    }
}

struct ChangePasswordReq {
    current_password: String,
    new_password: String,
}

impl Schema for ChangePasswordReq {
    const FIELDS: &'static [&'static str] = &["current_password", "new_password"];
    fn read(f: &mut Fields<'_>) -> Option<Self> {
        let current = f.string("current_password");
        let new = f.password("new_password");
        Some(Self {
            current_password: current?,
            new_password: new?,
        })
    }
}

pub(crate) async fn change_password(
    State(rs): State<RegStack>,
    headers: HeaderMap,
    rl: RateLimit,
    body: JsonBody,
) -> ApiResult {
    let auth = authenticate(&rs, &headers).await?;
    let req: ChangePasswordReq = validate(body)?;
    rl.check("/change-password")?;
    rs.change_password(&auth.user, &req.current_password, &req.new_password)
        .await?;
    Ok(Json(MessageResponse {
        message: "Password changed. Existing sessions have been signed out.",
    })
    .into_response())
}

struct ChangeEmailReq {
    new_email: String,
    current_password: String,
}

impl Schema for ChangeEmailReq {
    const FIELDS: &'static [&'static str] = &["new_email", "current_password"];
    fn read(f: &mut Fields<'_>) -> Option<Self> {
        let email = f.email("new_email");
        let current = f.string("current_password");
        Some(Self {
            new_email: email?,
            current_password: current?,
        })
    }
}

pub(crate) async fn change_email(
    State(rs): State<RegStack>,
    headers: HeaderMap,
    rl: RateLimit,
    body: JsonBody,
) -> ApiResult {
    let auth = authenticate(&rs, &headers).await?;
    let req: ChangeEmailReq = validate(body)?;
    rl.check("/change-email")?;
    rs.request_email_change(&auth.user, &req.new_email, &req.current_password)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageResponse {
            message: "If the address is available, a confirmation link has been sent. Check your email.",
        }),
    )
        .into_response())
}

pub(crate) async fn confirm_email_change(
    State(rs): State<RegStack>,
    rl: RateLimit,
    body: JsonBody,
) -> ApiResult {
    let req: TokenReq = validate(body)?;
    rl.check("/confirm-email-change")?;
    let user = rs.confirm_email_change(&req.token).await?;
    Ok(Json(UserPublic::from(&user)).into_response())
}

struct CurrentPasswordReq {
    current_password: String,
}

impl Schema for CurrentPasswordReq {
    const FIELDS: &'static [&'static str] = &["current_password"];
    fn read(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            current_password: f.string("current_password")?,
        })
    }
}

pub(crate) async fn delete_account(
    State(rs): State<RegStack>,
    headers: HeaderMap,
    rl: RateLimit,
    body: JsonBody,
) -> ApiResult {
    let auth = authenticate(&rs, &headers).await?;
    let req: CurrentPasswordReq = validate(body)?;
    rl.check("/account")?;
    rs.delete_account(&auth.user, &req.current_password).await?;
    Ok(Json(MessageResponse {
        message: "Account deleted.",
    })
    .into_response())
}

pub(crate) async fn forgot_password(
    State(rs): State<RegStack>,
    rl: RateLimit,
    body: JsonBody,
) -> ApiResult {
    let req: EmailReq = validate(body)?;
    rl.check("/forgot-password")?;
    rs.forgot_password(req.email);
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageResponse {
            message: "If the address matches an active account, a reset link has been sent. Check your email.",
        }),
    )
        .into_response())
}

struct ResetPasswordReq {
    token: String,
    new_password: String,
}

impl Schema for ResetPasswordReq {
    const FIELDS: &'static [&'static str] = &["token", "new_password"];
    fn read(f: &mut Fields<'_>) -> Option<Self> {
        let token = f.string("token");
        let new = f.password("new_password");
        Some(Self {
            token: token?,
            new_password: new?,
        })
    }
}

pub(crate) async fn reset_password(
    State(rs): State<RegStack>,
    rl: RateLimit,
    body: JsonBody,
) -> ApiResult {
    let req: ResetPasswordReq = validate(body)?;
    rl.check("/reset-password")?;
    rs.reset_password(&req.token, &req.new_password).await?;
    Ok(Json(MessageResponse {
        message: "Password has been reset. Please sign in.",
    })
    .into_response())
}
