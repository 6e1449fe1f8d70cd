//! `/admin/*`: the admin API (upstream's 125 operations, almost all `POST` with JSON bodies).
//!
//! Every handler takes [`AdminAuth`], which authenticates a staff caller (a session token of an
//! account holding `admin:authenticate`, an OAuth2 bearer token with the `admin` scope, or
//! `Authorization: Admin <key>`), then checks its ACL with [`AdminAuth::require`] (403
//! `MISSING_ACL`) and writes what it did with [`AdminAuth::audit`]. Each area is a module whose
//! `routes()` is merged in [`routes`].

mod api_keys;
mod archives;
mod assets;
mod audit_logs;
mod bans;
mod body;
mod bulk;
mod discovery;
mod gateway;
mod guild_ops;
mod guilds;
mod instance_config;
mod limit_config;
mod messages;
mod reports;
mod search;
mod snowflake_reservations;
mod system_dms;
mod user_records;
pub(crate) mod users;
mod voice;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use fluxer_core::service::{AdminAction, AdminPrincipal};

use crate::error::{ApiError, ApiResult};
use crate::extract::audit_reason;
use crate::ratelimit::Authenticated;
use crate::state::ApiState;

/// Every admin route, unprefixed (mounted with the other v1 routes).
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .merge(api_keys::routes())
        .merge(audit_logs::routes())
        .merge(bans::routes())
        .merge(discovery::routes())
        .merge(instance_config::routes())
        .merge(limit_config::routes())
        .merge(users::routes())
        .merge(user_records::routes())
        .merge(guilds::routes())
        .merge(messages::routes())
        .merge(reports::routes())
        .merge(search::routes())
        .merge(snowflake_reservations::routes())
        .merge(gateway::routes())
        .merge(bulk::routes())
        .merge(voice::routes())
        .merge(guild_ops::routes())
        .merge(assets::routes())
        .merge(system_dms::routes())
        .merge(archives::routes())
}

/// A staff caller of the admin API, with its ACLs and the reason it gave
/// (`X-Audit-Log-Reason`). Refuses: no or bad credentials, a bot → 401 `UNAUTHORIZED`; a bearer
/// token without the `admin` scope → 403 `MISSING_OAUTH_ADMIN_SCOPE`; an account without
/// `admin:authenticate` → 403 `MISSING_PERMISSIONS`.
pub(crate) struct AdminAuth(pub AdminPrincipal);

// The other admin areas (guilds, messages, reports, the web panel) build on these; the areas
// here check and log inside their use-cases.
#[allow(dead_code)]
impl AdminAuth {
    /// 403 `MISSING_ACL` unless the caller holds `acl` (see [`AdminPrincipal::require`]).
    pub(crate) fn require(&self, acl: &str) -> ApiResult<()> {
        Ok(self.0.require(acl)?)
    }

    /// Writes `action` to the admin audit log as done by this caller, for its reason.
    pub(crate) async fn audit(&self, state: &ApiState, action: AdminAction) -> ApiResult<()> {
        Ok(state.fluxer.record_admin_action(&self.0, action).await?)
    }
}

impl FromRequestParts<ApiState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let mut principal = match parts.extensions.remove::<Authenticated>() {
            // The rate limiter authenticated a session or bearer token already.
            Some(Authenticated(actor)) => state.fluxer.admin_principal(actor)?,
            None => {
                let header = parts
                    .headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(ApiError::unauthorized)?;
                state.fluxer.authenticate_admin(header).await?
            }
        };
        principal.reason = audit_reason(parts);
        Ok(AdminAuth(principal))
    }
}

/// Refuses every request from a banned IP with 403 `IP_BANNED` (health checks excepted). The
/// bans are read from memory ([`fluxer_core::service::BAN_REFRESH_MS`]), not per request.
pub(crate) async fn refuse_banned_ips(
    axum::extract::State(state): axum::extract::State<ApiState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if matches!(req.uri().path(), "/_health" | "/_live" | "/_ready") {
        return next.run(req).await;
    }
    let ip = state.config.client_ip.of(req.extensions(), req.headers());
    match state.fluxer.refuse_banned_ip(ip).await {
        Ok(()) => next.run(req).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}
