//! `/admin/bans/{ip,email,phone}/{add,remove,check,list}`: instance-wide bans.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use fluxer_core::model::InstanceBanKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminAuth;
use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::routes::no_content;
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/bans/ip/add", post(add::<Ip>))
        .route("/admin/bans/ip/remove", post(remove::<Ip>))
        .route("/admin/bans/ip/check", post(check::<Ip>))
        .route("/admin/bans/ip/list", post(list::<Ip>))
        .route("/admin/bans/email/add", post(add::<Email>))
        .route("/admin/bans/email/remove", post(remove::<Email>))
        .route("/admin/bans/email/check", post(check::<Email>))
        .route("/admin/bans/email/list", post(list::<Email>))
        .route("/admin/bans/phone/add", post(add::<Phone>))
        .route("/admin/bans/phone/remove", post(remove::<Phone>))
        .route("/admin/bans/phone/check", post(check::<Phone>))
        .route("/admin/bans/phone/list", post(list::<Phone>))
}

/// What a route bans: each kind has its own four routes, served by the same handlers.
trait Kind: Send + 'static {
    const KIND: InstanceBanKind;
}

struct Ip;
struct Email;
struct Phone;

impl Kind for Ip {
    const KIND: InstanceBanKind = InstanceBanKind::Ip;
}
impl Kind for Email {
    const KIND: InstanceBanKind = InstanceBanKind::Email;
}
impl Kind for Phone {
    const KIND: InstanceBanKind = InstanceBanKind::Phone;
}

/// `{ip}`, `{email}` or `{phone}`: one of them, by the route's kind.
#[derive(Deserialize)]
struct BanValue {
    #[serde(default)]
    ip: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

impl BanValue {
    fn of(self, kind: InstanceBanKind) -> ApiResult<String> {
        let value = match kind {
            InstanceBanKind::Ip => self.ip,
            InstanceBanKind::Email => self.email,
            InstanceBanKind::Phone => self.phone,
            _ => None,
        };
        value.filter(|v| v.len() <= 320).ok_or_else(|| {
            crate::error::ApiError::invalid(
                kind.as_str(),
                "BASE_TYPE_REQUIRED",
                "This field is required (at most 320 characters).",
            )
        })
    }
}

#[derive(Deserialize)]
struct ListBans {
    #[serde(default)]
    limit: Option<u32>,
}

async fn add<K: Kind>(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(body): JsonBody<BanValue>,
) -> ApiResult<StatusCode> {
    let kind = K::KIND;
    let value = body.of(kind)?;
    s.fluxer.add_instance_ban(&auth.0, kind, &value).await?;
    Ok(no_content())
}

async fn remove<K: Kind>(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(body): JsonBody<BanValue>,
) -> ApiResult<StatusCode> {
    let kind = K::KIND;
    let value = body.of(kind)?;
    s.fluxer.remove_instance_ban(&auth.0, kind, &value).await?;
    Ok(no_content())
}

async fn check<K: Kind>(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(body): JsonBody<BanValue>,
) -> ApiResult<Json<Value>> {
    let kind = K::KIND;
    let value = body.of(kind)?;
    let banned = s.fluxer.check_instance_ban(&auth.0, kind, &value).await?;
    Ok(Json(json!({ "banned": banned })))
}

async fn list<K: Kind>(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(body): JsonBody<ListBans>,
) -> ApiResult<Json<Value>> {
    let kind = K::KIND;
    let bans = s
        .fluxer
        .list_instance_bans(&auth.0, kind, body.limit)
        .await?;
    let bans: Vec<Value> = bans
        .into_iter()
        .map(|b| match kind {
            // No reverse DNS lookups: the server makes no outbound requests for this.
            InstanceBanKind::Ip => json!({ "ip": b.value, "reverse_dns": null }),
            _ => Value::String(b.value),
        })
        .collect();
    Ok(Json(json!({ "bans": bans })))
}
