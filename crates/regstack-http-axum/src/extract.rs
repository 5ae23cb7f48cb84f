//! Extractors for bearer authentication, usable on a host's own routes:
//! [`CurrentUser`] (401 as the spec says), [`Superuser`] (401/403) and [`OptionalUser`]
//! (the same checks, but "no user" instead of any 401/403). Each asks the store once per
//! extraction: a handler that needs the user twice takes it once.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use regstack_core::flows::Authenticated;
use regstack_core::{AuthFailure, Error, RegStack, User};

use crate::error::ApiError;

/// The bearer token of an `Authorization` header, or why there is none usable.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthFailure> {
    let value = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthFailure::Missing)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthFailure::Missing)?;
    if scheme.is_empty() || token.is_empty() || !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::Missing);
    }
    Ok(token)
}

/// Authenticate the request's bearer token.
pub async fn authenticate(rs: &RegStack, headers: &HeaderMap) -> Result<Authenticated, ApiError> {
    let token = bearer_token(headers)?;
    Ok(rs.authenticate(token).await?)
}

/// The authenticated user; rejects with the 401s of `spec/http-api.md` §1.8.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

/// An authenticated superuser; rejects with 401, or 403 for a non-admin.
#[derive(Debug, Clone)]
pub struct Superuser(pub User);

/// The authenticated user, or `None` where [`CurrentUser`] would reject.
#[derive(Debug, Clone)]
pub struct OptionalUser(pub Option<User>);

impl<S> FromRequestParts<S> for CurrentUser
where
    S: Send + Sync,
    RegStack: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let rs = RegStack::from_ref(state);
        let auth = authenticate(&rs, &parts.headers).await?;
        Ok(CurrentUser(auth.user))
    }
}

impl<S> FromRequestParts<S> for Superuser
where
    S: Send + Sync,
    RegStack: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
        if !user.is_superuser {
            return Err(Error::NotSuperuser.into());
        }
        Ok(Superuser(user))
    }
}

impl<S> FromRequestParts<S> for OptionalUser
where
    S: Send + Sync,
    RegStack: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match CurrentUser::from_request_parts(parts, state).await {
            Ok(CurrentUser(u)) => Ok(OptionalUser(Some(u))),
            Err(ApiError::Core(Error::Auth(_))) => Ok(OptionalUser(None)),
            Err(other) => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(&HeaderMap::new()), Err(AuthFailure::Missing));
        assert_eq!(bearer_token(&with("")), Err(AuthFailure::Missing));
        assert_eq!(bearer_token(&with("Bearer")), Err(AuthFailure::Missing));
        assert_eq!(bearer_token(&with("Bearer ")), Err(AuthFailure::Missing));
        assert_eq!(bearer_token(&with("Basic abc")), Err(AuthFailure::Missing));
        assert_eq!(bearer_token(&with("bEaReR abc")), Ok("abc"));
        assert_eq!(bearer_token(&with("Bearer  abc")), Ok(" abc"));
    }
}
