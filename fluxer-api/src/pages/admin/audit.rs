//! The admin audit log: who did what to which target, why, and what changed; searchable.

use axum::extract::{Query, State};
use axum::response::Response;
use fluxer_core::model::AdminAuditQuery;
use maud::html;

use super::{ListQuery, Staff, core_error_page, pager, panel};
use crate::state::ApiState;

const PAGE_SIZE: usize = 50;

pub(super) async fn view(
    State(state): State<ApiState>,
    staff: Staff,
    Query(q): Query<ListQuery>,
) -> Response {
    let page = q.page();
    let text = q.text();
    let query = AdminAuditQuery {
        text: (!text.is_empty()).then(|| text.clone()),
        offset: (page * PAGE_SIZE) as u64,
        limit: PAGE_SIZE as u32,
        ..Default::default()
    };
    let found = match state
        .fluxer
        .search_admin_audit_log(&staff.principal, query)
        .await
    {
        Ok(found) => found,
        Err(e) => return core_error_page(e),
    };
    let body = html! {
        h1 { "Audit log" }
        form.inline method="get" action="/admin/audit-log" role="search" {
            label { "Search actions, targets and reasons" input type="search" name="q" value=(text) maxlength="256"; }
            button type="submit" { "Search" }
        }
        p.muted { (found.total) " entries" }
        @if !found.entries.is_empty() {
            table {
                thead { tr { th { "When" } th { "Who" } th { "Action" } th { "Target" } th { "Reason" } th { "Details" } } }
                tbody {
                    @for e in &found.entries {
                        tr {
                            td { (e.created_at.to_iso8601()) }
                            td { a href={"/admin/users/" (e.actor)} { code { (e.actor) } } }
                            td { code { (e.action) } }
                            td { (e.target_type) " " code { (e.target_id) } }
                            td { (e.reason.as_deref().unwrap_or("–")) }
                            td {
                                @for (k, v) in &e.metadata { div { code { (k) } ": " (v) } }
                            }
                        }
                    }
                }
            }
        }
        (pager("/admin/audit-log", &text, page, PAGE_SIZE, found.total))
    };
    panel(&staff, "Audit log", "/admin/audit-log", body)
}
