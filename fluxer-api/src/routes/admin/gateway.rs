//! `GET /admin/gateway/stats`: the gateway of the process that answers (upstream's
//! `NodeStatsResponse`). Upstream's Erlang figures map as follows here: `sessions` and `guilds` are
//! the gateway's live sessions and guilds held in memory; `memory.total` and `memory.processes` are
//! this process's resident memory and `memory.system` the machine's (Linux; `"0"` elsewhere);
//! `process_count`/`process_limit` count the one OS process; `calls` is 0 (no voice here) and
//! `presences` is the live sessions' count (each one publishes a presence).
//! `connections` (open WebSockets) is ours.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxer_core::model::acl;
use fluxer_core::service::AdminReloadGuilds;
use fluxer_core::validation::Validator;
use serde_json::{Value, json};

use super::AdminAuth;
use super::body::RawBody;
use crate::error::ApiResult;
use crate::state::ApiState;

static STARTED: OnceLock<Instant> = OnceLock::new();

pub(super) fn routes() -> Router<ApiState> {
    STARTED.get_or_init(Instant::now);
    Router::new()
        .route("/admin/gateway/stats", get(stats))
        .route("/admin/gateway/memory-stats", post(memory_stats))
        .route("/admin/gateway/reload-all", post(reload_all))
}

/// `POST /admin/gateway/memory-stats`.
#[derive(serde::Deserialize)]
struct MemoryStatsRequest {
    /// 1 to 100 (default 100): the largest guilds first.
    limit: Option<u32>,
}

/// The guilds this process's gateway holds, largest state first (upstream's
/// `GuildMemoryStatsResponse`): `memory` is the approximate size of the guild's shared state,
/// `session_count` this node's sessions following it, `presence_count` its members online on
/// any node, `member_count` its members.
async fn memory_stats(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: MemoryStatsRequest = body.parse_for(&auth, acl::GATEWAY_MEMORY_STATS)?;
    let mut v = Validator::new();
    let limit = req.limit.unwrap_or(100);
    v.range("limit", i64::from(limit), 1, 100);
    v.finish()?;
    let mut loaded = s
        .gateway_stats
        .as_ref()
        .map(|g| g.loaded_guilds())
        .unwrap_or_default();
    loaded.sort_by(|a, b| {
        b.state_bytes
            .cmp(&a.state_bytes)
            .then(a.guild_id.cmp(&b.guild_id))
    });
    loaded.truncate(limit as usize);
    let mut guilds = Vec::with_capacity(loaded.len());
    for g in loaded {
        let (members, online) = s.fluxer.admin_guild_population(&auth.0, g.guild_id).await?;
        guilds.push(json!({
            "guild_id": g.guild_id,
            "guild_name": g.name,
            "guild_icon": g.icon,
            "memory": g.state_bytes.to_string(),
            "member_count": members,
            "session_count": g.sessions,
            "presence_count": online,
        }));
    }
    Ok(Json(json!({ "guilds": guilds })))
}

async fn reload_all(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let req: AdminReloadGuilds = body.parse_for(&auth, acl::GATEWAY_RELOAD_ALL)?;
    let loaded = s
        .gateway_stats
        .as_ref()
        .map(|g| g.loaded_guilds().into_iter().map(|l| l.guild_id).collect())
        .unwrap_or_default();
    let count = s.fluxer.admin_reload_guilds(&auth.0, req, loaded).await?;
    Ok(Json(json!({ "count": count })))
}

/// A `kB` figure of a `/proc` file, in bytes.
fn proc_kb(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

async fn stats(State(s): State<ApiState>, auth: AdminAuth) -> ApiResult<Json<Value>> {
    auth.require(fluxer_core::model::acl::GATEWAY_MEMORY_STATS)?;
    let counts = s.gateway_stats.as_ref().and_then(|g| g.counts());
    let c = counts.unwrap_or_default();
    let rss = proc_kb("/proc/self/status", "VmRSS:");
    let system = proc_kb("/proc/meminfo", "MemTotal:");
    let uptime = STARTED.get().map_or(0, |t| t.elapsed().as_secs());
    Ok(Json(json!({
        "status": if counts.is_some() { "ok" } else { "no_gateway" },
        "sessions": c.sessions,
        "guilds": c.guilds,
        "presences": c.sessions,
        "calls": 0,
        "connections": c.connections,
        "memory": {
            "total": rss.to_string(),
            "processes": rss.to_string(),
            "system": system.to_string(),
        },
        "process_count": 1,
        "process_limit": 1,
        "uptime_seconds": uptime,
    })))
}
