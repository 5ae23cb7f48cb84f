//! The admin router (`spec/http-api.md` §2.18): every route requires a superuser.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use regstack_core::admin::AdminPatch;
use regstack_core::{Error, RegStack};
use serde_json::json;

use crate::body::{Fields, JsonBody, Query, Schema, validate};
use crate::error::{ApiError, detail};
use crate::extract::Superuser;
use crate::wire::UserPublic;

type ApiResult = Result<Response, ApiError>;

pub(crate) async fn stats(State(rs): State<RegStack>, _admin: Superuser) -> ApiResult {
    let s = rs.admin_stats().await?;
    Ok(Json(json!({
        "total_users": s.total_users,
        "active_users": s.active_users,
        "verified_users": s.verified_users,
        "superusers": s.superusers,
        "pending_registrations": s.pending_registrations,
    }))
    .into_response())
}

pub(crate) async fn list_users(
    State(rs): State<RegStack>,
    _admin: Superuser,
    uri: Uri,
) -> ApiResult {
    let mut q = Query::new(uri.query());
    let skip = q.int("skip", 0, 0, None);
    let limit = q.int("limit", 50, 1, Some(200));
    q.finish()?;
    let (users, total) = rs.admin_list_users(skip as u64, limit as u64).await?;
    let items: Vec<UserPublic<'_>> = users.iter().map(UserPublic::from).collect();
    Ok(Json(json!({
        "items": items,
        "total": total,
        "skip": skip,
        "limit": limit,
    }))
    .into_response())
}

pub(crate) async fn get_user(
    State(rs): State<RegStack>,
    _admin: Superuser,
    Path(id): Path<String>,
) -> ApiResult {
    let user = rs.admin_get_user(&id).await?;
    Ok(Json(UserPublic::from(&user)).into_response())
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

pub(crate) async fn patch_user(
    State(rs): State<RegStack>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult {
    let Superuser(_) = admin_from_headers(&rs, &headers).await?;
    let AdminPatchReq(patch) = validate(body)?;
    let user = rs.admin_update_user(&id, patch).await?;
    Ok(Json(UserPublic::from(&user)).into_response())
}

pub(crate) async fn delete_user(
    State(rs): State<RegStack>,
    _admin: Superuser,
    Path(id): Path<String>,
) -> ApiResult {
    let user = rs.admin_delete_user(&id).await?;
    Ok(Json(json!({ "message": format!("User {} deleted.", user.email) })).into_response())
}

pub(crate) async fn resend_verification(
    State(rs): State<RegStack>,
    _admin: Superuser,
    Path(id): Path<String>,
) -> ApiResult {
    match rs.admin_resend_verification(&id).await {
        Ok(user) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "message": format!("Verification email sent to {}.", user.email) })),
        )
            .into_response()),
        Err(Error::NoPasswordSet) => Ok(detail(
            StatusCode::BAD_REQUEST,
            "User has no password (OAuth-only). Verify them directly via the user record instead of resending verification email.",
        )),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn promote_pending(
    State(rs): State<RegStack>,
    _admin: Superuser,
    Path(email): Path<String>,
) -> ApiResult {
    match rs.promote_pending(&email).await {
        Ok(user) => Ok((StatusCode::CREATED, Json(UserPublic::from(&user))).into_response()),
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

/// The superuser check for routes that read a body (authentication runs after JSON parsing).
async fn admin_from_headers(rs: &RegStack, headers: &HeaderMap) -> Result<Superuser, ApiError> {
    let auth = crate::extract::authenticate(rs, headers).await?;
    if !auth.user.is_superuser {
        return Err(Error::NotSuperuser.into());
    }
    Ok(Superuser(auth.user))
}
