//! The instance config: who may register, and the home page's texts. Every change asks for a
//! reason; the use-case logs each changed field.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fluxer_core::model::RegistrationMode;
use fluxer_core::service::InstanceConfigUpdate;
use maud::html;

use super::users::Notice;
use super::{Staff, core_error_page, error_page, panel, reason_field, require_reason, see_other};
use crate::pages::form::FormBody;
use crate::state::ApiState;

const MODES: [(RegistrationMode, &str, &str); 3] = [
    (RegistrationMode::Open, "open", "Open: anyone may register"),
    (
        RegistrationMode::InviteOnly,
        "invite_only",
        "Invite only: with a valid invite code",
    ),
    (
        RegistrationMode::Closed,
        "closed",
        "Closed: no one may register",
    ),
];

pub(super) async fn view(
    State(state): State<ApiState>,
    staff: Staff,
    Query(notice): Query<Notice>,
) -> Response {
    let config = match state.fluxer.get_instance_config(&staff.principal).await {
        Ok(config) => config,
        Err(e) => return core_error_page(e),
    };
    let body = html! {
        h1 { "Instance" }
        @if notice.done == "saved" { p.notice role="status" { "Saved." } }
        form.stack id="instance" method="post" action="/admin/instance" {
            input type="hidden" name="csrf" value=(staff.csrf);
            label { "Registration"
                select name="registration_mode" {
                    @for (mode, value, label) in MODES {
                        option value=(value) selected[mode == config.registration_mode] { (label) }
                    }
                }
            }
            label { "Name" input type="text" name="name" value=(config.name) maxlength="100" required; }
            label { "Description" textarea name="description" rows="3" maxlength="1000" { (config.description) } }
            label { "Terms of service" textarea name="terms_of_service" rows="6" { (config.terms_of_service) } }
            label { "Privacy policy" textarea name="privacy_policy" rows="6" { (config.privacy_policy) } }
            label { span { input type="checkbox" name="home_page_enabled" value="on" checked[config.home_page_enabled]; " Show the home page" } }
            (reason_field())
            button type="submit" { "Save" }
        }
    };
    panel(&staff, "Instance", "/admin/instance", body)
}

pub(super) async fn update(
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
    let Some((mode, _, _)) = MODES
        .iter()
        .find(|(_, value, _)| *value == form.get("registration_mode"))
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Choose a registration mode. Nothing was changed.",
        );
    };
    let update = InstanceConfigUpdate {
        registration_mode: Some(*mode),
        name: Some(form.get("name").to_owned()),
        description: Some(form.get("description").to_owned()),
        terms_of_service: Some(form.get("terms_of_service").to_owned()),
        privacy_policy: Some(form.get("privacy_policy").to_owned()),
        home_page_enabled: Some(form.get("home_page_enabled") == "on"),
        ..Default::default()
    };
    match state
        .fluxer
        .update_instance_config(&staff.principal, update)
        .await
    {
        Ok(_) => see_other("/admin/instance?done=saved"),
        Err(e) => core_error_page(e),
    }
}
