//! Request extractors that answer malformed input with Fluxer's error bodies instead of axum's text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use fluxer_core::service::{Actor, ClientInfo};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::ratelimit::Authenticated;
use crate::state::ApiState;

/// The authenticated caller: a user session or a bot. An OAuth2 bearer token is refused here with
/// 403 `ACCESS_DENIED` (as upstream): only the routes that take [`ScopedAuth`] accept one.
pub(crate) struct Auth(pub Actor);

impl FromRequestParts<ApiState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let actor = authenticated(parts, state).await?;
        if actor.is_oauth2() {
            return Err(ApiError::from(fluxer_core::Error::forbidden(
                "ACCESS_DENIED",
                "This route does not accept OAuth2 bearer tokens.",
            )));
        }
        Ok(Auth(actor))
    }
}

/// The authenticated caller on a route that also accepts OAuth2 bearer tokens: the use-case it
/// calls checks the token's scopes ([`Actor::require_scope`]).
pub(crate) struct ScopedAuth(pub Actor);

impl FromRequestParts<ApiState> for ScopedAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        authenticated(parts, state).await.map(ScopedAuth)
    }
}

async fn authenticated(parts: &mut Parts, state: &ApiState) -> Result<Actor, ApiError> {
    // The rate limiter authenticated the request already.
    let mut actor = match parts.extensions.remove::<Authenticated>() {
        Some(Authenticated(actor)) => actor,
        None => {
            let header = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(ApiError::unauthorized)?;
            state.fluxer.authenticate(header).await?
        }
    };
    actor.reason = audit_reason(parts);
    Ok(actor)
}

/// `X-Audit-Log-Reason`, which clients percent-encode (UTF-8).
pub(crate) fn audit_reason(parts: &Parts) -> Option<String> {
    let raw = parts.headers.get("x-audit-log-reason")?.as_bytes();
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%'
            && let Some(byte) = raw.get(i + 1..i + 3).and_then(crate::path::decode_pair)
        {
            bytes.push(byte);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    let reason = String::from_utf8_lossy(&bytes).trim().to_owned();
    (!reason.is_empty()).then_some(reason)
}

/// Path parameters; a malformed ID is a 400 naming the parameter.
pub(crate) struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PathParams(p.0))
            .map_err(|e| ApiError::invalid("path", "INVALID_PATH_PARAMETER", e.body_text()))
    }
}

/// Query parameters; malformed values are a 400 `INVALID_FORM_BODY`.
pub(crate) struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded_from_str(query).map(QueryParams)
    }
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::invalid("query", "INVALID_QUERY", "Malformed query string."))?,
    )
    .map(|q| q.0)
    .map_err(|e| ApiError::invalid("query", "INVALID_QUERY", e.body_text()))
}

/// A JSON body. An empty body reads as `{}`; the content type is not required (clients differ);
/// unknown fields are ignored; type errors name the offending field.
pub(crate) struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        "Request body is too large.",
    )
}

/// Reads the whole body within the configured limit.
pub(crate) async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::invalid("body", "INVALID_BODY", e.body_text())
        }
    })
}

/// Parses JSON with field-level errors.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        b"{}"
    } else {
        bytes
    };
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error_lite(de)
}

fn serde_path_to_error_lite<'de, T: DeserializeOwned>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
) -> Result<T, ApiError> {
    let value = T::deserialize(&mut *de).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::invalid("body", "INVALID_JSON", format!("Malformed JSON: {e}"))
        } else {
            let (path, message) = split_serde_message(&e.to_string());
            ApiError::invalid(path, "BASE_TYPE_INVALID", message)
        }
    })?;
    de.end()
        .map_err(|e| ApiError::invalid("body", "INVALID_JSON", format!("Malformed JSON: {e}")))?;
    Ok(value)
}

/// serde_json says "missing field `name` at line 1 column 2" or "invalid type: ... at ..."; pull out the
/// field name where there is one.
fn split_serde_message(msg: &str) -> (String, String) {
    let clean = msg.split(" at line ").next().unwrap_or(msg).to_owned();
    if let Some(rest) = clean.strip_prefix("missing field `")
        && let Some(field) = rest.split('`').next()
    {
        return (field.to_owned(), "This field is required.".to_owned());
    }
    ("body".to_owned(), clean)
}

/// Where the request came from, for session records.
pub(crate) fn client_info(parts_headers: &axum::http::HeaderMap, ip: Option<String>) -> ClientInfo {
    let ua = parts_headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let os = ["Windows", "Mac OS", "Linux", "Android", "iOS"]
        .iter()
        .find(|os| ua.contains(*os))
        .map(|s| (*s).to_owned());
    let browser = [
        "Firefox",
        "Chrome",
        "Safari",
        "Electron",
        "node",
        "DiscordBot",
    ]
    .iter()
    .find(|b| ua.contains(*b))
    .map(|s| (*s).to_owned());
    ClientInfo { ip, os, browser }
}

/// The client's IP address (see [`ClientIp`](crate::ratelimit::ClientIp)), when the server was
/// started with connect info.
pub(crate) struct PeerIp(pub Option<String>);

impl FromRequestParts<ApiState> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        Ok(PeerIp(
            state
                .config
                .client_ip
                .of(&parts.extensions, &parts.headers)
                .map(|ip| ip.to_string()),
        ))
    }
}

/// The country a CDN in front of the server names (`CF-IPCountry`, as upstream reads it), believed
/// only from a trusted proxy: a client cannot pick its own.
pub(crate) struct ProxyCountry(pub Option<String>);

impl FromRequestParts<ApiState> for ProxyCountry {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        if !state.config.client_ip.from_trusted_proxy(&parts.extensions) {
            return Ok(ProxyCountry(None));
        }
        Ok(ProxyCountry(
            parts
                .headers
                .get("cf-ipcountry")
                .and_then(|v| v.to_str().ok())
                .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
                .map(str::to_ascii_uppercase),
        ))
    }
}

/// A message body: JSON, or `multipart/form-data` with a `payload_json` part and files (`files[n]`,
/// as Discord and upstream clients send them). The files' `attachments[n]` entries in the payload
/// (matched by `id` = `n`) give their description and, optionally, a filename.
pub(crate) struct MessageBody<T> {
    pub payload: T,
    pub files: Vec<fluxer_core::service::Upload>,
}

impl<T: DeserializeOwned> FromRequest<crate::state::ApiState> for MessageBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &crate::state::ApiState) -> Result<Self, ApiError> {
        let is_multipart = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
        if !is_multipart {
            // The route's limit is sized for files; a JSON body keeps the general one.
            let bytes = axum::body::to_bytes(req.into_body(), state.config.max_body_bytes)
                .await
                .map_err(|_| too_large())?;
            return Ok(MessageBody {
                payload: parse_json(&bytes)?,
                files: Vec::new(),
            });
        }
        let mut multipart = axum::extract::Multipart::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid("body", "INVALID_BODY", e.body_text()))?;
        let multipart_error = |e: axum::extract::multipart::MultipartError| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::invalid("body", "INVALID_BODY", e.body_text())
            }
        };
        let mut payload = serde_json::Value::Object(Default::default());
        // (index in `files[n]`, client filename, bytes)
        let mut files: Vec<(usize, String, Vec<u8>)> = Vec::new();
        while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
            let name = field.name().unwrap_or("").to_owned();
            if name == "payload_json" {
                let text = field.bytes().await.map_err(multipart_error)?;
                payload = parse_json(&text)?;
                continue;
            }
            let index = if name == "file" || name == "files" {
                Some(files.len())
            } else {
                name.strip_prefix("files[")
                    .or_else(|| name.strip_prefix("file["))
                    .and_then(|rest| rest.strip_suffix(']'))
                    .and_then(|n| n.parse::<usize>().ok())
            };
            match index {
                Some(index) => {
                    let filename = field.file_name().unwrap_or("file").to_owned();
                    let bytes = field.bytes().await.map_err(multipart_error)?;
                    files.push((index, filename, bytes.to_vec()));
                }
                None => {
                    // Plain form fields (`content`, `nonce`, `tts`) some clients send instead of JSON.
                    let text = field.text().await.map_err(multipart_error)?;
                    if let Some(map) = payload.as_object_mut()
                        && !map.contains_key(&name)
                        && matches!(name.as_str(), "content" | "nonce" | "tts" | "username")
                    {
                        let value = match name.as_str() {
                            "tts" => serde_json::Value::Bool(text == "true"),
                            _ => serde_json::Value::String(text),
                        };
                        map.insert(name, value);
                    }
                }
            }
        }
        let described: Vec<serde_json::Value> = payload
            .get("attachments")
            .and_then(|a| a.as_array())
            .cloned()
            .unwrap_or_default();
        let meta = |index: usize| {
            described.iter().find(|a| {
                a.get("id").and_then(|id| {
                    id.as_u64()
                        .or_else(|| id.as_str().and_then(|s| s.parse().ok()))
                }) == Some(index as u64)
            })
        };
        files.sort_by_key(|(index, _, _)| *index);
        let files = files
            .into_iter()
            .map(|(index, client_name, bytes)| {
                let m = meta(index);
                fluxer_core::service::Upload {
                    filename: m
                        .and_then(|m| m.get("filename"))
                        .and_then(|f| f.as_str())
                        .map(str::to_owned)
                        .unwrap_or(client_name),
                    description: m
                        .and_then(|m| m.get("description"))
                        .and_then(|d| d.as_str())
                        .map(str::to_owned),
                    bytes,
                }
            })
            .collect();
        let payload = parse_json(&serde_json::to_vec(&payload).unwrap_or_default())?;
        Ok(MessageBody { payload, files })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Body {
        #[allow(dead_code)]
        name: String,
    }

    #[test]
    fn json_errors_name_fields() {
        let e = parse_json::<Body>(b"{}").unwrap_err();
        assert_eq!(e.code, "INVALID_FORM_BODY");
        assert_eq!(e.errors[0].path, "name");
        let e = parse_json::<Body>(b"{\"name\": 5}").unwrap_err();
        assert_eq!(e.status, 400);
        let e = parse_json::<Body>(b"{not json").unwrap_err();
        assert_eq!(e.errors[0].code, "INVALID_JSON");
        assert!(parse_json::<Body>(b"{\"name\":\"x\",\"extra\":1}").is_ok());
        assert!(parse_json::<Body>(b"{\"name\":\"x\"} trailing").is_err());
    }
}
