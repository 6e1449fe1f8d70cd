//! Instance-wide bans on IP addresses (and ranges) and email addresses: list, add, lift, each
//! with a reason for the audit log.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fluxer_core::model::InstanceBanKind;
use maud::html;

use super::users::Notice;
use super::{
    Refused, Staff, core_error_page, error_page, panel, reason_field, require_reason, see_other,
};
use crate::pages::form::FormBody;
use crate::state::ApiState;

/// Bans listed per kind (newest first).
const LISTED: u32 = 100;

const KINDS: [(InstanceBanKind, &str, &str); 2] = [
    (InstanceBanKind::Ip, "ip", "IP addresses and ranges"),
    (InstanceBanKind::Email, "email", "Email addresses"),
];

pub(super) async fn view(
    State(state): State<ApiState>,
    staff: Staff,
    Query(notice): Query<Notice>,
) -> Response {
    let mut lists = Vec::new();
    for (kind, value, label) in KINDS {
        match state
            .fluxer
            .list_instance_bans(&staff.principal, kind, Some(LISTED))
            .await
        {
            Ok(bans) => lists.push((value, label, bans)),
            Err(e) => return core_error_page(e),
        }
    }
    let message = match notice.done.as_str() {
        "added" => Some("The ban is in place."),
        "removed" => Some("The ban is lifted."),
        _ => None,
    };
    let body = html! {
        h1 { "Bans" }
        @if let Some(m) = message { p.notice role="status" { (m) } }
        p.muted { "A banned address gets no answer but 403; a banned email cannot register or sign in." }
        h2 { "Add a ban" }
        form.stack id="ban-add" method="post" action="/admin/bans/add" {
            input type="hidden" name="csrf" value=(staff.csrf);
            label { "Kind"
                select name="kind" {
                    @for (_, value, label) in KINDS { option value=(value) { (label) } }
                }
            }
            label { "Address, range (CIDR) or email" input type="text" name="value" required maxlength="320"; }
            (reason_field())
            button.danger type="submit" { "Ban" }
        }
        @for (kind, label, bans) in &lists {
            h2 { (label) }
            @if bans.is_empty() { p.muted { "None." } }
            @else {
                table {
                    thead { tr { th { "Banned" } th { "Since" } th { "By" } th { "Lift" } } }
                    tbody {
                        @for b in bans {
                            tr {
                                td { code { (b.value) } }
                                td { (b.created_at.to_iso8601()) }
                                td { a href={"/admin/users/" (b.created_by)} { code { (b.created_by) } } }
                                td {
                                    form.inline method="post" action="/admin/bans/remove" {
                                        input type="hidden" name="csrf" value=(staff.csrf);
                                        input type="hidden" name="kind" value=(kind);
                                        input type="hidden" name="value" value=(b.value);
                                        label { "Reason" input type="text" name="reason" required maxlength="512"; }
                                        button type="submit" { "Lift" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    panel(&staff, "Bans", "/admin/bans", body)
}

fn kind_of(form: &FormBody) -> Result<InstanceBanKind, Refused> {
    KINDS
        .iter()
        .find(|(_, value, _)| *value == form.get("kind"))
        .map(|(kind, _, _)| *kind)
        .ok_or_else(|| {
            Refused::new(error_page(
                StatusCode::BAD_REQUEST,
                "Choose what to ban: an IP address or an email. Nothing was changed.",
            ))
        })
}

pub(super) async fn add(
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
    let kind = match kind_of(&form) {
        Ok(kind) => kind,
        Err(r) => return r.into_response(),
    };
    match state
        .fluxer
        .add_instance_ban(&staff.principal, kind, form.get("value"))
        .await
    {
        Ok(()) => see_other("/admin/bans?done=added"),
        Err(e) => core_error_page(e),
    }
}

pub(super) async fn remove(
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
    let kind = match kind_of(&form) {
        Ok(kind) => kind,
        Err(r) => return r.into_response(),
    };
    match state
        .fluxer
        .remove_instance_ban(&staff.principal, kind, form.get("value"))
        .await
    {
        Ok(()) => see_other("/admin/bans?done=removed"),
        Err(e) => core_error_page(e),
    }
}
