//! Applications and their bot users; the OAuth2 bot-authorize flow that adds a bot to a guild.

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Result, Unknown};
use crate::id::{ApplicationId, GuildId, UserId};
use crate::model::{Application, ApplicationResponse, BotUser, PublicApplication, Role, User};
use crate::permission::Permissions;
use crate::ports::{Dispatch, EventKind, SessionsRevoked, Topic};
use crate::validation::Validator;

use super::oauth2::OAUTH2_SECRET_LEN;
use super::tokens::{BotToken, hash_token, random_base62};
use super::{Actor, Fluxer, SudoProof};

/// `POST /oauth2/applications`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApplicationCreate {
    /// 1 to 100 characters once trimmed. Also names the bot user (its username is the name with
    /// anything outside `[A-Za-z0-9_.]` turned into `_`, cut to 32).
    pub name: String,
    /// Up to 400 characters; absent means empty.
    #[serde(default)]
    pub description: Option<String>,
    /// OAuth2 redirect URIs, at most 10: `https`, or `http` on a loopback host. Consent redirects
    /// only to one of them, matched exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Create the bot user too (default true).
    #[serde(default)]
    pub bot: Option<bool>,
    /// Whether anyone with `MANAGE_GUILD` may add the bot, rather than only the owner (default
    /// true).
    #[serde(default)]
    pub bot_public: Option<bool>,
}

/// `PATCH /oauth2/applications/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApplicationUpdate {
    /// New name, 1 to 100 characters once trimmed. Absent leaves it unchanged (the bot user keeps
    /// its name).
    pub name: Option<String>,
    /// New description, up to 400 characters. Absent leaves it unchanged.
    pub description: Option<String>,
    /// Replaces the redirect URIs (at most 10, `http` or `https`). Absent leaves them unchanged.
    pub redirect_uris: Option<Vec<String>>,
    /// Whether anyone, rather than only the owner, may add the bot. Absent leaves it unchanged.
    pub bot_public: Option<bool>,
    /// Whether a bot-only consent needs a redirect URI (a code grant). Absent leaves it unchanged.
    pub bot_require_code_grant: Option<bool>,
}

/// `POST /oauth2/authorize` (scope `bot`): adds a bot to a guild the caller manages.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BotAuthorize {
    /// The application whose bot is added. The API also accepts it in the query string; one of the
    /// two is required.
    pub client_id: Option<ApplicationId>,
    /// The guild to add the bot to; the caller needs `MANAGE_GUILD` there.
    pub guild_id: GuildId,
    /// Permissions (a decimal string or integer) for a role created for the bot and named after the
    /// application. The caller must hold all of them. Absent or zero: no role.
    #[serde(default)]
    pub permissions: Option<Permissions>,
    /// Space- or `+`-separated OAuth2 scopes; must include `bot` when given. Absent is taken as
    /// `bot`.
    #[serde(default)]
    pub scope: Option<String>,
}

/// Upstream's rule for redirect URIs: an absolute `http(s)` URL with a host; at creation plain
/// `http` only on a loopback host (`localhost`, `*.localhost`, `127.0.0.1`, `[::1]`).
fn check_redirect_uris(v: &mut Validator, uris: &[String], allow_any_http: bool) {
    for (i, uri) in uris.iter().enumerate() {
        let ok = url::Url::parse(uri).is_ok_and(|u| {
            let host = u.host_str().unwrap_or("").to_ascii_lowercase();
            let loopback = host == "localhost"
                || host.ends_with(".localhost")
                || host == "127.0.0.1"
                || host == "[::1]";
            !host.is_empty()
                && (u.scheme() == "https" || (u.scheme() == "http" && (allow_any_http || loopback)))
        });
        if !ok {
            v.error(
                format!("redirect_uris.{i}"),
                "INVALID_URL_FORMAT",
                if allow_any_http {
                    "Redirect URIs must use HTTP or HTTPS"
                } else {
                    "Redirect URIs must use HTTPS, or HTTP for localhost only"
                },
            );
        }
    }
}

fn bot_username(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if s.trim_matches('_').is_empty() {
        "bot".to_owned()
    } else {
        s
    }
}

impl Fluxer {
    async fn application_response(
        &self,
        app: &Application,
        token: Option<&BotToken>,
        client_secret: Option<String>,
    ) -> Result<ApplicationResponse> {
        let owner = self
            .user_partials(&[app.owner_id])
            .await?
            .remove(&app.owner_id)
            .ok_or(Error::Unknown(Unknown::User))?;
        let bot = match app.bot_user_id {
            Some(id) => {
                let mut value = serde_json::to_value(self.user_partials(&[id]).await?.remove(&id))
                    .unwrap_or_default();
                if let Some(t) = token {
                    value["token"] = json!(t.expose());
                }
                Some(value)
            }
            None => None,
        };
        Ok(ApplicationResponse {
            id: app.id,
            name: app.name.clone(),
            description: app.description.clone(),
            owner,
            bot_public: app.bot_public,
            bot_require_code_grant: app.bot_require_code_grant,
            redirect_uris: app.redirect_uris.clone(),
            client_secret,
            bot,
        })
    }

    /// Creates an application and (by default) its bot user; the response carries the bot token and
    /// the OAuth2 client secret, once.
    pub async fn create_application(
        &self,
        actor: &Actor,
        req: ApplicationCreate,
    ) -> Result<ApplicationResponse> {
        actor.require_person("Bots cannot create applications.")?;
        let mut v = Validator::new();
        v.length("name", req.name.trim(), 1, 100);
        v.opt_length("description", req.description.as_deref(), 0, 400);
        v.count("redirect_uris", req.redirect_uris.len(), 10);
        check_redirect_uris(&mut v, &req.redirect_uris, false);
        v.finish()?;
        let id: ApplicationId = self.next_id();
        let mut app = Application {
            id,
            name: req.name.trim().to_owned(),
            description: req.description.unwrap_or_default(),
            owner_id: actor.id(),
            bot_user_id: None,
            bot_token_hash: None,
            bot_public: req.bot_public.unwrap_or(true),
            bot_require_code_grant: false,
            redirect_uris: req.redirect_uris,
            client_secret_hash: None,
        };
        let client_secret = random_base62(OAUTH2_SECRET_LEN);
        app.client_secret_hash = Some(hash_token(&client_secret));
        let mut token = None;
        if req.bot.unwrap_or(true) {
            let bot = User {
                global_name: Some(app.name.clone()),
                bot: true,
                email_verified: true,
                ..User::new(UserId(id.0), bot_username(&app.name), None)
            };
            let bot = self.insert_user_with_free_discriminator(bot).await?;
            let t = BotToken::generate(id);
            app.bot_user_id = Some(bot.id);
            app.bot_token_hash = Some(t.secret_hash());
            token = Some(t);
        }
        self.store().create_application(&app).await?;
        self.application_response(&app, token.as_ref(), Some(client_secret))
            .await
    }

    async fn owned_application(&self, actor: &Actor, id: ApplicationId) -> Result<Application> {
        self.store()
            .get_application(id)
            .await?
            .filter(|a| a.owner_id == actor.id())
            .ok_or(Error::Unknown(Unknown::Application))
    }

    /// The applications the caller owns, without bot tokens (`GET /oauth2/applications/@me`,
    /// `GET /users/@me/applications`).
    pub async fn list_applications(&self, actor: &Actor) -> Result<Vec<ApplicationResponse>> {
        let apps = self.store().list_applications(actor.id()).await?;
        let mut out = Vec::with_capacity(apps.len());
        for a in &apps {
            out.push(self.application_response(a, None, None).await?);
        }
        Ok(out)
    }

    /// One of the caller's applications (`GET /oauth2/applications/{id}`); `UNKNOWN_APPLICATION`
    /// when it does not exist or someone else owns it.
    pub async fn get_application(
        &self,
        actor: &Actor,
        id: ApplicationId,
    ) -> Result<ApplicationResponse> {
        let app = self.owned_application(actor, id).await?;
        self.application_response(&app, None, None).await
    }

    /// `GET /applications/@me` for a bot: its own application.
    pub async fn current_application(&self, actor: &Actor) -> Result<ApplicationResponse> {
        let app = self
            .store()
            .get_application(ApplicationId(actor.id().0))
            .await?
            .filter(|a| a.bot_user_id == Some(actor.id()))
            .ok_or(Error::Unknown(Unknown::Application))?;
        self.application_response(&app, None, None).await
    }

    /// Edits one of the caller's applications (`PATCH /oauth2/applications/{id}`); only the fields
    /// given change. `UNKNOWN_APPLICATION` when the caller does not own it. Publishes nothing.
    pub async fn update_application(
        &self,
        actor: &Actor,
        id: ApplicationId,
        req: ApplicationUpdate,
    ) -> Result<ApplicationResponse> {
        let mut app = self.owned_application(actor, id).await?;
        let mut v = Validator::new();
        if let Some(n) = &req.name {
            v.length("name", n.trim(), 1, 100);
        }
        v.opt_length("description", req.description.as_deref(), 0, 400);
        if let Some(r) = &req.redirect_uris {
            v.count("redirect_uris", r.len(), 10);
            check_redirect_uris(&mut v, r, true);
        }
        v.finish()?;
        if let Some(n) = req.name {
            app.name = n.trim().to_owned();
        }
        if let Some(d) = req.description {
            app.description = d;
        }
        if let Some(r) = req.redirect_uris {
            app.redirect_uris = r;
        }
        if let Some(p) = req.bot_public {
            app.bot_public = p;
        }
        if let Some(c) = req.bot_require_code_grant {
            app.bot_require_code_grant = c;
        }
        self.store().update_application(&app).await?;
        self.application_response(&app, None, None).await
    }

    /// Deletes an application; its bot user is left as a tombstone so its messages still resolve.
    pub async fn delete_application(
        &self,
        actor: &Actor,
        id: ApplicationId,
        password: Option<&str>,
    ) -> Result<()> {
        let app = self.owned_application(actor, id).await?;
        self.require_password(actor, password).await?;
        if let Some(bot_id) = app.bot_user_id {
            for guild in self.store().list_user_guild_ids(bot_id).await? {
                let _ = self.remove_member_and_notify(guild, bot_id).await;
            }
            if let Some(mut bot) = self.store().get_user(bot_id).await? {
                bot.deleted_at = Some(self.now());
                self.store().update_user(&bot).await?;
            }
        }
        self.store().delete_application(id).await?;
        // Its OAuth2 grants go with it.
        self.store().delete_application_oauth2_tokens(id).await?;
        Ok(())
    }

    /// Issues a new bot token; the old one stops working at once.
    pub async fn reset_bot_token(
        &self,
        actor: &Actor,
        id: ApplicationId,
        password: Option<&str>,
    ) -> Result<String> {
        let mut app = self.owned_application(actor, id).await?;
        if app.bot_user_id.is_none() {
            return Err(Error::rejected(
                "APPLICATION_HAS_NO_BOT",
                "This application has no bot.",
            ));
        }
        self.require_password(actor, password).await?;
        let token = BotToken::generate(id);
        app.bot_token_hash = Some(token.secret_hash());
        self.store().update_application(&app).await?;
        if let Some(bot) = app.bot_user_id {
            // The old token's gateway connections end with it.
            self.revoke_gateway_sessions(bot, SessionsRevoked::all_but(None))
                .await;
        }
        Ok(token.expose())
    }

    /// The bot-authorize flow: the caller, who must have MANAGE_GUILD there, adds the bot to a guild.
    /// With `permissions`, the bot gets a role carrying them (only permissions the caller holds).
    pub async fn authorize_bot(
        &self,
        actor: &Actor,
        application_id: ApplicationId,
        req: BotAuthorize,
    ) -> Result<()> {
        if let Some(scope) = &req.scope
            && !scope.split([' ', '+']).any(|s| s == "bot")
        {
            return Err(Error::field(
                "scope",
                "INVALID_SCOPE",
                "Only the bot scope can be authorized here.",
            ));
        }
        let app = self
            .store()
            .get_application(application_id)
            .await?
            .ok_or(Error::Unknown(Unknown::Application))?;
        let bot_id = app.bot_user_id.ok_or(Error::rejected(
            "APPLICATION_HAS_NO_BOT",
            "This application has no bot.",
        ))?;
        if !app.bot_public && app.owner_id != actor.id() {
            return Err(Error::forbidden(
                "BOT_IS_PRIVATE",
                "Only the owner can add this bot.",
            ));
        }
        let access = self.guild_access(actor.id(), req.guild_id).await?;
        access.require(Permissions::MANAGE_GUILD)?;
        let permissions = req.permissions.unwrap_or(Permissions::empty());
        if !access.permissions.contains(permissions) {
            return Err(Error::MissingPermissions);
        }
        if self
            .store()
            .get_member(req.guild_id, bot_id)
            .await?
            .is_some()
        {
            return Ok(());
        }
        self.join_guild(req.guild_id, bot_id).await?;
        let entry =
            super::audit::Audited::new(crate::model::audit_action::BOT_ADD, bot_id, Vec::new());
        self.audit(actor, req.guild_id, entry).await?;
        if !permissions.is_empty() {
            let role = Role {
                id: self.next_id(),
                guild_id: req.guild_id,
                name: app.name.chars().take(100).collect(),
                color: 0,
                position: 1,
                hoist: false,
                mentionable: false,
                permissions,
                unicode_emoji: None,
                hoist_position: None,
            };
            let shifted: Vec<Role> = access
                .roles
                .iter()
                .filter(|r| !r.is_everyone())
                .cloned()
                .map(|mut r| {
                    r.position += 1;
                    r
                })
                .collect();
            self.store().create_role(&role).await?;
            if !shifted.is_empty() {
                self.store().update_roles(&shifted).await?;
            }
            self.emit(Dispatch::new(
                EventKind::GuildRoleCreate,
                Topic::Guild(req.guild_id),
                &json!({ "guild_id": req.guild_id, "role": role }),
            ))
            .await;
            if let Some(mut member) = self.store().get_member(req.guild_id, bot_id).await? {
                member.roles.push(role.id);
                self.save_member(member).await?;
            }
        }
        Ok(())
    }
}

/// `PATCH /oauth2/applications/{id}/bot`: the bot user's profile. Absent fields are unchanged;
/// `null` clears an image or the bio.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BotProfileUpdate {
    /// A new username (letters, digits, `_`, `.`; 1 to 32); a free discriminator is picked when
    /// the tag is taken.
    pub username: Option<String>,
    /// The current discriminator (`"0042"` or 42): a bot cannot choose another.
    pub discriminator: Option<serde_json::Value>,
    /// A data URI to set, `null` to remove.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub avatar: Option<Option<String>>,
    /// A data URI to set, `null` to remove.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub banner: Option<Option<String>>,
    /// Up to 1024 characters; `null` clears it.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub bio: Option<Option<String>>,
    /// `FRIENDLY_BOT` (16: accepts friend requests) and `FRIENDLY_BOT_MANUAL_APPROVAL` (32); other
    /// bits are refused.
    pub bot_flags: Option<u64>,
}

/// The user flags a bot's owner sets through `bot_flags` (upstream's bits 4 and 5).
const BOT_FLAGS: u64 = (1 << 4) | (1 << 5);

impl Fluxer {
    /// `POST /oauth2/applications/{id}/client-secret/reset`, in sudo mode: a new client secret,
    /// shown once; the old one stops working at once (tokens already issued stay valid).
    pub async fn reset_client_secret(
        &self,
        actor: &Actor,
        id: ApplicationId,
        sudo: &SudoProof,
    ) -> Result<ApplicationResponse> {
        actor.require_person("Bots cannot manage applications.")?;
        let mut app = self.owned_application(actor, id).await?;
        self.require_sudo_proof(actor, sudo).await?;
        let secret = random_base62(OAUTH2_SECRET_LEN);
        app.client_secret_hash = Some(hash_token(&secret));
        self.store().update_application(&app).await?;
        self.application_response(&app, None, Some(secret)).await
    }

    /// `GET /oauth2/applications/{id}/public`: what a consent screen shows, to anyone.
    pub async fn public_application(&self, id: ApplicationId) -> Result<PublicApplication> {
        let app = self
            .store()
            .get_application(id)
            .await?
            .ok_or(Error::Unknown(Unknown::Application))?;
        let bot = match app.bot_user_id {
            Some(bot) => self.store().get_user(bot).await?,
            None => None,
        };
        Ok(PublicApplication {
            application: self.oauth2_application(&app).await?,
            scopes: if bot.is_some() {
                vec!["bot"]
            } else {
                Vec::new()
            },
            bot: bot.as_ref().map(BotUser::of),
            redirect_uris: app.redirect_uris,
        })
    }

    /// `PATCH /oauth2/applications/{id}/bot`: edits the bot user's profile (upstream's
    /// `BotProfileResponse` fields, and `flags`, come back); publishes `USER_UPDATE`. Upstream clears the bot's display name with any edit, so the username shows.
    pub async fn update_bot_profile(
        &self,
        actor: &Actor,
        id: ApplicationId,
        req: BotProfileUpdate,
    ) -> Result<BotUser> {
        actor.require_person("Bots cannot manage applications.")?;
        let app = self.owned_application(actor, id).await?;
        let bot_id = app.bot_user_id.ok_or(Error::rejected(
            "APPLICATION_HAS_NO_BOT",
            "This application has no bot.",
        ))?;
        let mut bot = self
            .store()
            .get_user(bot_id)
            .await?
            .ok_or(Error::Unknown(Unknown::User))?;
        let mut v = Validator::new();
        if let Some(u) = &req.username
            && !crate::validation::is_valid_username(u)
        {
            v.error(
                "username",
                "USERNAME_INVALID_CHARACTERS",
                "Usernames may use letters, numbers, _ and . (1-32).",
            );
        }
        if let Some(d) = &req.discriminator {
            let asked = d
                .as_u64()
                .or_else(|| d.as_str().and_then(|s| s.parse().ok()));
            if asked != Some(u64::from(bot.discriminator)) {
                v.error(
                    "discriminator",
                    "BOT_DISCRIMINATOR_CANNOT_BE_CHANGED",
                    "A bot's discriminator cannot be changed.",
                );
            }
        }
        if let Some(Some(b)) = &req.bio {
            v.length("bio", b, 0, 1024);
        }
        if let Some(f) = req.bot_flags
            && f & !BOT_FLAGS != 0
        {
            v.error("bot_flags", "INVALID_BOT_FLAG", "Unknown bot flag.");
        }
        v.finish()?;
        if let Some(u) = req.username
            && u != bot.username
        {
            bot.username = u;
            bot = self.retag(bot).await?;
        }
        bot.global_name = None;
        if let Some(b) = req.bio {
            bot.bio = b;
        }
        if let Some(f) = req.bot_flags {
            bot.flags = (bot.flags & !BOT_FLAGS) | f;
        }
        let mut replaced = Vec::new();
        for (field, kind, value) in [
            ("avatar", "avatars", req.avatar),
            ("banner", "banners", req.banner),
        ] {
            let Some(value) = value else { continue };
            let new = match value {
                Some(uri) => Some(self.store_image(field, kind, bot.id, &uri).await?),
                None => None,
            };
            let slot = if field == "avatar" {
                &mut bot.avatar
            } else {
                &mut bot.banner
            };
            if let Some(old) = slot.take().filter(|o| Some(o) != new.as_ref()) {
                replaced.push(super::image_key(kind, bot.id, &old));
            }
            *slot = new;
        }
        self.store().update_user(&bot).await?;
        self.emit_user_update(&bot).await;
        self.index_user_later(bot.id).await;
        self.delete_blobs_later(replaced).await;
        Ok(BotUser::of(&bot))
    }
}
