//! Discovery review: the guilds' applications by status (pending first), approving or rejecting a
//! pending one and taking a listed guild out of discovery, each with a reason (the guild sees a
//! rejection's or removal's; the audit log keeps every one). The same use-cases and ACLs as
//! `/admin/discovery/*`.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use fluxer_core::id::GuildId;
use fluxer_core::model::{DiscoveryApplication, DiscoveryStatus, acl};
use fluxer_core::service::DISCOVERY_CATEGORIES;
use maud::{Markup, html};
use serde::Deserialize;

use super::{
    Staff, authorize_form, core_error_page, done_notice, panel, path_id, reasoned_form, see_other,
};
use crate::pages::form::FormBody;
use crate::state::ApiState;

/// Applications per page.
const PAGE_SIZE: u32 = 25;

#[derive(Deserialize, Default)]
pub(super) struct DiscoveryQuery {
    #[serde(default)]
    status: String,
    /// The last guild ID of the previous page.
    #[serde(default)]
    after: String,
    #[serde(default)]
    done: String,
}

pub(super) async fn list(
    State(state): State<ApiState>,
    staff: Staff,
    Query(q): Query<DiscoveryQuery>,
) -> Response {
    if let Err(e) = staff.principal.require(acl::DISCOVERY_REVIEW) {
        return core_error_page(e);
    }
    let status = DiscoveryStatus::parse(&q.status).unwrap_or(DiscoveryStatus::Pending);
    let after = q.after.parse::<GuildId>().ok();
    let found = state
        .fluxer
        .list_discovery_applications(&staff.principal, status, after, PAGE_SIZE + 1)
        .await;
    let mut rows = match found {
        Ok(rows) => rows,
        Err(e) => return core_error_page(e),
    };
    let more = rows.len() > PAGE_SIZE as usize;
    rows.truncate(PAGE_SIZE as usize);
    // Names for staff who may look guilds up; the ID (and its link) otherwise.
    let mut names = Vec::with_capacity(rows.len());
    let may_look_up = staff.principal.require(acl::GUILD_LOOKUP).is_ok();
    for row in &rows {
        let name = if may_look_up {
            match state
                .fluxer
                .admin_lookup_guild(&staff.principal, row.guild_id)
                .await
            {
                Ok(found) => found.guild.map(|g| g.guild.name),
                Err(e) => return core_error_page(e),
            }
        } else {
            None
        };
        names.push(name);
    }
    let may_remove = staff.principal.require(acl::DISCOVERY_REMOVE).is_ok();
    let body = html! {
        h1 { "Discovery" }
        (done_notice(&q.done, &[
            ("approved", "The guild is listed in discovery."),
            ("rejected", "The application is rejected."),
            ("removed", "The guild is out of discovery."),
        ]))
        nav aria-label="Application status" {
            ul {
                @for s in DiscoveryStatus::ALL {
                    li { a href={"/admin/discovery?status=" (s.as_str())} aria-current=[(s == status).then_some("page")] { (s.as_str()) } }
                }
            }
        }
        @if rows.is_empty() { p.muted { "No " (status.as_str()) " applications." } }
        @for (row, name) in rows.iter().zip(&names) {
            (application(&staff, row, name.as_deref(), may_remove))
        }
        nav.pager aria-label="Pages" {
            @if after.is_some() { a href={"/admin/discovery?status=" (status.as_str())} rel="first" { "First page" } }
            @if more {
                @if let Some(last) = rows.last() {
                    a href={"/admin/discovery?status=" (status.as_str()) "&after=" (last.guild_id)} rel="next" { "Next" }
                }
            }
        }
    };
    panel(&staff, "Discovery", "/admin/discovery", body)
}

fn application(
    staff: &Staff,
    a: &DiscoveryApplication,
    name: Option<&str>,
    may_remove: bool,
) -> Markup {
    let id = a.guild_id;
    let category = DISCOVERY_CATEGORIES
        .get(usize::from(a.category_type))
        .copied()
        .unwrap_or("Other");
    html! {
        article.card id={"application-" (id)} {
            h2 { a href={"/admin/guilds/" (id)} { (name.unwrap_or("Guild")) } " " code.muted { (id) } }
            p { (a.description) }
            p.muted {
                (category) " · applied " (a.applied_at.to_iso8601()) " by "
                a href={"/admin/users/" (a.applied_by)} { code { (a.applied_by) } }
            }
            @if let Some(r) = &a.review_reason { p { "Review: " (r) } }
            @if let Some(r) = &a.removal_reason { p { "Removed: " (r) } }
            @match a.status {
                DiscoveryStatus::Pending => {
                    (reasoned_form(staff, &format!("approve-{id}"), &format!("/admin/discovery/{id}/approve"), "Approve", false, html! {}))
                    (reasoned_form(staff, &format!("reject-{id}"), &format!("/admin/discovery/{id}/reject"), "Reject", true, html! {}))
                }
                DiscoveryStatus::Approved if may_remove => {
                    (reasoned_form(staff, &format!("remove-{id}"), &format!("/admin/discovery/{id}/remove"), "Remove from discovery", true, html! {}))
                }
                _ => {}
            }
        }
    }
}

/// What a review form does.
#[derive(Clone, Copy)]
enum Review {
    Approve,
    Reject,
    Remove,
}

async fn review(
    state: ApiState,
    mut staff: Staff,
    id: String,
    form: FormBody,
    how: Review,
) -> Response {
    let id: GuildId = match path_id(&id, "guild") {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    let needed = match how {
        Review::Remove => acl::DISCOVERY_REMOVE,
        Review::Approve | Review::Reject => acl::DISCOVERY_REVIEW,
    };
    if let Err(r) = authorize_form(&mut staff, &form, needed) {
        return r.into_response();
    }
    // The reason the audit log keeps is also the review's, which the guild sees.
    let reason = form.get("reason").to_owned();
    let (done, status) = match how {
        Review::Approve => ("approved", "pending"),
        Review::Reject => ("rejected", "pending"),
        Review::Remove => ("removed", "approved"),
    };
    let result = match how {
        Review::Approve => {
            state
                .fluxer
                .approve_discovery(&staff.principal, id, Some(reason))
                .await
        }
        Review::Reject => {
            state
                .fluxer
                .reject_discovery(&staff.principal, id, reason)
                .await
        }
        Review::Remove => {
            state
                .fluxer
                .remove_from_discovery(&staff.principal, id, reason)
                .await
        }
    };
    match result {
        Ok(_) => see_other(&format!("/admin/discovery?status={status}&done={done}")),
        Err(e) => core_error_page(e),
    }
}

pub(super) async fn approve(
    State(state): State<ApiState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    review(state, staff, id, form, Review::Approve).await
}

pub(super) async fn reject(
    State(state): State<ApiState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    review(state, staff, id, form, Review::Reject).await
}

pub(super) async fn remove(
    State(state): State<ApiState>,
    staff: Staff,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    review(state, staff, id, form, Review::Remove).await
}
