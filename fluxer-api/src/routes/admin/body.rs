//! The body of a content admin route, read whole (within the body limit) but parsed only after the
//! caller's ACL is checked: a caller without the ACL gets 403 `MISSING_ACL` whatever it sent, as
//! upstream's `requireAdminACL` runs before validation.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::AdminAuth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_json, read_body};

/// A request body not yet parsed.
pub(super) struct RawBody(pub(super) Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        read_body(req, state).await.map(RawBody)
    }
}

impl RawBody {
    /// Checks `acl`, then parses the body as `T` (field-level errors, as every JSON route).
    pub(super) fn parse_for<T: DeserializeOwned>(
        &self,
        auth: &AdminAuth,
        acl: &str,
    ) -> ApiResult<T> {
        auth.require(acl)?;
        parse_json(&self.0)
    }
}
