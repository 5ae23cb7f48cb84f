//! The handlers of the JSON API. Each one authenticates where the route asks, validates its
//! body, counts the request in the route's rate limit, calls one core flow and renders the
//! outcome; no business rule lives here. Front ends reach them through [`crate::dispatch`].

use http::StatusCode;
use regstack_core::flows::{LoginOutcome, RegisterInput, Registered};
use regstack_core::{EmailAddress, NewPassword};
use serde_json::json;

use crate::Request;
use crate::auth::authenticate;
use crate::body::{Fields, Schema, validate};
use crate::error::ApiError;
use crate::reply::{Reply, json as reply_json, no_store, ok};
use crate::wire::{MessageResponse, TokenResponse, UserPublic, isoformat};

type ApiResult = Result<Reply, ApiError>;

struct RegisterReq {
    email: EmailAddress,
    password: NewPassword,
    full_name: Option<String>,
}

impl Schema for RegisterReq {
    const FIELDS: &'static [&'static str] = &["email", "password", "full_name"];
    fn read(f: &mut Fields<'_>) -> Option<Self> {
        let email = f.email("email");
        let password = f.new_password("password");
        let full_name = f.full_name("full_name");
        Some(Self {
            email: email?,
            password: password?,
            full_name: full_name?.flatten(),
        })
    }
}

pub(crate) async fn register(req: Request) -> ApiResult {
    let Request {
        rs, body, rate: rl, ..
    } = req;
    let req: RegisterReq = validate(body)?;
    rl.check()?;
    let outcome = rs
        .register(RegisterInput {
            email: req.email,
            password: req.password,
            full_name: req.full_name,
        })
        .await?;
    Ok(match outcome {
        Registered::Pending { email, expires_at } => reply_json(
            StatusCode::CREATED,
            &json!({
                "status": "pending_verification",
                "email": email,
                "expires_at": isoformat(&expires_at),
            }),
        ),
        Registered::Created(user) => reply_json(StatusCode::CREATED, &UserPublic::from(&user)),
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

pub(crate) async fn verify(req: Request) -> ApiResult {
    let Request {
        rs, body, rate: rl, ..
    } = req;
    let req: TokenReq = validate(body)?;
    rl.check()?;
    let user = rs.verify(&req.token).await?;
    Ok(ok(&UserPublic::from(&user)))
}

struct EmailReq {
    email: EmailAddress,
}

impl Schema for EmailReq {
    const FIELDS: &'static [&'static str] = &["email"];
    fn read(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            email: f.email("email")?,
        })
    }
}

pub(crate) async fn resend_verification(req: Request) -> ApiResult {
    let Request {
        rs, body, rate: rl, ..
    } = req;
    let req: EmailReq = validate(body)?;
    rl.check()?;
    rs.resend_verification(req.email);
    Ok(reply_json(
        StatusCode::ACCEPTED,
        &MessageResponse {
            message: "If a pending registration exists, a new email has been sent.",
        },
    ))
}

struct LoginReq {
    email: EmailAddress,
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

fn token_response(access_token: String, expires_in: i64) -> Reply {
    no_store(ok(&TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in,
    }))
}

pub(crate) async fn login(req: Request) -> ApiResult {
    let Request {
        rs, body, rate: rl, ..
    } = req;
    let req: LoginReq = validate(body)?;
    rl.check()?;
    Ok(match rs.login(&req.email, &req.password).await? {
        LoginOutcome::Token(t) => token_response(t.access_token, t.expires_in),
        LoginOutcome::MfaRequired {
            mfa_pending_token,
            expires_in,
        } => no_store(ok(&json!({
            "status": "mfa_required",
            "mfa_pending_token": mfa_pending_token,
            "expires_in": expires_in,
            "delivery": "sms",
        }))),
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

pub(crate) async fn login_mfa_confirm(req: Request) -> ApiResult {
    let Request {
        rs, body, rate: rl, ..
    } = req;
    let req: MfaConfirmReq = validate(body)?;
    rl.check()?;
    let t = rs
        .login_mfa_confirm(&req.mfa_pending_token, &req.code)
        .await?;
    Ok(token_response(t.access_token, t.expires_in))
}

pub(crate) async fn logout(req: Request) -> ApiResult {
    let Request { rs, headers, .. } = req;
    let auth = authenticate(&rs, &headers).await?;
    rs.logout(&auth).await?;
    Ok(ok(&MessageResponse {
        message: "Logged out.",
    }))
}

pub(crate) async fn me(req: Request) -> ApiResult {
    let auth = authenticate(&req.rs, &req.headers).await?;
    Ok(ok(&UserPublic::from(&auth.user)))
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

pub(crate) async fn patch_me(req: Request) -> ApiResult {
    let Request {
        rs, headers, body, ..
    } = req;
    let auth = authenticate(&rs, &headers).await?;
    let req: ProfileReq = validate(body)?;
    let user = rs.update_profile(&auth.user, req.full_name).await?;
    Ok(ok(&UserPublic::from(&user)))
}

struct ChangePasswordReq {
    current_password: String,
    new_password: NewPassword,
}

impl Schema for ChangePasswordReq {
    const FIELDS: &'static [&'static str] = &["current_password", "new_password"];
    fn read(f: &mut Fields<'_>) -> Option<Self> {
        let current = f.string("current_password");
        let new = f.new_password("new_password");
        Some(Self {
            current_password: current?,
            new_password: new?,
        })
    }
}

pub(crate) async fn change_password(req: Request) -> ApiResult {
    let Request {
        rs,
        headers,
        body,
        rate: rl,
        ..
    } = req;
    let auth = authenticate(&rs, &headers).await?;
    let req: ChangePasswordReq = validate(body)?;
    rl.check()?;
    rs.change_password(&auth.user, &req.current_password, &req.new_password)
        .await?;
    Ok(ok(&MessageResponse {
        message: "Password changed. Existing sessions have been signed out.",
    }))
}

struct ChangeEmailReq {
    new_email: EmailAddress,
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

pub(crate) async fn change_email(req: Request) -> ApiResult {
    let Request {
        rs,
        headers,
        body,
        rate: rl,
        ..
    } = req;
    let auth = authenticate(&rs, &headers).await?;
    let req: ChangeEmailReq = validate(body)?;
    rl.check()?;
    rs.request_email_change(&auth.user, &req.new_email, &req.current_password)
        .await?;
    Ok(reply_json(
        StatusCode::ACCEPTED,
        &MessageResponse {
            message: "If the address is available, a confirmation link has been sent. Check your email.",
        },
    ))
}

pub(crate) async fn confirm_email_change(req: Request) -> ApiResult {
    let Request {
        rs, body, rate: rl, ..
    } = req;
    let req: TokenReq = validate(body)?;
    rl.check()?;
    let user = rs.confirm_email_change(&req.token).await?;
    Ok(ok(&UserPublic::from(&user)))
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

pub(crate) async fn delete_account(req: Request) -> ApiResult {
    let Request {
        rs,
        headers,
        body,
        rate: rl,
        ..
    } = req;
    let auth = authenticate(&rs, &headers).await?;
    let req: CurrentPasswordReq = validate(body)?;
    rl.check()?;
    rs.delete_account(&auth.user, &req.current_password).await?;
    Ok(ok(&MessageResponse {
        message: "Account deleted.",
    }))
}

pub(crate) async fn forgot_password(req: Request) -> ApiResult {
    let Request {
        rs, body, rate: rl, ..
    } = req;
    let req: EmailReq = validate(body)?;
    rl.check()?;
    rs.forgot_password(req.email)?;
    Ok(reply_json(
        StatusCode::ACCEPTED,
        &MessageResponse {
            message: "If the address matches an active account, a reset link has been sent. Check your email.",
        },
    ))
}

struct ResetPasswordReq {
    token: String,
    new_password: NewPassword,
}

impl Schema for ResetPasswordReq {
    const FIELDS: &'static [&'static str] = &["token", "new_password"];
    fn read(f: &mut Fields<'_>) -> Option<Self> {
        let token = f.string("token");
        let new = f.new_password("new_password");
        Some(Self {
            token: token?,
            new_password: new?,
        })
    }
}

pub(crate) async fn reset_password(req: Request) -> ApiResult {
    let Request {
        rs, body, rate: rl, ..
    } = req;
    let req: ResetPasswordReq = validate(body)?;
    rl.check()?;
    rs.reset_password(&req.token, &req.new_password).await?;
    Ok(ok(&MessageResponse {
        message: "Password has been reset. Please sign in.",
    }))
}

/// Run the handler of `endpoint`.
pub(crate) async fn run(endpoint: crate::Endpoint, req: Request) -> ApiResult {
    use crate::Endpoint as E;
    use crate::admin;
    match endpoint {
        E::Register => register(req).await,
        E::Verify => verify(req).await,
        E::ResendVerification => resend_verification(req).await,
        E::Login => login(req).await,
        E::LoginMfaConfirm => login_mfa_confirm(req).await,
        E::Logout => logout(req).await,
        E::Me => me(req).await,
        E::PatchMe => patch_me(req).await,
        E::ChangePassword => change_password(req).await,
        E::ChangeEmail => change_email(req).await,
        E::ConfirmEmailChange => confirm_email_change(req).await,
        E::DeleteAccount => delete_account(req).await,
        E::ForgotPassword => forgot_password(req).await,
        E::ResetPassword => reset_password(req).await,
        E::AdminStats => admin::stats(req).await,
        E::AdminListUsers => admin::list_users(req).await,
        E::AdminGetUser => admin::get_user(req).await,
        E::AdminPatchUser => admin::patch_user(req).await,
        E::AdminDeleteUser => admin::delete_user(req).await,
        E::AdminResendVerification => admin::resend_verification(req).await,
        E::AdminPromotePending => admin::promote_pending(req).await,
    }
}
