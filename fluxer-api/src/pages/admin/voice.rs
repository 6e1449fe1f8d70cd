//! Voice regions and their LiveKit servers: list, create, edit and delete, each with a reason for
//! the audit log. The same use-cases and ACLs as `/admin/voice/*`; a server's API secret is never
//! shown (a blank secret field keeps the stored one).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fluxer_core::model::acl;
use fluxer_core::service::{VoiceRegion, VoiceRegionWrite, VoiceServer, VoiceServerWrite};
use maud::{Markup, html};

use super::users::Notice;
use super::{
    Refused, Staff, authorize_form, core_error_page, done_notice, error_page, panel, reasoned_form,
    see_other,
};
use crate::pages::form::FormBody;
use crate::state::ApiState;

pub(super) async fn view(
    State(state): State<ApiState>,
    staff: Staff,
    Query(notice): Query<Notice>,
) -> Response {
    let regions = match state.fluxer.admin_voice_regions(&staff.principal).await {
        Ok(regions) => regions,
        Err(e) => return core_error_page(e),
    };
    let body = html! {
        h1 { "Voice" }
        (done_notice(&notice.done, &[
            ("region_created", "The region is created."),
            ("region_updated", "The region is saved."),
            ("region_deleted", "The region and its servers are deleted."),
            ("server_created", "The server is added."),
            ("server_updated", "The server is saved."),
            ("server_deleted", "The server is deleted."),
        ]))
        p.muted { "Regions and servers staff set here replace the configured region; every node follows within seconds." }
        @if regions.is_empty() { p.muted id="no-regions" { "No voice region." } }
        @for r in &regions { (region(&staff, r)) }
        h2 { "New region" }
        (reasoned_form(&staff, "region-create", "/admin/voice/regions", "Create the region", false, html! {
            label { "ID (e.g. eu-west)" input type="text" name="id" required maxlength="64"; }
            (region_fields(None))
        }))
    };
    panel(&staff, "Voice", "/admin/voice", body)
}

fn region_fields(r: Option<&VoiceRegion>) -> Markup {
    html! {
        label { "Name" input type="text" name="name" required maxlength="100" value=[r.map(|r| &r.name)]; }
        label { "Emoji" input type="text" name="emoji" required maxlength="64" value=[r.map(|r| &r.emoji)]; }
        label { "Latitude" input type="text" name="latitude" inputmode="decimal" required maxlength="32" value=[r.map(|r| r.latitude)]; }
        label { "Longitude" input type="text" name="longitude" inputmode="decimal" required maxlength="32" value=[r.map(|r| r.longitude)]; }
        label { span { input type="checkbox" name="is_default" value="on" checked[r.is_some_and(|r| r.is_default)]; " The default region" } }
    }
}

fn server_fields(s: Option<&VoiceServer>) -> Markup {
    html! {
        label { "Endpoint (wss://...)" input type="url" name="endpoint" required maxlength="2048" value=[s.map(|s| &s.credentials.endpoint)]; }
        label { "API key" input type="text" name="api_key" required maxlength="256" autocomplete="off" value=[s.map(|s| &s.credentials.api_key)]; }
        @if s.is_some() {
            label { "API secret (blank keeps the stored one)" input type="password" name="api_secret" maxlength="256" autocomplete="new-password"; }
        } @else {
            label { "API secret" input type="password" name="api_secret" required maxlength="256" autocomplete="new-password"; }
        }
        label { span { input type="checkbox" name="is_active" value="on" checked[s.is_none_or(|s| s.active)]; " Takes new connections" } }
    }
}

fn region(staff: &Staff, r: &VoiceRegion) -> Markup {
    let base = format!("/admin/voice/regions/{}", enc(&r.id));
    html! {
        section.card id={"region-" (r.id)} {
            h2 { (r.emoji) " " (r.name) " " code.muted { (r.id) } @if r.is_default { " (default)" } }
            p.muted { "At " (r.latitude) ", " (r.longitude) }
            @if r.servers.is_empty() { p.muted { "No server." } }
            @else {
                table {
                    thead { tr { th { "Server" } th { "Endpoint" } th { "Status" } } }
                    tbody {
                        @for s in &r.servers {
                            tr {
                                td { code { (s.id) } }
                                td { code { (s.credentials.endpoint) } }
                                td { (if s.active { "active" } else { "inactive" }) }
                            }
                        }
                    }
                }
            }
            details {
                summary { "Edit the region" }
                (reasoned_form(staff, &format!("region-edit-{}", r.id), &base, "Save the region", false, region_fields(Some(r))))
            }
            @for s in &r.servers {
                details {
                    summary { "Edit server " (s.id) }
                    (reasoned_form(staff, &format!("server-edit-{}-{}", r.id, s.id), &format!("{base}/servers/{}", enc(&s.id)), "Save the server", false, server_fields(Some(s))))
                    (reasoned_form(staff, &format!("server-delete-{}-{}", r.id, s.id), &format!("{base}/servers/{}/delete", enc(&s.id)), "Delete the server", true, html! {}))
                }
            }
            details {
                summary { "Add a server" }
                (reasoned_form(staff, &format!("server-create-{}", r.id), &format!("{base}/servers"), "Add the server", false, html! {
                    label { "Server ID" input type="text" name="server_id" required maxlength="64"; }
                    (server_fields(None))
                }))
            }
            details {
                summary { "Delete the region" }
                (reasoned_form(staff, &format!("region-delete-{}", r.id), &format!("{base}/delete"), "Delete the region and its servers", true, html! {}))
            }
        }
    }
}

/// A region or server ID as one path segment.
fn enc(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A coordinate field: a number, or the page saying which is wrong.
fn coordinate(form: &FormBody, name: &str) -> Result<f64, Refused> {
    form.get(name).parse::<f64>().map_err(|_| {
        Refused::new(error_page(
            StatusCode::BAD_REQUEST,
            &format!("The {name} is not a number. Nothing was changed."),
        ))
    })
}

fn region_write(id: String, form: &FormBody) -> Result<VoiceRegionWrite, Refused> {
    Ok(VoiceRegionWrite {
        id,
        name: Some(form.get("name").to_owned()),
        emoji: Some(form.get("emoji").to_owned()),
        latitude: Some(coordinate(form, "latitude")?),
        longitude: Some(coordinate(form, "longitude")?),
        is_default: Some(form.get("is_default") == "on"),
        ..Default::default()
    })
}

fn server_write(region_id: String, server_id: String, form: &FormBody) -> VoiceServerWrite {
    let secret = form.get("api_secret");
    VoiceServerWrite {
        region_id,
        server_id,
        endpoint: Some(form.get("endpoint").to_owned()),
        api_key: Some(form.get("api_key").to_owned()),
        // Blank keeps the stored secret on an edit; on creation the use-case requires one.
        api_secret: (!secret.is_empty()).then(|| secret.to_owned()),
        is_active: Some(form.get("is_active") == "on"),
        ..Default::default()
    }
}

pub(super) async fn create_region(
    State(state): State<ApiState>,
    mut staff: Staff,
    form: FormBody,
) -> Response {
    if let Err(r) = authorize_form(&mut staff, &form, acl::VOICE_REGION_CREATE) {
        return r.into_response();
    }
    let req = match region_write(form.get("id").to_owned(), &form) {
        Ok(req) => req,
        Err(r) => return r.into_response(),
    };
    match state
        .fluxer
        .admin_create_voice_region(&staff.principal, req)
        .await
    {
        Ok(_) => see_other("/admin/voice?done=region_created"),
        Err(e) => core_error_page(e),
    }
}

pub(super) async fn update_region(
    State(state): State<ApiState>,
    mut staff: Staff,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    if let Err(r) = authorize_form(&mut staff, &form, acl::VOICE_REGION_UPDATE) {
        return r.into_response();
    }
    let req = match region_write(id, &form) {
        Ok(req) => req,
        Err(r) => return r.into_response(),
    };
    match state
        .fluxer
        .admin_update_voice_region(&staff.principal, req)
        .await
    {
        Ok(_) => see_other("/admin/voice?done=region_updated"),
        Err(e) => core_error_page(e),
    }
}

pub(super) async fn delete_region(
    State(state): State<ApiState>,
    mut staff: Staff,
    Path(id): Path<String>,
    form: FormBody,
) -> Response {
    if let Err(r) = authorize_form(&mut staff, &form, acl::VOICE_REGION_DELETE) {
        return r.into_response();
    }
    match state
        .fluxer
        .admin_delete_voice_region(&staff.principal, &id)
        .await
    {
        Ok(()) => see_other("/admin/voice?done=region_deleted"),
        Err(e) => core_error_page(e),
    }
}

pub(super) async fn create_server(
    State(state): State<ApiState>,
    mut staff: Staff,
    Path(region): Path<String>,
    form: FormBody,
) -> Response {
    if let Err(r) = authorize_form(&mut staff, &form, acl::VOICE_SERVER_CREATE) {
        return r.into_response();
    }
    let req = server_write(region, form.get("server_id").to_owned(), &form);
    match state
        .fluxer
        .admin_create_voice_server(&staff.principal, req)
        .await
    {
        Ok(_) => see_other("/admin/voice?done=server_created"),
        Err(e) => core_error_page(e),
    }
}

pub(super) async fn update_server(
    State(state): State<ApiState>,
    mut staff: Staff,
    Path((region, server)): Path<(String, String)>,
    form: FormBody,
) -> Response {
    if let Err(r) = authorize_form(&mut staff, &form, acl::VOICE_SERVER_UPDATE) {
        return r.into_response();
    }
    let req = server_write(region, server, &form);
    match state
        .fluxer
        .admin_update_voice_server(&staff.principal, req)
        .await
    {
        Ok(_) => see_other("/admin/voice?done=server_updated"),
        Err(e) => core_error_page(e),
    }
}

pub(super) async fn delete_server(
    State(state): State<ApiState>,
    mut staff: Staff,
    Path((region, server)): Path<(String, String)>,
    form: FormBody,
) -> Response {
    if let Err(r) = authorize_form(&mut staff, &form, acl::VOICE_SERVER_DELETE) {
        return r.into_response();
    }
    match state
        .fluxer
        .admin_delete_voice_server(&staff.principal, &region, &server)
        .await
    {
        Ok(()) => see_other("/admin/voice?done=server_deleted"),
        Err(e) => core_error_page(e),
    }
}
