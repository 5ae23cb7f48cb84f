//! The admin routes (regstack 0.9.3's admin router): every route requires a superuser.

use http::{HeaderMap, StatusCode};
use regstack_core::admin::AdminPatch;
use regstack_core::{Error, RegStack, User};
use serde_json::json;

use crate::Request;
use crate::body::{Fields, Query, Schema, validate};
use crate::error::ApiError;
use crate::reply::{Reply, detail, json as reply_json, ok};
use crate::wire::UserPublic;

type ApiResult = Result<Reply, ApiError>;

/// The superuser of the request, or the 401 / 403 answer.
pub async fn superuser(rs: &RegStack, headers: &HeaderMap) -> Result<User, ApiError> {
    let auth = crate::auth::authenticate(rs, headers).await?;
    if !auth.user.is_superuser {
        return Err(Error::NotSuperuser.into());
    }
    Ok(auth.user)
}

pub(crate) async fn stats(req: Request) -> ApiResult {
    let rs = &req.rs;
    let auth = crate::auth::authenticate(rs, &req.headers).await?;
    let admin = rs.admin(&auth)?;
    let s = admin.stats().await?;
    Ok(ok(&json!({
        "total_users": s.total_users,
        "active_users": s.active_users,
        "verified_users": s.verified_users,
        "superusers": s.superusers,
        "pending_registrations": s.pending_registrations,
    })))
}

pub(crate) async fn list_users(req: Request) -> ApiResult {
    let rs = &req.rs;
    let auth = crate::auth::authenticate(rs, &req.headers).await?;
    let admin = rs.admin(&auth)?;
    let mut q = Query::new(req.query.as_deref());
    let skip = q.int("skip", 0, 0, None);
    let limit = q.int("limit", 50, 1, Some(200));
    q.finish()?;
    let (users, total) = admin.list_users(skip as u64, limit as u64).await?;
    let items: Vec<UserPublic<'_>> = users.iter().map(UserPublic::from).collect();
    Ok(ok(&json!({
        "items": items,
        "total": total,
        "skip": skip,
        "limit": limit,
    })))
}

pub(crate) async fn get_user(req: Request) -> ApiResult {
    let rs = &req.rs;
    let auth = crate::auth::authenticate(rs, &req.headers).await?;
    let admin = rs.admin(&auth)?;
    let user = admin.get_user(req.param("user_id")).await?;
    Ok(ok(&UserPublic::from(&user)))
}

struct AdminPatchReq(AdminPatch);

impl Schema for AdminPatchReq {
    const FIELDS: &'static [&'static str] = &["is_active", "is_superuser", "full_name"];
    fn read(f: &mut Fields<'_>) -> Option<Self> {
        let is_active = f.optional_bool("is_active");
        let is_superuser = f.optional_bool("is_superuser");
        let full_name = f.full_name("full_name");
        Some(Self(AdminPatch {
            is_active: is_active?,
            is_superuser: is_superuser?,
            full_name: full_name?.flatten(),
        }))
    }
}

pub(crate) async fn patch_user(req: Request) -> ApiResult {
    let rs = &req.rs;
    let auth = crate::auth::authenticate(rs, &req.headers).await?;
    let admin = rs.admin(&auth)?;
    let id = req.param("user_id").to_owned();
    let AdminPatchReq(patch) = validate(req.body)?;
    let user = admin.update_user(&id, patch).await?;
    Ok(ok(&UserPublic::from(&user)))
}

pub(crate) async fn delete_user(req: Request) -> ApiResult {
    let rs = &req.rs;
    let auth = crate::auth::authenticate(rs, &req.headers).await?;
    let admin = rs.admin(&auth)?;
    let user = admin.delete_user(req.param("user_id")).await?;
    Ok(ok(
        &json!({ "message": format!("User {} deleted.", user.email) }),
    ))
}

pub(crate) async fn resend_verification(req: Request) -> ApiResult {
    let rs = &req.rs;
    let auth = crate::auth::authenticate(rs, &req.headers).await?;
    let admin = rs.admin(&auth)?;
    match admin.resend_verification(req.param("user_id")).await {
        Ok(user) => Ok(reply_json(
            StatusCode::ACCEPTED,
            &json!({ "message": format!("Verification email sent to {}.", user.email) }),
        )),
        Err(Error::NoPasswordSet) => Ok(detail(
            StatusCode::BAD_REQUEST,
            "User has no password (OAuth-only). Verify them directly via the user record instead of resending verification email.",
        )),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn promote_pending(req: Request) -> ApiResult {
    let rs = &req.rs;
    let auth = crate::auth::authenticate(rs, &req.headers).await?;
    let admin = rs.admin(&auth)?;
    let email = req.param("email");
    match admin.promote_pending(email).await {
        Ok(user) => Ok(reply_json(StatusCode::CREATED, &UserPublic::from(&user))),
        Err(Error::PendingNotFound) => Ok(detail(
            StatusCode::NOT_FOUND,
            format!("No pending registration for {email}."),
        )),
        Err(Error::EmailAlreadyRegistered) => Ok(detail(
            StatusCode::CONFLICT,
            format!("A user with email {email} already exists."),
        )),
        Err(e) => Err(e.into()),
    }
}
