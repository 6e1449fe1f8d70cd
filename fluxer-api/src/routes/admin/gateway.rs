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
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AdminAuth;
use crate::error::ApiResult;
use crate::state::ApiState;

static STARTED: OnceLock<Instant> = OnceLock::new();

pub(super) fn routes() -> Router<ApiState> {
    STARTED.get_or_init(Instant::now);
    Router::new().route("/admin/gateway/stats", get(stats))
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
