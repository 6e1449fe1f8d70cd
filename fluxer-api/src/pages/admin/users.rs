//! Users: search, one account's page, and the actions on it (ban, unban, end sessions), each with
//! a reason that goes to the admin audit log.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fluxer_core::id::UserId;
use fluxer_core::model::User;
use fluxer_core::service::AdminUserLookup;
use maud::html;
use serde::Deserialize;

use super::{
    ListQuery, Refused, Staff, core_error_page, error_page, pager, panel, reasoned_form,
    require_reason, see_other,
};
use crate::pages::form::FormBody;
use crate::state::ApiState;

/// Accounts per search page.
const PAGE_SIZE: usize = 25;

pub(super) async fn search(
    State(state): State<ApiState>,
    staff: Staff,
    Query(q): Query<ListQuery>,
) -> Response {
    let page = q.page();
    let text = q.text();
    let found = state
        .fluxer
        .admin_search_users(&staff.principal, &text, PAGE_SIZE, page * PAGE_SIZE)
        .await;
    let (users, total) = match found {
        Ok(found) => found,
        Err(e) => return core_error_page(e),
    };
    let body = html! {
        h1 { "Users" }
        form.inline method="get" action="/admin/users" role="search" {
            label { "Search by name, email or ID" input type="search" name="q" value=(text) maxlength="320"; }
            button type="submit" { "Search" }
        }
        p.muted { (total) " found" }
        @if !users.is_empty() {
            table {
                thead { tr { th { "Account" } th { "Email" } th { "Status" } } }
                tbody {
                    @for u in &users {
                        tr {
                            td { a href={"/admin/users/" (u.id)} { (tag(u)) } }
                            td { (u.email.as_deref().unwrap_or("–")) }
                            td { (status(u, state.fluxer.now())) }
                        }
                    }
                }
            }
        }
        (pager("/admin/users", &text, page, PAGE_SIZE, total))
    };
    panel(&staff, "Users", "/admin/users", body)
}

fn tag(u: &User) -> String {
    format!("{}#{:04}", u.username, u.discriminator)
}

fn status(u: &User, now: fluxer_core::time::Timestamp) -> String {
    if u.staff_disabled {
        "Disabled".to_owned()
    } else if let Some(until) = u.temp_banned_until.filter(|t| *t > now) {
        if until == fluxer_core::service::PERMANENT_BAN {
            "Banned".to_owned()
        } else {
            format!("Banned until {}", until.to_iso8601())
        }
    } else if u.deleted_at.is_some() {
        "Pending deletion".to_owned()
    } else {
        "Active".to_owned()
    }
}

#[derive(Deserialize, Default)]
pub(super) struct Notice {
    #[serde(default)]
    pub(super) done: String,
}

pub(super) async fn view(
    State(state): State<ApiState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(notice): Query<Notice>,
) -> Response {
    let Ok(id) = id.parse::<UserId>() else {
        return error_page(StatusCode::NOT_FOUND, "There is no such account.");
    };
    let found = state
        .fluxer
        .admin_lookup_users(&staff.principal, AdminUserLookup::Ids(vec![id]))
        .await;
    let user = match found.map(|mut users| users.pop()) {
        Ok(Some(user)) => user,
        Ok(None) => return error_page(StatusCode::NOT_FOUND, "There is no such account."),
        Err(e) => return core_error_page(e),
    };
    let guilds = state
        .fluxer
        .admin_list_user_guilds(&staff.principal, id, None, None, 50)
        .await
        .unwrap_or_default();
    let now = state.fluxer.now();
    let banned = user.temp_banned_until.is_some_and(|t| t > now) || user.staff_disabled;
    let message = match notice.done.as_str() {
        "banned" => Some("The account is banned and its sessions are ended."),
        "unbanned" => Some("The ban is lifted."),
        "sessions" => Some("Every session of the account is ended."),
        _ => None,
    };
    let body = html! {
        h1 { (tag(&user)) }
        @if let Some(m) = message { p.notice role="status" { (m) } }
        dl {
            dt { "ID" } dd { code { (user.id) } }
            dt { "Email" } dd { (user.email.as_deref().unwrap_or("–")) (if user.email_verified { " (verified)" } else { "" }) }
            dt { "Created" } dd { (user.id.timestamp().to_iso8601()) }
            dt { "Status" } dd id="user-status" { (status(&user, now)) }
            dt { "Two-factor" } dd { (if user.mfa_enabled() { "on" } else { "off" }) }
            @if !user.acls.is_empty() { dt { "Admin ACLs" } dd { code { (user.acls.join(", ")) } } }
        }
        h2 { "Guilds" }
        @if guilds.is_empty() { p.muted { "None." } }
        @else {
            ul { @for (g, members) in &guilds { li { (g.name) " " span.muted { "(" (members) " members, " code { (g.id) } ")" } } } }
        }
        h2 { "Actions" }
        @if banned {
            (reasoned_form(&staff, "unban", &format!("/admin/users/{id}/unban"), "Lift the ban", false, html! {}))
        } @else {
            (reasoned_form(&staff, "ban", &format!("/admin/users/{id}/ban"), "Ban", true, html! {
                label { "Length"
                    select name="duration_hours" {
                        option value="0" { "Until lifted" }
                        option value="24" { "1 day" }
                        option value="168" { "7 days" }
                        option value="720" { "30 days" }
                    }
                }
            }))
        }
        (reasoned_form(&staff, "sessions", &format!("/admin/users/{id}/sessions/end"), "End every session", true, html! {}))
    };
    panel(&staff, &tag(&user), "/admin/users", body)
}

fn user_id(raw: &str) -> Result<UserId, Refused> {
    raw.parse::<UserId>().map_err(|_| {
        Refused::new(error_page(
            StatusCode::NOT_FOUND,
            "There is no such account.",
        ))
    })
}

pub(super) async fn ban(
    State(state): State<ApiState>,
    mut staff: Staff,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let id = match user_id(&id) {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = staff
        .check_csrf(&form)
        .and_then(|()| require_reason(&mut staff, &form))
    {
        return r.into_response();
    }
    let Ok(hours) = form.get("duration_hours").parse::<i64>() else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Choose how long the ban lasts. Nothing was changed.",
        );
    };
    let reason = staff.principal.reason.clone();
    match state
        .fluxer
        .admin_temp_ban(&staff.principal, id, hours, reason.as_deref())
        .await
    {
        Ok(_) => see_other(&format!("/admin/users/{id}?done=banned")),
        Err(e) => core_error_page(e),
    }
}

pub(super) async fn unban(
    State(state): State<ApiState>,
    mut staff: Staff,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let id = match user_id(&id) {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = staff
        .check_csrf(&form)
        .and_then(|()| require_reason(&mut staff, &form))
    {
        return r.into_response();
    }
    match state.fluxer.admin_unban(&staff.principal, id).await {
        Ok(_) => see_other(&format!("/admin/users/{id}?done=unbanned")),
        Err(e) => core_error_page(e),
    }
}

pub(super) async fn end_sessions(
    State(state): State<ApiState>,
    mut staff: Staff,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let id = match user_id(&id) {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = staff
        .check_csrf(&form)
        .and_then(|()| require_reason(&mut staff, &form))
    {
        return r.into_response();
    }
    match state
        .fluxer
        .admin_terminate_sessions(&staff.principal, id)
        .await
    {
        Ok(_) => see_other(&format!("/admin/users/{id}?done=sessions")),
        Err(e) => core_error_page(e),
    }
}
