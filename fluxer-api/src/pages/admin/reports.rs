//! Reports users filed: the pending and resolved lists, one report with the kept copies of the
//! reported conversation, and resolving it (a public comment for the reporter, a reason for the
//! audit log).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fluxer_core::id::ReportId;
use fluxer_core::model::acl;
use fluxer_core::service::{AdminReportView, ReportListRequest, ReportResolve};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Staff, core_error_page, error_page, panel, reason_field, require_reason, see_other};
use crate::pages::form::FormBody;
use crate::state::ApiState;

const PAGE_SIZE: u32 = 50;

#[derive(Deserialize, Default)]
pub(super) struct ReportsQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: String,
}

fn kind(r: &AdminReportView) -> &'static str {
    match r.report_type {
        0 => "Message",
        1 => "User",
        2 => "Guild",
        _ => "Other",
    }
}

fn subject(r: &AdminReportView) -> String {
    match (&r.reported_user_tag, &r.reported_guild_name) {
        (Some(user), Some(guild)) => format!("{user} in {guild}"),
        (Some(user), None) => user.clone(),
        (None, Some(guild)) => guild.clone(),
        (None, None) => "–".to_owned(),
    }
}

pub(super) async fn list(
    State(state): State<ApiState>,
    staff: Staff,
    Query(q): Query<ReportsQuery>,
) -> Response {
    if let Err(e) = staff.principal.require(acl::REPORT_VIEW) {
        return core_error_page(e);
    }
    let resolved = q.status == "resolved";
    let page = q.page.parse::<u64>().unwrap_or(0).min(1000);
    let found = state
        .fluxer
        .admin_list_reports(
            &staff.principal,
            ReportListRequest {
                status: Some(u8::from(resolved)),
                limit: Some(PAGE_SIZE + 1),
                offset: Some(page * u64::from(PAGE_SIZE)),
            },
        )
        .await;
    let mut reports = match found {
        Ok(reports) => reports,
        Err(e) => return core_error_page(e),
    };
    let more = reports.len() > PAGE_SIZE as usize;
    reports.truncate(PAGE_SIZE as usize);
    let status = if resolved { "resolved" } else { "pending" };
    let body = html! {
        h1 { "Reports" }
        nav aria-label="Report status" {
            ul {
                li { a href="/admin/reports" aria-current=[(!resolved).then_some("page")] { "Pending" } }
                li { a href="/admin/reports?status=resolved" aria-current=[resolved.then_some("page")] { "Resolved" } }
            }
        }
        @if reports.is_empty() { p.muted { "No " (status) " reports." } }
        @else {
            table {
                thead { tr { th { "Report" } th { "Kind" } th { "Category" } th { "About" } th { "Filed" } } }
                tbody {
                    @for r in &reports {
                        tr {
                            td { a href={"/admin/reports/" (r.report_id)} { code { (r.report_id) } } }
                            td { (kind(r)) }
                            td { (r.category.as_deref().unwrap_or("–")) }
                            td { (subject(r)) }
                            td { (r.reported_at.to_iso8601()) }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if page > 0 { a href={"/admin/reports?status=" (status) "&page=" (page - 1)} rel="prev" { "Previous" } }
            @if more { a href={"/admin/reports?status=" (status) "&page=" (page + 1)} rel="next" { "Next" } }
        }
    };
    panel(&staff, "Reports", "/admin/reports", body)
}

fn report_id(raw: &str) -> Option<ReportId> {
    raw.parse::<ReportId>().ok()
}

pub(super) async fn view(
    State(state): State<ApiState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(notice): Query<super::users::Notice>,
) -> Response {
    if let Err(e) = staff.principal.require(acl::REPORT_VIEW) {
        return core_error_page(e);
    }
    let Some(id) = report_id(&id) else {
        return error_page(StatusCode::NOT_FOUND, "There is no such report.");
    };
    let report = match state.fluxer.admin_get_report(&staff.principal, id).await {
        Ok(report) => report,
        Err(e) => return core_error_page(e),
    };
    let body = html! {
        h1 { (kind(&report)) " report " code { (report.report_id) } }
        @if notice.done == "resolved" { p.notice role="status" { "The report is resolved." } }
        dl {
            dt { "Status" } dd id="report-status" { (if report.status == 1 { "Resolved" } else { "Pending" }) }
            dt { "Category" } dd { (report.category.as_deref().unwrap_or("–")) }
            dt { "About" } dd { (subject(&report)) }
            dt { "Filed by" } dd { (report.reporter_tag.as_deref().unwrap_or("–")) }
            dt { "Filed" } dd { (report.reported_at.to_iso8601()) }
            @if let Some(note) = &report.additional_info { dt { "Note" } dd { (note) } }
            @if let Some(comment) = &report.public_comment { dt { "Comment to the reporter" } dd { (comment) } }
            @if let Some(user) = report.reported_user_id {
                dt { "Reported account" } dd { a href={"/admin/users/" (user)} { code { (user) } } }
            }
        }
        @if let Some(messages) = &report.message_context { (conversation(messages)) }
        @if report.status == 0 {
            h2 { "Resolve" }
            form.stack id="resolve" method="post" action={"/admin/reports/" (report.report_id) "/resolve"} {
                input type="hidden" name="csrf" value=(staff.csrf);
                label { "Comment to the reporter (optional, emailed)" textarea name="public_comment" rows="2" maxlength="1000" {} }
                (reason_field())
                button type="submit" { "Resolve" }
            }
        }
    };
    panel(&staff, "Report", "/admin/reports", body)
}

fn conversation(messages: &[fluxer_core::service::ReportMessageView]) -> Markup {
    html! {
        h2 { "Kept conversation" }
        @if messages.is_empty() { p.muted { "No copy was kept." } }
        @else {
            ol {
                @for m in messages {
                    li {
                        strong { (m.author_username) "#" (m.author_discriminator) } " "
                        span.muted { (m.timestamp.to_iso8601()) } br;
                        (m.content)
                        @if !m.attachments.is_empty() { " " span.muted { "(" (m.attachments.len()) " files)" } }
                    }
                }
            }
        }
    }
}

pub(super) async fn resolve(
    State(state): State<ApiState>,
    mut staff: Staff,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    if let Err(r) = staff
        .check_csrf(&form)
        .and_then(|()| require_reason(&mut staff, &form))
    {
        return r.into_response();
    }
    if let Err(e) = staff.principal.require(acl::REPORT_RESOLVE) {
        return core_error_page(e);
    }
    let Some(id) = report_id(&id) else {
        return error_page(StatusCode::NOT_FOUND, "There is no such report.");
    };
    let comment = form.get("public_comment");
    let req = ReportResolve {
        report_id: id,
        public_comment: (!comment.is_empty()).then(|| comment.to_owned()),
    };
    match state
        .fluxer
        .admin_resolve_report(&staff.principal, req)
        .await
    {
        Ok(_) => see_other(&format!("/admin/reports/{id}?done=resolved")),
        Err(e) => core_error_page(e),
    }
}
