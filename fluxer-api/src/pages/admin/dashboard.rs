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
            @if let Some(folders) = &stats.storage {
                @let bytes: u64 = folders.iter().map(|f| f.bytes).sum();
                div {
                    dt { "Storage used" }
                    dd id="stat-storage" data-bytes=(bytes) title={(bytes) " bytes"} { (human_bytes(bytes)) }
                }
                div {
                    dt { "Files stored" }
                    dd id="stat-files" { (folders.iter().map(|f| f.objects).sum::<u64>()) }
                }
            }
        }
        @if let Some(folders) = stats.storage.as_ref().filter(|f| !f.is_empty()) {
            h2 { "Storage by kind" }
            table id="storage" {
                thead { tr { th { "Folder" } th { "Files" } th { "Size" } } }
                tbody {
                    @for f in folders {
                        tr {
                            td { code { (if f.folder.is_empty() { "(top level)" } else { f.folder.as_str() }) } }
                            td { (f.objects) }
                            td data-bytes=(f.bytes) { (human_bytes(f.bytes)) }
                        }
                    }
                }
            }
        }
        h2 { "Since " (since) }
        (chart("Messages per day", &stats.messages_per_day))
        (chart("New users per day", &stats.users_per_day))
    };
    panel(&staff, "Dashboard", "/admin", body)
}

/// `1536` → `1.5 KiB`: binary units, one decimal above bytes.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
    }
}
