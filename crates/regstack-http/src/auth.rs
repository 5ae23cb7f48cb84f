//! Bearer authentication as every front end does it.

use http::HeaderMap;
use http::header::AUTHORIZATION;
use regstack_core::flows::Authenticated;
use regstack_core::{AuthFailure, RegStack};

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

/// Authenticate the request's bearer token (the 401s of regstack 0.9.3 on failure).
pub async fn authenticate(rs: &RegStack, headers: &HeaderMap) -> Result<Authenticated, ApiError> {
    let token = bearer_token(headers)?;
    Ok(rs.authenticate(token).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

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
