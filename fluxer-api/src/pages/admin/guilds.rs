//! Guilds: search, one guild's page (owner, members, features, channels and roles), and the
//! actions on it (change its features, transfer its ownership, delete it), each with a reason
//! that goes to the admin audit log. The same use-cases and ACLs as `/admin/guilds/*`.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use fluxer_core::id::{GuildId, UserId};
use fluxer_core::model::acl;
use fluxer_core::service::{
    AdminGuildFeatures, AdminGuildMembers, AdminGuildSearch, AdminGuildTransfer,
};
use maud::html;
use serde::Deserialize;

use super::{
    ListQuery, Staff, authorize_form, core_error_page, done_notice, pager, panel, path_id,
    reasoned_form, see_other,
};
use crate::pages::form::FormBody;
use crate::state::ApiState;

/// Guilds per search page.
const PAGE_SIZE: usize = 25;
/// Members per page of a guild's page.
const MEMBERS_PAGE: u32 = 50;

pub(super) async fn search(
    State(state): State<ApiState>,
    staff: Staff,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Err(e) = staff.principal.require(acl::GUILD_LOOKUP) {
        return core_error_page(e);
    }
    let page = q.page();
    let text = q.text();
    let found = state
        .fluxer
        .admin_search_guilds(
            &staff.principal,
            AdminGuildSearch {
                query: Some(text.chars().take(256).collect()),
                limit: Some(PAGE_SIZE as u32),
                offset: Some((page * PAGE_SIZE) as u64),
            },
        )
        .await;
    let found = match found {
        Ok(found) => found,
        Err(e) => return core_error_page(e),
    };
    let body = html! {
        h1 { "Guilds" }
        (done_notice(&q.done, &[("deleted", "The guild is deleted.")]))
        form.inline method="get" action="/admin/guilds" role="search" {
            label { "Search by name, vanity code or ID" input type="search" name="q" value=(text) maxlength="256"; }
            button type="submit" { "Search" }
        }
        p.muted { (found.total) " found" }
        @if !found.guilds.is_empty() {
            table {
                thead { tr { th { "Guild" } th { "Owner" } th { "Members" } th { "Features" } } }
                tbody {
                    @for g in &found.guilds {
                        tr {
                            td { a href={"/admin/guilds/" (g.id)} { (g.name) } br; code.muted { (g.id) } }
                            td { a href={"/admin/users/" (g.owner_id)} { code { (g.owner_id) } } }
                            td { (g.member_count) }
                            td { code { (g.features.join(", ")) } }
                        }
                    }
                }
            }
        }
        (pager("/admin/guilds", &text, page, PAGE_SIZE, found.total as u64))
    };
    panel(&staff, "Guilds", "/admin/guilds", body)
}

#[derive(Deserialize, Default)]
pub(super) struct GuildQuery {
    #[serde(default)]
    done: String,
    /// The members page (lenient, as [`ListQuery`]'s).
    #[serde(default)]
    page: String,
}

pub(super) async fn view(
    State(state): State<ApiState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<GuildQuery>,
) -> Response {
    let id: GuildId = match path_id(&id, "guild") {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    let found = state.fluxer.admin_lookup_guild(&staff.principal, id).await;
    let guild = match found {
        Ok(found) => match found.guild {
            Some(guild) => guild,
            None => {
                return super::error_page(
                    axum::http::StatusCode::NOT_FOUND,
                    "There is no such guild.",
                );
            }
        },
        Err(e) => return core_error_page(e),
    };
    let page = q.page.parse::<u64>().unwrap_or(0).min(1000);
    // Members only for staff who may list them; the rest of the page does not need it.
    let members = if staff.principal.require(acl::GUILD_LIST_MEMBERS).is_ok() {
        let listed = state
            .fluxer
            .admin_list_guild_members(
                &staff.principal,
                AdminGuildMembers {
                    guild_id: id,
                    limit: Some(MEMBERS_PAGE),
                    offset: Some(page * u64::from(MEMBERS_PAGE)),
                },
            )
            .await;
        match listed {
            Ok(listed) => Some(listed),
            Err(e) => return core_error_page(e),
        }
    } else {
        None
    };
    let g = &guild.guild;
    let body = html! {
        h1 { (g.name) }
        (done_notice(&q.done, &[
            ("features", "The features are changed."),
            ("transferred", "The ownership is transferred."),
        ]))
        dl {
            dt { "ID" } dd { code { (g.id) } }
            dt { "Owner" } dd id="guild-owner" { a href={"/admin/users/" (g.owner_id)} { code { (g.owner_id) } } }
            dt { "Members" } dd id="guild-members" { (guild.member_count) }
            dt { "Created" } dd { (g.id.timestamp().to_iso8601()) }
            dt { "Features" } dd id="guild-features" {
                @if g.features.is_empty() { "none" } @else { code { (g.features.join(", ")) } }
            }
            dt { "Vanity code" } dd { (g.vanity_url_code.as_deref().unwrap_or("–")) }
            dt { "Channels" } dd { (guild.channels.len()) }
            dt { "Roles" } dd { (guild.roles.len()) }
        }
        @if let Some(members) = &members {
            h2 { "Members" }
            table {
                thead { tr { th { "Member" } th { "Joined" } } }
                tbody {
                    @for m in &members.members {
                        tr {
                            td { a href={"/admin/users/" (m.user.id)} { (m.user.username) } " " code.muted { (m.user.id) } }
                            td { (m.joined_at.to_iso8601()) }
                        }
                    }
                }
            }
            nav.pager aria-label="Member pages" {
                @if page > 0 { a href={"/admin/guilds/" (g.id) "?page=" (page - 1)} rel="prev" { "Previous" } }
                @if (page + 1) * u64::from(MEMBERS_PAGE) < members.total { a href={"/admin/guilds/" (g.id) "?page=" (page + 1)} rel="next" { "Next" } }
            }
        }
        h2 { "Actions" }
        (reasoned_form(&staff, "features", &format!("/admin/guilds/{id}/features"), "Change features", false, html! {
            label { "Add features (comma-separated, e.g. VERIFIED, VANITY_URL)" input type="text" name="add" maxlength="2000"; }
            label { "Remove features (comma-separated)" input type="text" name="remove" maxlength="2000"; }
        }))
        (reasoned_form(&staff, "transfer", &format!("/admin/guilds/{id}/transfer"), "Transfer ownership", true, html! {
            label { "New owner's user ID (a member)" input type="text" name="new_owner_id" inputmode="numeric" required maxlength="20"; }
        }))
        (reasoned_form(&staff, "delete", &format!("/admin/guilds/{id}/delete"), "Delete the guild", true, html! {
            label { span { input type="checkbox" name="confirm" value="yes" required; " I understand the guild, its channels and messages are erased" } }
        }))
    };
    panel(&staff, &g.name, "/admin/guilds", body)
}

/// `VERIFIED, vanity_url` → `["VERIFIED", "VANITY_URL"]`; the use-case checks their shape.
fn feature_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(|f| f.trim().to_ascii_uppercase())
        .filter(|f| !f.is_empty())
        .collect()
}

pub(super) async fn features(
    State(state): State<ApiState>,
    mut staff: Staff,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let id: GuildId = match path_id(&id, "guild") {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = authorize_form(&mut staff, &form, acl::GUILD_UPDATE_FEATURES) {
        return r.into_response();
    }
    let req = AdminGuildFeatures {
        guild_id: id,
        add_features: feature_list(form.get("add")),
        remove_features: feature_list(form.get("remove")),
    };
    match state
        .fluxer
        .admin_update_guild_features(&staff.principal, req)
        .await
    {
        Ok(_) => see_other(&format!("/admin/guilds/{id}?done=features")),
        Err(e) => core_error_page(e),
    }
}

pub(super) async fn transfer(
    State(state): State<ApiState>,
    mut staff: Staff,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let id: GuildId = match path_id(&id, "guild") {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = authorize_form(&mut staff, &form, acl::GUILD_TRANSFER_OWNERSHIP) {
        return r.into_response();
    }
    let new_owner: UserId = match path_id(form.get("new_owner_id"), "account") {
        Ok(user) => user,
        Err(r) => return r.into_response(),
    };
    let req = AdminGuildTransfer {
        guild_id: id,
        new_owner_id: new_owner,
    };
    match state
        .fluxer
        .admin_transfer_guild_ownership(&staff.principal, req)
        .await
    {
        Ok(_) => see_other(&format!("/admin/guilds/{id}?done=transferred")),
        Err(e) => core_error_page(e),
    }
}

pub(super) async fn delete(
    State(state): State<ApiState>,
    mut staff: Staff,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    let id: GuildId = match path_id(&id, "guild") {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = authorize_form(&mut staff, &form, acl::GUILD_DELETE) {
        return r.into_response();
    }
    if form.get("confirm") != "yes" {
        return super::error_page(
            axum::http::StatusCode::BAD_REQUEST,
            "Tick the box to confirm the deletion. Nothing was changed.",
        );
    }
    match state.fluxer.admin_delete_guild(&staff.principal, id).await {
        Ok(()) => see_other("/admin/guilds?done=deleted"),
        Err(e) => core_error_page(e),
    }
}

#[cfg(test)]
mod tests {
    use super::feature_list;

    #[test]
    fn features_are_split_trimmed_and_upper_cased() {
        assert_eq!(
            feature_list(" verified, VANITY_URL ,,"),
            vec!["VERIFIED".to_owned(), "VANITY_URL".to_owned()]
        );
        assert!(feature_list("").is_empty());
    }
}
