//! Extractors for bearer authentication, usable on a host's own routes:
//! [`CurrentUser`] (401 as regstack 0.9.3 answers), [`Superuser`] (401/403) and
//! [`OptionalUser`] (the same checks, but "no user" instead of any 401/403). Each asks the
//! store once per extraction: a handler that needs the user twice takes it once.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use regstack_core::{Error, RegStack, User};
use regstack_http::ApiError;

/// Why an extractor refused a request: the answer `regstack-http` gives for it.
#[derive(Debug)]
pub struct Rejection(pub ApiError);

impl From<ApiError> for Rejection {
    fn from(e: ApiError) -> Self {
        Rejection(e)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        crate::into_response(self.0.into_reply())
    }
}

/// The authenticated user; rejects with the 401s of regstack 0.9.3.
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
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let rs = RegStack::from_ref(state);
        let auth = regstack_http::auth::authenticate(&rs, &parts.headers).await?;
        Ok(CurrentUser(auth.user))
    }
}

impl<S> FromRequestParts<S> for Superuser
where
    S: Send + Sync,
    RegStack: FromRef<S>,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let rs = RegStack::from_ref(state);
        let user = regstack_http::admin::superuser(&rs, &parts.headers).await?;
        Ok(Superuser(user))
    }
}

impl<S> FromRequestParts<S> for OptionalUser
where
    S: Send + Sync,
    RegStack: FromRef<S>,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match CurrentUser::from_request_parts(parts, state).await {
            Ok(CurrentUser(u)) => Ok(OptionalUser(Some(u))),
            Err(Rejection(ApiError::Core(Error::Auth(_)))) => Ok(OptionalUser(None)),
            Err(other) => Err(other),
        }
    }
}
