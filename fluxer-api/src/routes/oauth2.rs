//! The OAuth2 provider: consent, the token, revocation and introspection endpoints (forms, client
//! authentication by HTTP Basic or body, RFC 6749 error bodies), what a bearer token sees, the
//! user's authorizations, and the application routes that serve OAuth2 clients.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use base64::Engine as _;
use fluxer_core::id::ApplicationId;
use fluxer_core::model::{
    ApplicationResponse, BotUser, ConsentRedirect, Introspection, OAuth2Authorization, OAuth2Me,
    OAuth2User, PublicApplication,
};
use fluxer_core::service::{
    AuthorizeConsent, BotProfileUpdate, ClientCredentials, SudoProof, TokenRequest,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::no_content;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, JsonBody, PathParams, ScopedAuth, parse_json, read_body};
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/oauth2/authorize/consent", post(consent))
        .route("/oauth2/token", post(token))
        .route("/oauth2/token/revoke", post(revoke))
        .route("/oauth2/introspect", post(introspect))
        .route("/oauth2/userinfo", get(userinfo))
        .route("/oauth2/@me", get(me))
        .route("/oauth2/@me/authorizations", get(authorizations))
        .route(
            "/oauth2/@me/authorizations/{application_id}",
            delete(deauthorize),
        )
        .route(
            "/oauth2/applications/{application_id}/client-secret/reset",
            post(reset_client_secret),
        )
        .route(
            "/oauth2/applications/{application_id}/public",
            get(public_application),
        )
        .route(
            "/oauth2/applications/{application_id}/bot",
            patch(update_bot),
        )
}

/// A form body (`application/x-www-form-urlencoded`, what OAuth2 clients send), or JSON when the
/// content type says so. A parameter given twice is refused (RFC 6749 section 3.2).
struct FormBody(serde_json::Value);

impl FromRequest<ApiState> for FormBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
        let bytes: Bytes = read_body(req, state).await?;
        if is_json {
            return parse_json(&bytes).map(FormBody);
        }
        let mut map = serde_json::Map::new();
        for (key, value) in form_urlencoded::parse(&bytes) {
            if map
                .insert(key.clone().into_owned(), value.into_owned().into())
                .is_some()
            {
                return Err(ApiError::invalid(
                    key.into_owned(),
                    "DUPLICATE_PARAMETER",
                    "A parameter may be given once.",
                ));
            }
        }
        Ok(FormBody(serde_json::Value::Object(map)))
    }
}

impl FormBody {
    fn get<T: DeserializeOwned>(&self) -> ApiResult<T> {
        let bytes = serde_json::to_vec(&self.0).map_err(|_| ApiError::internal())?;
        parse_json(&bytes)
    }
}

#[derive(Deserialize, Default)]
struct ClientForm {
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The client's credentials: `Authorization: Basic` (RFC 6749 section 2.3.1: each part
/// form-urlencoded, then base64), else the `client_id` and `client_secret` parameters.
fn client_credentials(headers: &HeaderMap, form: &FormBody) -> ApiResult<ClientCredentials> {
    let body: ClientForm = form.get()?;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
        })
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode = |s: &str| {
                form_urlencoded::parse(format!("v={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Some((decode(id), decode(secret)))
        });
    Ok(match basic {
        Some((id, secret)) => ClientCredentials {
            client_id: Some(id).filter(|i| !i.is_empty()).or(body.client_id),
            client_secret: Some(secret)
                .filter(|s| !s.is_empty())
                .or(body.client_secret),
            basic_auth: true,
        },
        None => ClientCredentials {
            client_id: body.client_id,
            client_secret: body.client_secret,
            basic_auth: false,
        },
    })
}

/// RFC 6749 section 5.1: token responses are not to be cached.
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn consent(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    JsonBody(req): JsonBody<AuthorizeConsent>,
) -> ApiResult<Json<ConsentRedirect>> {
    Ok(Json(s.fluxer.authorize_consent(&actor, req).await?))
}

async fn token(
    State(s): State<ApiState>,
    headers: HeaderMap,
    form: FormBody,
) -> ApiResult<Response> {
    let client = client_credentials(&headers, &form)?;
    let req: TokenRequest = form.get()?;
    let issued = s.fluxer.exchange_oauth2_token(&client, req).await?;
    Ok(no_store(Json(issued).into_response()))
}

#[derive(Deserialize)]
struct TokenForm {
    token: String,
    token_type_hint: Option<String>,
}

fn token_form(form: &FormBody) -> ApiResult<TokenForm> {
    let t: TokenForm = form.get()?;
    if t.token.is_empty() {
        return Err(ApiError::invalid(
            "token",
            "BASE_TYPE_REQUIRED",
            "This field is required.",
        ));
    }
    Ok(t)
}

async fn revoke(
    State(s): State<ApiState>,
    headers: HeaderMap,
    form: FormBody,
) -> ApiResult<StatusCode> {
    let client = client_credentials(&headers, &form)?;
    let t = token_form(&form)?;
    s.fluxer
        .revoke_oauth2_token(&client, &t.token, t.token_type_hint.as_deref())
        .await?;
    Ok(StatusCode::OK)
}

async fn introspect(
    State(s): State<ApiState>,
    headers: HeaderMap,
    form: FormBody,
) -> ApiResult<Response> {
    let client = client_credentials(&headers, &form)?;
    let t = token_form(&form)?;
    let found: Introspection = s.fluxer.introspect_oauth2_token(&client, &t.token).await?;
    Ok(no_store(Json(found).into_response()))
}

async fn userinfo(
    State(s): State<ApiState>,
    ScopedAuth(actor): ScopedAuth,
) -> ApiResult<Json<OAuth2User>> {
    Ok(Json(s.fluxer.oauth2_userinfo(&actor)?))
}

async fn me(State(s): State<ApiState>, ScopedAuth(actor): ScopedAuth) -> ApiResult<Json<OAuth2Me>> {
    Ok(Json(s.fluxer.oauth2_me(&actor).await?))
}

async fn authorizations(
    State(s): State<ApiState>,
    Auth(actor): Auth,
) -> ApiResult<Json<Vec<OAuth2Authorization>>> {
    Ok(Json(s.fluxer.list_oauth2_authorizations(&actor).await?))
}

async fn deauthorize(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ApplicationId>,
) -> ApiResult<StatusCode> {
    s.fluxer.delete_oauth2_authorization(&actor, id).await?;
    Ok(no_content())
}

async fn reset_client_secret(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ApplicationId>,
    JsonBody(sudo): JsonBody<SudoProof>,
) -> ApiResult<Json<ApplicationResponse>> {
    Ok(Json(s.fluxer.reset_client_secret(&actor, id, &sudo).await?))
}

async fn public_application(
    State(s): State<ApiState>,
    PathParams(id): PathParams<ApplicationId>,
) -> ApiResult<Json<PublicApplication>> {
    Ok(Json(s.fluxer.public_application(id).await?))
}

async fn update_bot(
    State(s): State<ApiState>,
    Auth(actor): Auth,
    PathParams(id): PathParams<ApplicationId>,
    JsonBody(req): JsonBody<BotProfileUpdate>,
) -> ApiResult<Json<BotUser>> {
    Ok(Json(s.fluxer.update_bot_profile(&actor, id, req).await?))
}
