//! The API's error responses: every failure becomes Fluxer's JSON error body with the right status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fluxer_core::Error;
use fluxer_core::service::OAuth2Failure;
use fluxer_core::validation::FieldError;
use serde_json::json;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status of the response.
    pub status: StatusCode,
    /// Fluxer's string error code, the body's `code` (`MISSING_PERMISSIONS`, `INVALID_FORM_BODY`).
    pub code: &'static str,
    /// What went wrong, for people: the body's `message`.
    pub message: String,
    /// The broken field rules of an `INVALID_FORM_BODY`, the body's `errors`; left out of the body
    /// when empty.
    pub errors: Vec<FieldError>,
    /// For 429s: seconds until retry, and whether the global limit was hit.
    pub retry_after: Option<(f64, bool)>,
    /// Fields some errors add to the body, as upstream's error `data` ([`Error::details`]):
    /// `has_mfa` on `SUDO_MODE_REQUIRED`, the `ticket` of `IP_AUTHORIZATION_REQUIRED`, `limit` on
    /// `MAX_PACKS`, `required_scope` on `MISSING_OAUTH_SCOPE`, ...
    pub data: serde_json::Map<String, serde_json::Value>,
    /// An OAuth2 protocol error, served in RFC 6749's shape instead of Fluxer's.
    pub oauth2: Option<Box<OAuth2Failure>>,
}

impl ApiError {
    /// An error with this status, code and message, without field errors or retry hint.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            errors: Vec::new(),
            retry_after: None,
            data: serde_json::Map::new(),
            oauth2: None,
        }
    }

    /// 404 `NOT_FOUND` ("404: Not Found"), the answer for an unknown route.
    pub fn not_found() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "404: Not Found")
    }

    /// 405 `METHOD_NOT_ALLOWED`: the route exists, but not for this method.
    pub fn method_not_allowed() -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "405: Method Not Allowed",
        )
    }

    /// 401 `UNAUTHORIZED` ("401: Unauthorized"): missing or invalid credentials.
    pub fn unauthorized() -> Self {
        ApiError::from(Error::Unauthorized)
    }

    /// A malformed request body or parameter, as a one-field `INVALID_FORM_BODY`.
    pub fn invalid(
        path: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ApiError::from(Error::field(path, code, message))
    }

    /// 413 `PAYLOAD_TOO_LARGE`: the request body is over `limit` bytes (named in the message).
    pub fn payload_too_large(limit: usize) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("Request body exceeds the limit of {limit} bytes."),
        )
    }

    /// 500 `INTERNAL_SERVER_ERROR`, with a message that reveals nothing about the cause.
    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "Internal server error.",
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // An unavailable feature is a deliberate answer (503 with its code), not a failure.
        if !e.is_client_error() && !matches!(e, Error::Unavailable { .. }) {
            // The detail is for operators only.
            tracing::error!(error = %fluxer_core::error::chain(&e), "request failed");
            return ApiError::internal();
        }
        let message = match &e {
            Error::InvalidForm(_) => "Invalid form body".to_owned(),
            Error::Unknown(_) => e.to_string().replacen("unknown", "Unknown", 1),
            Error::MissingPermissions => "Missing permissions".to_owned(),
            Error::MissingAccess => "Missing access".to_owned(),
            Error::Unauthorized => "401: Unauthorized".to_owned(),
            Error::InvalidCredentials => "Login or password is invalid.".to_owned(),
            Error::InvalidMfaCode => "Invalid two-factor code.".to_owned(),
            other => other.to_string(),
        };
        let retry_after = match e {
            Error::RateLimited {
                retry_after_ms,
                global,
            } => Some((retry_after_ms as f64 / 1000.0, global)),
            Error::TooSoon { retry_after_ms, .. } => Some((retry_after_ms as f64 / 1000.0, false)),
            Error::SlowmodeRateLimited { retry_after_ms } => {
                Some((retry_after_ms as f64 / 1000.0, false))
            }
            _ => None,
        };
        let code = e.code();
        let data = match e.details() {
            Some(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        let oauth2 = match &e {
            Error::OAuth2(failure) => Some(Box::new(failure.clone())),
            _ => None,
        };
        let errors = match e {
            Error::InvalidForm(errors) => errors,
            Error::InvalidCredentials => vec![
                FieldError::new("email", "INVALID_LOGIN", "Login or password is invalid."),
                FieldError::new("password", "INVALID_LOGIN", "Login or password is invalid."),
            ],
            Error::InvalidMfaCode => vec![FieldError::new(
                "code",
                "INVALID_MFA_CODE",
                "Invalid two-factor code.",
            )],
            _ => Vec::new(),
        };
        ApiError {
            status,
            code,
            message,
            errors,
            retry_after,
            data,
            oauth2,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(failure) = self.oauth2 {
            let body = json!({
                "error": failure.error.as_str(),
                "error_description": failure.description,
            });
            let mut response = (self.status, axum::Json(body)).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if self.status == StatusCode::UNAUTHORIZED {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"fluxer\""),
                );
            }
            return response;
        }
        let mut body = json!({ "code": self.code, "message": self.message });
        if !self.errors.is_empty() {
            body["errors"] = serde_json::to_value(&self.errors).unwrap_or_default();
        }
        if let Some((secs, global)) = self.retry_after {
            body["retry_after"] = json!(secs);
            body["global"] = json!(global);
        }
        if let Some(fields) = body.as_object_mut() {
            fields.extend(self.data);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some((secs, global)) = self.retry_after {
            let headers = response.headers_mut();
            let whole = secs.ceil().max(1.0) as u64;
            if let Ok(v) = HeaderValue::from_str(&whole.to_string()) {
                headers.insert(header::RETRY_AFTER, v);
            }
            if global {
                headers.insert("x-ratelimit-global", HeaderValue::from_static("true"));
            }
        }
        response
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_feature_keeps_its_status_and_code() {
        let e = ApiError::from(Error::Unavailable {
            code: "SEARCH_UNAVAILABLE",
            message: "Search is not enabled on this instance.".to_owned(),
        });
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code, "SEARCH_UNAVAILABLE");
        let internal = ApiError::from(Error::Internal("detail".to_owned()));
        assert_eq!(internal.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(internal.message, "Internal server error.");
    }
}
