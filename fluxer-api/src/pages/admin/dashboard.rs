//! The dashboard: the numbers operators watch, with small charts of the last days.

use axum::extract::State;
use axum::response::Response;
use maud::html;

use super::{Staff, chart, core_error_page, panel};
use crate::state::ApiState;

pub(super) async fn dashboard(State(state): State<ApiState>, staff: Staff) -> Response {
    let stats = match state.fluxer.instance_stats(&staff.principal).await {
        Ok(stats) => stats,
        Err(e) => return core_error_page(e),
    };
    let today = stats.messages_per_day.last().copied().unwrap_or(0);
    let new_today = stats.users_per_day.last().copied().unwrap_or(0);
    // This node's gateway, when it runs one (the host hands its counts to the API).
    let live = state
        .gateway_stats
        .as_ref()
        .and_then(|g| g.counts())
        .map(|c| c.sessions);
    let since = stats.first_day.to_iso8601();
    let since = since.get(..10).unwrap_or(&since);
    let body = html! {
        h1 { "Dashboard" }
        dl.stats {
            div { dt { "Users" } dd id="stat-users" { (stats.users) } }
            div { dt { "New users today" } dd id="stat-users-today" { (new_today) } }
            div { dt { "Guilds" } dd id="stat-guilds" { (stats.guilds) } }
            div { dt { "Messages" } dd id="stat-messages" { (stats.messages) } }
            div { dt { "Messages today" } dd id="stat-messages-today" { (today) } }
            div {
                dt { "Online sessions (this node)" }
                dd id="stat-sessions" { @match live { Some(n) => (n), None => "–" } }
            }
            @if let Some(q) = stats.queue {
                div { dt { "Queued jobs" } dd id="stat-queue" { (q.pending) } }
                div { dt { "Jobs running" } dd id="stat-running" { (q.in_flight) } }
                div { dt { "Dead letters" } dd id="stat-dead" { (q.dead) } }
            }
        }
        h2 { "Since " (since) }
        (chart("Messages per day", &stats.messages_per_day))
        (chart("New users per day", &stats.users_per_day))
    };
    panel(&staff, "Dashboard", "/admin", body)
}
