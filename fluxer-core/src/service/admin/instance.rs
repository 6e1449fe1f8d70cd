//! The instance config (`/admin/instance-config/{get,update}`): who may register, manual review,
//! the instance's name, description, terms and privacy texts, and whether its home page is
//! served. Kept in the database once changed, where it overrides the config file's defaults
//! ([`Config::instance`](crate::service::Config::instance)).

use serde::Deserialize;

use super::{AdminAction, AdminPrincipal};
use crate::error::{Error, Result, Unknown};
use crate::model::{InstanceConfig, RegistrationMode, acl};
use crate::ports::PrivateDocument;
use crate::service::Fluxer;
use crate::validation::Validator;

/// Longest terms of service or privacy policy text, in characters.
pub const MAX_POLICY_TEXT: usize = 100_000;

/// `POST /admin/instance-config/update`: what to change; absent fields stay. A webhook URL set to
/// `null` is cleared.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InstanceConfigUpdate {
    /// `open`, `invite_only` or `closed`.
    #[serde(default)]
    pub registration_mode: Option<RegistrationMode>,
    /// See [`InstanceConfig`].
    #[serde(default)]
    pub manual_review_enabled: Option<bool>,
    /// See [`InstanceConfig`].
    #[serde(default)]
    pub manual_review_schedule_enabled: Option<bool>,
    /// 0-23.
    #[serde(default)]
    pub manual_review_schedule_start_hour_utc: Option<i64>,
    /// 0-23.
    #[serde(default)]
    pub manual_review_schedule_end_hour_utc: Option<i64>,
    /// An `http(s)` URL, or `null` to clear.
    #[serde(default, deserialize_with = "double_option")]
    pub registration_alerts_webhook_url: Option<Option<String>>,
    /// An `http(s)` URL, or `null` to clear.
    #[serde(default, deserialize_with = "double_option")]
    pub system_alerts_webhook_url: Option<Option<String>>,
    /// 1-100 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// At most 1000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// At most [`MAX_POLICY_TEXT`] characters.
    #[serde(default)]
    pub terms_of_service: Option<String>,
    /// At most [`MAX_POLICY_TEXT`] characters.
    #[serde(default)]
    pub privacy_policy: Option<String>,
    /// Whether the home page is served.
    #[serde(default)]
    pub home_page_enabled: Option<bool>,
    /// Single sign-on (upstream's `sso` object); once changed, the stored settings replace the
    /// config file's `auth.sso`.
    #[serde(default)]
    pub sso: Option<crate::service::SsoUpdate>,
}

/// Tells `null` (clear) from absent (keep).
fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn valid_webhook_url(url: &str) -> bool {
    url.len() <= 2048
        && (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() > "https://".len()
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl Fluxer {
    /// The instance config in effect: the stored one, else the config file's.
    pub async fn instance_config(&self) -> Result<InstanceConfig> {
        Ok(self
            .instance_doc::<InstanceConfig>(PrivateDocument::InstanceConfig, 0)
            .await?
            .unwrap_or_else(|| self.config().instance.clone()))
    }

    /// The instance config, for staff (`instance:config:view`).
    pub async fn get_instance_config(&self, who: &AdminPrincipal) -> Result<InstanceConfig> {
        who.require(acl::INSTANCE_CONFIG_VIEW)?;
        self.instance_config().await
    }

    /// Changes the instance config (`instance:config:update`); every changed field is logged
    /// with its old and new value (the policy texts by length only).
    pub async fn update_instance_config(
        &self,
        who: &AdminPrincipal,
        update: InstanceConfigUpdate,
    ) -> Result<InstanceConfig> {
        who.require(acl::INSTANCE_CONFIG_UPDATE)?;
        let mut v = Validator::new();
        for (path, hour) in [
            (
                "manual_review_schedule_start_hour_utc",
                update.manual_review_schedule_start_hour_utc,
            ),
            (
                "manual_review_schedule_end_hour_utc",
                update.manual_review_schedule_end_hour_utc,
            ),
        ] {
            v.check(
                hour.is_none_or(|h| (0..=23).contains(&h)),
                path,
                "NUMBER_TYPE_OUT_OF_RANGE",
                "Must be between 0 and 23.",
            );
        }
        for (path, url) in [
            (
                "registration_alerts_webhook_url",
                &update.registration_alerts_webhook_url,
            ),
            (
                "system_alerts_webhook_url",
                &update.system_alerts_webhook_url,
            ),
        ] {
            if let Some(Some(url)) = url {
                v.check(
                    valid_webhook_url(url),
                    path,
                    "URL_TYPE_INVALID_URL",
                    "Must be an http(s) URL of at most 2048 characters.",
                );
            }
        }
        if let Some(name) = &update.name {
            v.check(
                (1..=100).contains(&name.trim().chars().count()),
                "name",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 characters.",
            );
        }
        for (path, text, max) in [
            ("description", &update.description, 1000),
            (
                "terms_of_service",
                &update.terms_of_service,
                MAX_POLICY_TEXT,
            ),
            ("privacy_policy", &update.privacy_policy, MAX_POLICY_TEXT),
        ] {
            v.check(
                text.as_ref().is_none_or(|t| t.chars().count() <= max),
                path,
                "BASE_TYPE_MAX_LENGTH",
                &format!("At most {max} characters."),
            );
        }
        v.finish()?;

        let before = self.instance_config().await?;
        let sso = match &update.sso {
            Some(change) => {
                let current = before
                    .sso
                    .clone()
                    .unwrap_or_else(|| self.config().sso.clone());
                Some((change.apply(&current)?, current))
            }
            None => None,
        };
        let mut after = before.clone();
        let mut action = AdminAction::new("instance_config.update", "instance_config", "instance");
        if let Some(mode) = update.registration_mode {
            after.registration_mode = mode;
            action = action.change(
                "registration_mode",
                format!("{:?}", before.registration_mode),
                format!("{mode:?}"),
            );
        }
        macro_rules! set {
            ($field:ident) => {
                if let Some(value) = update.$field {
                    action = action.change(stringify!($field), &before.$field, &value);
                    after.$field = value;
                }
            };
            ($field:ident as u8) => {
                if let Some(value) = update.$field {
                    // Checked to be 0..=23 above.
                    let value = value as u8;
                    action = action.change(stringify!($field), before.$field, value);
                    after.$field = value;
                }
            };
            ($field:ident url) => {
                if let Some(value) = update.$field {
                    action = action.change(
                        stringify!($field),
                        before.$field.as_deref().unwrap_or("null"),
                        value.as_deref().unwrap_or("null"),
                    );
                    after.$field = value;
                }
            };
            ($field:ident text) => {
                if let Some(value) = update.$field {
                    action = action.change(
                        concat!(stringify!($field), "_length"),
                        before.$field.chars().count(),
                        value.chars().count(),
                    );
                    after.$field = value;
                }
            };
        }
        set!(manual_review_enabled);
        set!(manual_review_schedule_enabled);
        set!(manual_review_schedule_start_hour_utc as u8);
        set!(manual_review_schedule_end_hour_utc as u8);
        set!(registration_alerts_webhook_url url);
        set!(system_alerts_webhook_url url);
        if let Some(name) = update.name {
            let name = name.trim().to_owned();
            action = action.change("name", &before.name, &name);
            after.name = name;
        }
        set!(description text);
        set!(terms_of_service text);
        set!(privacy_policy text);
        set!(home_page_enabled);
        if let Some((next, current)) = sso {
            action = sso_changes(action, &current, &next);
            after.sso = Some(next);
        }
        self.put_instance_doc(PrivateDocument::InstanceConfig, 0, Some(&after))
            .await?;
        self.record_admin_action(who, action).await?;
        Ok(after)
    }

    /// Whether manual review applies to an account registering now.
    pub(crate) async fn manual_review_active(&self) -> Result<bool> {
        Ok(self
            .instance_config()
            .await?
            .manual_review_active_at(self.now()))
    }

    /// Whether someone may register now with `email` (and `invite_code`): refuses a closed
    /// instance (403 `REGISTRATION_DISABLED`), an invite-only one without a usable invite (400
    /// on `invite_code`), and a banned email (400 `EMAIL_BANNED` on `email`).
    pub(crate) async fn check_registration(
        &self,
        email: &str,
        invite_code: Option<&str>,
    ) -> Result<()> {
        let config = self.instance_config().await?;
        match config.registration_mode {
            RegistrationMode::Closed => {
                return Err(Error::forbidden(
                    "REGISTRATION_DISABLED",
                    "Registration is closed on this instance.",
                ));
            }
            RegistrationMode::InviteOnly => {
                let Some(code) = invite_code.map(str::trim).filter(|c| !c.is_empty()) else {
                    return Err(Error::field(
                        "invite_code",
                        "BASE_TYPE_REQUIRED",
                        "This instance requires an invite to register.",
                    ));
                };
                let now = self.now();
                let usable = self
                    .store()
                    .get_invite(code)
                    .await?
                    .filter(|i| i.expires_at().is_none_or(|at| at > now))
                    .filter(|i| i.max_uses == 0 || i.uses < i.max_uses)
                    .filter(|i| i.pack_id.is_none());
                if usable.is_none() {
                    return Err(Error::Unknown(Unknown::Invite));
                }
            }
            _ => {}
        }
        if self.is_email_banned(email).await? {
            return Err(Error::field(
                "email",
                "EMAIL_BANNED",
                "This email address cannot be used on this instance.",
            ));
        }
        Ok(())
    }
}

/// The audit entry's changes of single sign-on: every field but the client secret by value, the
/// secret only as whether it changed.
fn sso_changes(
    mut action: AdminAction,
    before: &crate::model::SsoSettings,
    after: &crate::model::SsoSettings,
) -> AdminAction {
    let text = |o: &Option<String>| o.clone().unwrap_or_default();
    for (field, old, new) in [
        (
            "sso.enabled",
            before.enabled.to_string(),
            after.enabled.to_string(),
        ),
        (
            "sso.enforced",
            before.enforced.to_string(),
            after.enforced.to_string(),
        ),
        (
            "sso.display_name",
            text(&before.display_name),
            text(&after.display_name),
        ),
        ("sso.issuer", before.issuer.clone(), after.issuer.clone()),
        (
            "sso.client_id",
            before.client_id.clone(),
            after.client_id.clone(),
        ),
        ("sso.scope", before.scopes.join(" "), after.scopes.join(" ")),
        (
            "sso.allowed_domains",
            before.allowed_domains.join(","),
            after.allowed_domains.join(","),
        ),
        (
            "sso.auto_provision",
            before.auto_provision.to_string(),
            after.auto_provision.to_string(),
        ),
        (
            "sso.redirect_uri",
            text(&before.redirect_uri),
            text(&after.redirect_uri),
        ),
    ] {
        if old != new {
            action = action.change(field, old, new);
        }
    }
    if before.client_secret != after.client_secret {
        action = action.with("sso.client_secret_changed", true);
    }
    action
}
