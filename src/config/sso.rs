//! Single sign-on through an OpenID Connect provider (`auth.sso`): upstream's instance-config SSO
//! fields, read from the config file until staff store their own with
//! `/admin/instance-config/update` (or the admin panel), which then win.

use serde::Deserialize;

/// `auth.sso`: sign-in through the operator's OpenID provider (Authentik, Keycloak, Authelia...).
#[derive(Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Sso {
    /// Offer "Continue with SSO" on the login page. Needs `issuer` and `client_id`.
    pub enabled: bool,
    /// The provider's name on the button.
    pub display_name: Option<String>,
    /// The issuer identifier; discovery reads `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client ID registered at the provider.
    pub client_id: String,
    /// The client secret (a confidential client); leave unset for a public client.
    pub client_secret: Option<String>,
    /// The scopes asked for (`openid email profile`).
    pub scopes: Vec<String>,
    /// Email domains allowed to sign in; empty allows any.
    pub allowed_domains: Vec<String>,
    /// Create an account at the first sign-in of someone without one (upstream's default: on).
    pub auto_provision: bool,
    /// Make SSO the only way in: password login, registration and password reset answer
    /// `SSO_REQUIRED`.
    pub enforced: bool,
    /// Where the provider sends people back; the web app's `/auth/sso/callback` when unset.
    pub redirect_uri: Option<String>,
    /// How long one call to the provider may take, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for Sso {
    fn default() -> Self {
        Sso {
            enabled: false,
            display_name: None,
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            allowed_domains: Vec::new(),
            auto_provision: true,
            enforced: false,
            redirect_uri: None,
            timeout_ms: 10_000,
        }
    }
}

// By hand, so that the client secret never reaches a log through `{:?}`.
impl std::fmt::Debug for Sso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sso")
            .field("enabled", &self.enabled)
            .field("display_name", &self.display_name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("scopes", &self.scopes)
            .field("allowed_domains", &self.allowed_domains)
            .field("auto_provision", &self.auto_provision)
            .field("enforced", &self.enforced)
            .field("redirect_uri", &self.redirect_uri)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl Sso {
    /// Why the settings cannot work, naming the key, when SSO is on.
    pub(super) fn problem(&self) -> Option<(&'static str, &'static str)> {
        if !self.enabled {
            return None;
        }
        let http = |url: &str| url.starts_with("http://") || url.starts_with("https://");
        if !http(&self.issuer) {
            return Some(("auth.sso.issuer", "must be an http(s) URL when SSO is on"));
        }
        if self.client_id.trim().is_empty() {
            return Some(("auth.sso.client_id", "must be set when SSO is on"));
        }
        if self.redirect_uri.as_deref().is_some_and(|u| !http(u)) {
            return Some(("auth.sso.redirect_uri", "must be an http(s) URL"));
        }
        if self.timeout_ms == 0 {
            return Some(("auth.sso.timeout_ms", "must be positive"));
        }
        None
    }
}
