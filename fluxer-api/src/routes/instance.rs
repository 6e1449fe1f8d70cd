//! Instance discovery: `GET /.well-known/fluxer`, the document Fluxer's clients fetch before
//! anything else to find the API, the gateway and the media proxy, and to learn which optional
//! features this instance has. Every flag tells the truth: what is not built here is off.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fluxer_core::model::{LimitConfig, LimitRule};
use fluxer_core::service::SsoStatus;
use serde::Serialize;

use crate::state::{ApiState, InstanceInfo};

/// The client code version this API speaks (upstream's `API_CODE_VERSION`; clients refuse less).
const API_CODE_VERSION: u32 = 1;

/// `/.well-known/fluxer`, mounted at the root and under `/api`.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/.well-known/fluxer", get(well_known))
}

async fn well_known(State(state): State<ApiState>) -> Response {
    // Staff's limit config, for clients to size their inputs; none stored: no rules.
    let limits = match state.fluxer.stored_limit_config_cached().await {
        Ok(config) => config,
        Err(e) => {
            tracing::warn!(error = %e, "instance discovery without the limit config");
            None
        }
    };
    let sso = match state.fluxer.sso_status().await {
        Ok(sso) => sso,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    (
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        Json(Discovery::of(
            &state.config.instance,
            state.fluxer.push_public_key(),
            sso,
            state.fluxer.voice_enabled(),
            limits.as_deref(),
        )),
    )
        .into_response()
}

/// Upstream's `WellKnownFluxerResponse` (without federation, which is not built).
#[derive(Serialize)]
struct Discovery<'a> {
    api_code_version: u32,
    endpoints: Endpoints<'a>,
    captcha: Captcha,
    features: Features,
    gif: Gif<'a>,
    sso: SsoStatus,
    limits: Limits<'a>,
    push: Push<'a>,
    app_public: AppPublic,
}

#[derive(Serialize)]
struct Endpoints<'a> {
    api: &'a str,
    api_client: &'a str,
    api_public: &'a str,
    gateway: &'a str,
    media: &'a str,
    static_cdn: &'a str,
    marketing: &'a str,
    admin: &'a str,
    invite: &'a str,
    gift: &'a str,
    webapp: &'a str,
}

#[derive(Serialize)]
struct Captcha {
    provider: &'static str,
    hcaptcha_site_key: Option<String>,
    turnstile_site_key: Option<String>,
}

#[derive(Serialize)]
struct Features {
    sms_mfa_enabled: bool,
    voice_enabled: bool,
    stripe_enabled: bool,
    self_hosted: bool,
    manual_review_enabled: bool,
}

#[derive(Serialize)]
struct Gif<'a> {
    provider: &'a str,
}

/// Limit rules on top of the client's defaults: none until staff store a limit config
/// (self-hosted instances get the full set), then that config in upstream's snapshot form
/// (`rules[].limits`, not the version-2 wire form of overrides against upstream's defaults).
#[derive(Serialize)]
struct Limits<'a> {
    version: u32,
    #[serde(rename = "traitDefinitions")]
    trait_definitions: &'a [String],
    rules: &'a [LimitRule],
}

#[derive(Serialize)]
struct Push<'a> {
    public_vapid_key: Option<&'a str>,
}

#[derive(Serialize)]
struct AppPublic {
    sentry_dsn: &'static str,
}

impl<'a> Discovery<'a> {
    fn of(
        info: &'a InstanceInfo,
        public_vapid_key: Option<&'a str>,
        sso: SsoStatus,
        voice_enabled: bool,
        limits: Option<&'a LimitConfig>,
    ) -> Self {
        Discovery {
            api_code_version: API_CODE_VERSION,
            endpoints: Endpoints {
                api: &info.api,
                api_client: &info.api,
                api_public: &info.api,
                gateway: &info.gateway,
                media: &info.media,
                static_cdn: &info.static_cdn,
                marketing: &info.marketing,
                admin: &info.admin,
                invite: &info.invite,
                gift: &info.gift,
                webapp: &info.webapp,
            },
            // Neither CAPTCHA, SMS, payments nor manual review is built yet.
            captcha: Captcha {
                provider: "none",
                hcaptcha_site_key: None,
                turnstile_site_key: None,
            },
            features: Features {
                sms_mfa_enabled: false,
                voice_enabled,
                stripe_enabled: false,
                self_hosted: true,
                manual_review_enabled: false,
            },
            gif: Gif {
                provider: &info.gif_provider,
            },
            sso,
            limits: Limits {
                version: 1,
                trait_definitions: limits.map_or(&[], |c| &c.trait_definitions),
                rules: limits.map_or(&[], |c| &c.rules),
            },
            // Web Push: the key clients subscribe with, when this instance sends notifications.
            push: Push { public_vapid_key },
            app_public: AppPublic { sentry_dsn: "" },
        }
    }
}
