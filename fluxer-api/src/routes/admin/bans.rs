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
    let mut router = Router::new();
    for kind in [
        InstanceBanKind::Ip,
        InstanceBanKind::Email,
        InstanceBanKind::Phone,
    ] {
        let base = format!("/admin/bans/{}", kind.as_str());
        router = router
            .route(
                &format!("{base}/add"),
                post(
                    move |s: State<ApiState>, a: AdminAuth, b: JsonBody<BanValue>| {
                        add(s, a, b, kind)
                    },
                ),
            )
            .route(
                &format!("{base}/remove"),
                post(
                    move |s: State<ApiState>, a: AdminAuth, b: JsonBody<BanValue>| {
                        remove(s, a, b, kind)
                    },
                ),
            )
            .route(
                &format!("{base}/check"),
                post(
                    move |s: State<ApiState>, a: AdminAuth, b: JsonBody<BanValue>| {
                        check(s, a, b, kind)
                    },
                ),
            )
            .route(
                &format!("{base}/list"),
                post(
                    move |s: State<ApiState>, a: AdminAuth, b: JsonBody<ListBans>| {
                        list(s, a, b, kind)
                    },
                ),
            );
    }
    router
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

async fn add(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(body): JsonBody<BanValue>,
    kind: InstanceBanKind,
) -> ApiResult<StatusCode> {
    let value = body.of(kind)?;
    s.fluxer.add_instance_ban(&auth.0, kind, &value).await?;
    Ok(no_content())
}

async fn remove(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(body): JsonBody<BanValue>,
    kind: InstanceBanKind,
) -> ApiResult<StatusCode> {
    let value = body.of(kind)?;
    s.fluxer.remove_instance_ban(&auth.0, kind, &value).await?;
    Ok(no_content())
}

async fn check(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(body): JsonBody<BanValue>,
    kind: InstanceBanKind,
) -> ApiResult<Json<Value>> {
    let value = body.of(kind)?;
    let banned = s.fluxer.check_instance_ban(&auth.0, kind, &value).await?;
    Ok(Json(json!({ "banned": banned })))
}

async fn list(
    State(s): State<ApiState>,
    auth: AdminAuth,
    JsonBody(body): JsonBody<ListBans>,
    kind: InstanceBanKind,
) -> ApiResult<Json<Value>> {
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
