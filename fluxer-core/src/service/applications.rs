//! Applications and their bot users; the OAuth2 bot-authorize flow that adds a bot to a guild.

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Result, Unknown};
use crate::id::{ApplicationId, GuildId, UserId};
use crate::model::{Application, ApplicationResponse, Role, User};
use crate::permission::Permissions;
use crate::ports::{Dispatch, EventKind, SessionsRevoked, Topic};
use crate::validation::Validator;

use super::tokens::BotToken;
use super::{Actor, Fluxer};

/// `POST /oauth2/applications`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApplicationCreate {
    /// 1 to 100 characters once trimmed. Also names the bot user (its username is the name with
    /// anything outside `[A-Za-z0-9_.]` turned into `_`, cut to 32).
    pub name: String,
    /// Up to 400 characters; absent means empty.
    #[serde(default)]
    pub description: Option<String>,
    /// OAuth2 redirect URIs, at most 10. Stored and echoed back; nothing checks them yet.
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
    /// Replaces the redirect URIs (at most 10). Absent leaves them unchanged.
    pub redirect_uris: Option<Vec<String>>,
    /// Whether anyone, rather than only the owner, may add the bot. Absent leaves it unchanged.
    pub bot_public: Option<bool>,
    /// Stored and echoed back; the bot-authorize flow does not use it. Absent leaves it unchanged.
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
            bot,
        })
    }

    /// Creates an application and (by default) its bot user; the response carries the bot token once.
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
        };
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
        self.application_response(&app, token.as_ref()).await
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
            out.push(self.application_response(a, None).await?);
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
        self.application_response(&app, None).await
    }

    /// `GET /applications/@me` for a bot: its own application.
    pub async fn current_application(&self, actor: &Actor) -> Result<ApplicationResponse> {
        let app = self
            .store()
            .get_application(ApplicationId(actor.id().0))
            .await?
            .filter(|a| a.bot_user_id == Some(actor.id()))
            .ok_or(Error::Unknown(Unknown::Application))?;
        self.application_response(&app, None).await
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
        self.application_response(&app, None).await
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
