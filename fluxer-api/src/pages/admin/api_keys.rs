//! Admin API keys (`Authorization: Admin <key>`): list, create (the key is shown once), revoke;
//! each with a reason for the audit log.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fluxer_core::model::AdminApiKey;
use fluxer_core::service::AdminApiKeyCreate;
use maud::{Markup, html};

use super::users::Notice;
use super::{Staff, core_error_page, error_page, panel, reason_field, require_reason, see_other};
use crate::pages::form::FormBody;
use crate::state::ApiState;

pub(super) async fn view(
    State(state): State<ApiState>,
    staff: Staff,
    Query(notice): Query<Notice>,
) -> Response {
    let message = (notice.done == "revoked").then_some("The key is revoked.");
    page(&state, &staff, message, None).await
}

async fn page(
    state: &ApiState,
    staff: &Staff,
    message: Option<&str>,
    created: Option<&str>,
) -> Response {
    let keys = match state.fluxer.list_admin_api_keys(&staff.principal).await {
        Ok(keys) => keys,
        Err(e) => return core_error_page(e),
    };
    let body = html! {
        h1 { "API keys" }
        @if let Some(m) = message { p.notice role="status" { (m) } }
        @if let Some(key) = created {
            div.notice role="status" {
                p { "The new key, shown this once: send it as " code { "Authorization: Admin <key>" } "." }
                p { code id="new-key" { (key) } }
            }
        }
        @if keys.is_empty() { p.muted { "No keys yet." } }
        @else {
            table {
                thead { tr { th { "Name" } th { "ACLs" } th { "Created" } th { "Expires" } th { "Last used" } th { "Revoke" } } }
                tbody { @for k in &keys { (key_row(staff, k)) } }
            }
        }
        h2 { "Create a key" }
        form.stack id="key-create" method="post" action="/admin/api-keys" {
            input type="hidden" name="csrf" value=(staff.csrf);
            label { "Name" input type="text" name="name" required maxlength="100"; }
            label { "ACLs (separated by spaces; only ones you hold)" input type="text" name="acls" required maxlength="4000" value="user:lookup"; }
            label { "Expires after (days, 1-365; empty for never)" input type="number" name="expires_in_days" min="1" max="365"; }
            (reason_field())
            button type="submit" { "Create" }
        }
    };
    panel(staff, "API keys", "/admin/api-keys", body)
}

fn key_row(staff: &Staff, k: &AdminApiKey) -> Markup {
    let when = |t: Option<fluxer_core::time::Timestamp>| {
        t.map_or_else(|| "–".to_owned(), |t| t.to_iso8601())
    };
    html! {
        tr {
            td { (k.name) }
            td { code { (k.acls.join(" ")) } }
            td { (k.created_at.to_iso8601()) }
            td { (when(k.expires_at)) }
            td { (when(k.last_used_at)) }
            td {
                form.inline method="post" action={"/admin/api-keys/" (k.id) "/revoke"} {
                    input type="hidden" name="csrf" value=(staff.csrf);
                    label { "Reason" input type="text" name="reason" required maxlength="512"; }
                    button.danger type="submit" { "Revoke" }
                }
            }
        }
    }
}

pub(super) async fn create(
    State(state): State<ApiState>,
    mut staff: Staff,
    form: FormBody,
) -> Response {
    if let Err(r) = staff
        .check_csrf(&form)
        .and_then(|()| require_reason(&mut staff, &form))
    {
        return r.into_response();
    }
    let expires_in_days = match form.get("expires_in_days") {
        "" => None,
        days => match days.parse::<i64>() {
            Ok(days) => Some(days),
            Err(_) => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "The expiry is a number of days. Nothing was changed.",
                );
            }
        },
    };
    let req = AdminApiKeyCreate {
        name: form.get("name").to_owned(),
        expires_in_days,
        acls: form
            .get("acls")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    };
    match state
        .fluxer
        .create_admin_api_key(&staff.principal, req)
        .await
    {
        Ok(created) => page(&state, &staff, None, Some(&created.key)).await,
        Err(e) => core_error_page(e),
    }
}

pub(super) async fn revoke(
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
    match state
        .fluxer
        .revoke_admin_api_key(&staff.principal, &id)
        .await
    {
        Ok(()) => see_other("/admin/api-keys?done=revoked"),
        Err(e) => core_error_page(e),
    }
}
