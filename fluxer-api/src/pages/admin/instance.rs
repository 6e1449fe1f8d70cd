//! The instance config: who may register, the home page's texts, and single sign-on (whose client
//! secret is write-only: the page says whether one is set, never what it is). Every change asks
//! for a reason; the use-case logs each changed field.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fluxer_core::model::RegistrationMode;
use fluxer_core::service::{InstanceConfigUpdate, SsoUpdate};
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
    let sso = config
        .sso
        .clone()
        .unwrap_or_else(|| state.fluxer.config().sso.clone());
    let secret_set = sso.client_secret.as_deref().is_some_and(|s| !s.is_empty());
    let body = html! {
        h1 { "Instance" }
        @if notice.done == "saved" { p.notice role="status" { "Saved." } }
        @if notice.done == "sso" { p.notice role="status" { "Single sign-on is saved." } }
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
        h2 id="sso-heading" { "Single sign-on" }
        p.muted {
            @if config.sso.is_some() { "Set here; the config file's auth.sso no longer applies." }
            @else { "From the config file (auth.sso) until saved here." }
        }
        form.stack id="sso" method="post" action="/admin/instance/sso" aria-labelledby="sso-heading" {
            input type="hidden" name="csrf" value=(staff.csrf);
            label { span { input type="checkbox" name="enabled" value="on" checked[sso.enabled]; " Offer sign-in through the provider" } }
            label { span { input type="checkbox" name="enforced" value="on" checked[sso.enforced]; " The only way in (no passwords, no registration)" } }
            label { "Button name" input type="text" name="display_name" maxlength="100" value=[sso.display_name.as_deref()]; }
            label { "Issuer (https://...)" input type="url" name="issuer" maxlength="2048" value=(sso.issuer); }
            label { "Client ID" input type="text" name="client_id" maxlength="512" autocomplete="off" value=(sso.client_id); }
            label {
                "Client secret"
                span.muted id="sso-secret-state" { @if secret_set { "A secret is set; leave blank to keep it." } @else { "None is set." } }
                input type="password" name="client_secret" maxlength="1024" autocomplete="new-password";
            }
            @if secret_set {
                label { span { input type="checkbox" name="clear_client_secret" value="on"; " Remove the secret (a public client)" } }
            }
            label { "Scopes (space-separated)" input type="text" name="scope" maxlength="1024" value=(sso.scopes.join(" ")); }
            label { "Allowed email domains (comma-separated; empty allows any)" input type="text" name="allowed_domains" maxlength="4000" value=(sso.allowed_domains.join(", ")); }
            label { span { input type="checkbox" name="auto_provision" value="on" checked[sso.auto_provision]; " Create an account at a first sign-in" } }
            label { "Redirect URI (empty: the web app's /auth/sso/callback)" input type="url" name="redirect_uri" maxlength="2048" value=[sso.redirect_uri.as_deref()]; }
            (reason_field())
            button type="submit" { "Save single sign-on" }
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

pub(super) async fn update_sso(
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
    let secret = form.get("client_secret");
    let client_secret = if form.get("clear_client_secret") == "on" {
        Some(String::new())
    } else {
        // Blank keeps the stored secret: the page never holds it.
        (!secret.is_empty()).then(|| secret.to_owned())
    };
    let sso = SsoUpdate {
        enabled: Some(form.get("enabled") == "on"),
        enforced: Some(form.get("enforced") == "on"),
        display_name: Some(form.get("display_name").to_owned()),
        issuer: Some(form.get("issuer").to_owned()),
        client_id: Some(form.get("client_id").to_owned()),
        client_secret,
        scope: Some(form.get("scope").to_owned()),
        allowed_domains: Some(
            form.get("allowed_domains")
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        auto_provision: Some(form.get("auto_provision") == "on"),
        redirect_uri: Some(form.get("redirect_uri").to_owned()),
        ..Default::default()
    };
    let update = InstanceConfigUpdate {
        sso: Some(sso),
        ..Default::default()
    };
    match state
        .fluxer
        .update_instance_config(&staff.principal, update)
        .await
    {
        Ok(_) => see_other("/admin/instance?done=sso"),
        Err(e) => core_error_page(e),
    }
}
