//! Webhooks: manage them, and execute them with their token (no user session).

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Limit, Result, Unknown};
use crate::id::{ChannelId, GuildId, UserId, WebhookId};
use crate::model::{
    Embed, Message, MessageResponse, MessageType, Webhook, WebhookResponse, audit_action,
};
use crate::permission::Permissions;
use crate::ports::{Dispatch, EventKind, Topic};
use crate::validation::Validator;

use super::audit::{Audited, change, diff};
use super::tokens::{random_base62, secrets_equal};
use super::{Actor, ChannelAccess, Fluxer};

/// `POST /channels/{id}/webhooks`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WebhookCreate {
    /// 1 to 80 characters once trimmed; may not contain `clyde` or `fluxer` in any case
    /// (`WEBHOOK_NAME_RESERVED`).
    pub name: String,
    /// The default avatar of its messages, stored as given (not uploaded or checked).
    pub avatar: Option<String>,
}

/// `PATCH /webhooks/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WebhookUpdate {
    /// New name (same rules as on create). Absent leaves it unchanged.
    pub name: Option<String>,
    /// New avatar, stored as given; `null` clears it. Absent leaves it unchanged.
    #[serde(default, deserialize_with = "super::users::nullable")]
    pub avatar: Option<Option<String>>,
    /// Move the webhook to another text channel of its guild; the caller needs `MANAGE_WEBHOOKS`
    /// there too (`INVALID_CHANNEL` otherwise). Not allowed with the token
    /// (`CANNOT_MOVE_WITH_TOKEN`).
    pub channel_id: Option<ChannelId>,
}

/// `POST /webhooks/{id}/{token}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WebhookExecute {
    /// Text, up to `message_content` characters. The message needs content or an embed
    /// (`CANNOT_SEND_EMPTY_MESSAGE`).
    pub content: Option<String>,
    /// Name to show on this message instead of the webhook's (same rules as the webhook name).
    pub username: Option<String>,
    /// Avatar to show on this message instead of the webhook's, up to 2048 characters.
    pub avatar_url: Option<String>,
    /// Text-to-speech; kept as given.
    #[serde(default)]
    pub tts: bool,
    /// Rich embeds, at most `embeds_per_message`; only their number is checked.
    #[serde(default)]
    pub embeds: Vec<Embed>,
    /// Only `parse` is read: leaving out `users` or `everyone` drops those mentions. Mentioned
    /// users must be guild members; role mentions are never recorded.
    #[serde(default)]
    pub allowed_mentions: Option<crate::model::AllowedMentions>,
    /// Message flags; only suppress embeds (`1 << 2`) and suppress notifications (`1 << 12`) are
    /// kept.
    #[serde(default)]
    pub flags: Option<u32>,
    /// Files already stored for the message (see [`Fluxer::execute_webhook_with_files`]); not
    /// read from the body.
    #[serde(skip)]
    pub attachments: Vec<crate::model::Attachment>,
}

fn validate_name(v: &mut Validator, path: &str, name: &str) {
    v.length(path, name.trim(), 1, 80);
    let lower = name.to_lowercase();
    v.check(
        !lower.contains("clyde") && !lower.contains("fluxer"),
        path,
        "WEBHOOK_NAME_RESERVED",
        "This name is reserved.",
    );
}

impl Fluxer {
    async fn webhook_response(&self, hook: &Webhook, with_token: bool) -> Result<WebhookResponse> {
        let user = self
            .user_partials(&[hook.creator_id])
            .await?
            .remove(&hook.creator_id);
        Ok(WebhookResponse {
            id: hook.id,
            kind: 1,
            guild_id: hook.guild_id,
            channel_id: hook.channel_id,
            name: hook.name.clone(),
            avatar: hook.avatar.clone(),
            token: with_token.then(|| hook.token.clone()),
            user,
        })
    }

    async fn emit_webhooks_update(&self, guild_id: GuildId, channel_id: ChannelId) {
        let payload = json!({ "guild_id": guild_id, "channel_id": channel_id });
        self.emit(
            Dispatch::new(EventKind::WebhooksUpdate, Topic::Guild(guild_id), &payload)
                .in_channel(channel_id),
        )
        .await;
    }

    /// Creates a webhook on a guild text channel (`POST /channels/{id}/webhooks`); the response
    /// carries its token. Needs `MANAGE_WEBHOOKS`; `MAX_WEBHOOKS` at the channel's limit. Publishes
    /// `WEBHOOKS_UPDATE`.
    pub async fn create_webhook(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        req: WebhookCreate,
    ) -> Result<WebhookResponse> {
        let mut v = Validator::new();
        validate_name(&mut v, "name", &req.name);
        v.finish()?;
        let access = self.channel_access(actor.id(), channel_id).await?;
        let guild_id = access.guild_id().ok_or(Error::Unknown(Unknown::Channel))?;
        access.require(Permissions::MANAGE_WEBHOOKS)?;
        if !access.channel.kind.is_text() {
            return Err(Error::rejected(
                "INVALID_CHANNEL_TYPE",
                "Webhooks post to text channels only.",
            ));
        }
        if self.store().list_channel_webhooks(channel_id).await?.len()
            >= self.limits().await?.webhooks_per_channel
        {
            return Err(Error::LimitReached {
                limit: Limit::Webhooks,
                max: self.limits().await?.webhooks_per_channel as u64,
            });
        }
        let hook = Webhook {
            id: self.next_id(),
            guild_id,
            channel_id,
            creator_id: actor.id(),
            name: req.name.trim().to_owned(),
            avatar: req.avatar,
            token: random_base62(68),
        };
        self.store().create_webhook(&hook).await?;
        self.emit_webhooks_update(guild_id, channel_id).await;
        let changes = vec![
            change("name", None, Some(hook.name.clone())),
            change("channel_id", None, Some(channel_id.to_string())),
        ];
        let entry = Audited::new(audit_action::WEBHOOK_CREATE, hook.id, changes);
        self.audit(actor, guild_id, entry).await?;
        self.webhook_response(&hook, true).await
    }

    /// The channel's webhooks, with their tokens (`GET /channels/{id}/webhooks`). Needs
    /// `MANAGE_WEBHOOKS` in the channel.
    pub async fn list_channel_webhooks(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
    ) -> Result<Vec<WebhookResponse>> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        access.require(Permissions::MANAGE_WEBHOOKS)?;
        let mut out = Vec::new();
        for h in self.store().list_channel_webhooks(channel_id).await? {
            out.push(self.webhook_response(&h, true).await?);
        }
        Ok(out)
    }

    /// All of the guild's webhooks, with their tokens (`GET /guilds/{id}/webhooks`). Needs
    /// `MANAGE_WEBHOOKS` guild-wide.
    pub async fn list_guild_webhooks(
        &self,
        actor: &Actor,
        guild_id: GuildId,
    ) -> Result<Vec<WebhookResponse>> {
        let access = self.guild_access(actor.id(), guild_id).await?;
        access.require(Permissions::MANAGE_WEBHOOKS)?;
        let mut out = Vec::new();
        for h in self.store().list_guild_webhooks(guild_id).await? {
            out.push(self.webhook_response(&h, true).await?);
        }
        Ok(out)
    }

    /// A webhook the caller may manage (MANAGE_WEBHOOKS in its channel).
    async fn managed_webhook(
        &self,
        actor: &Actor,
        id: WebhookId,
    ) -> Result<(Webhook, ChannelAccess)> {
        let hook = self
            .store()
            .get_webhook(id)
            .await?
            .ok_or(Error::Unknown(Unknown::Webhook))?;
        let access = self
            .channel_access(actor.id(), hook.channel_id)
            .await
            .map_err(|_| Error::Unknown(Unknown::Webhook))?;
        access.require(Permissions::MANAGE_WEBHOOKS)?;
        Ok((hook, access))
    }

    /// A webhook by ID and token (constant-time comparison).
    pub(crate) async fn token_webhook(&self, id: WebhookId, token: &str) -> Result<Webhook> {
        let hook = self
            .store()
            .get_webhook(id)
            .await?
            .ok_or(Error::Unknown(Unknown::Webhook))?;
        if !secrets_equal(hook.token.as_bytes(), token.as_bytes()) {
            return Err(Error::Unknown(Unknown::Webhook));
        }
        Ok(hook)
    }

    /// A webhook with its token (`GET /webhooks/{id}`). Needs `MANAGE_WEBHOOKS` in its channel;
    /// `UNKNOWN_WEBHOOK` when the caller cannot see that channel.
    pub async fn get_webhook(&self, actor: &Actor, id: WebhookId) -> Result<WebhookResponse> {
        let (hook, _) = self.managed_webhook(actor, id).await?;
        self.webhook_response(&hook, true).await
    }

    /// A webhook by ID and token, without the token or creator (`GET /webhooks/{id}/{token}`); no
    /// session needed. `UNKNOWN_WEBHOOK` when the token is wrong.
    pub async fn get_webhook_with_token(
        &self,
        id: WebhookId,
        token: &str,
    ) -> Result<WebhookResponse> {
        let hook = self.token_webhook(id, token).await?;
        let mut r = self.webhook_response(&hook, false).await?;
        r.user = None;
        Ok(r)
    }

    /// Edits a webhook, as a caller with `MANAGE_WEBHOOKS` (`PATCH /webhooks/{id}`) or with its
    /// token (`PATCH /webhooks/{id}/{token}`, no move, token left out of the answer). Publishes
    /// `WEBHOOKS_UPDATE` for the old channel and, after a move, the new one.
    pub async fn update_webhook(
        &self,
        actor: Option<&Actor>,
        id: WebhookId,
        token: Option<&str>,
        req: WebhookUpdate,
    ) -> Result<WebhookResponse> {
        let mut v = Validator::new();
        if let Some(n) = &req.name {
            validate_name(&mut v, "name", n);
        }
        v.finish()?;
        let mut hook = match (actor, token) {
            (_, Some(t)) => {
                if req.channel_id.is_some() {
                    return Err(Error::field(
                        "channel_id",
                        "CANNOT_MOVE_WITH_TOKEN",
                        "Moving a webhook needs authentication.",
                    ));
                }
                self.token_webhook(id, t).await?
            }
            (Some(a), None) => self.managed_webhook(a, id).await?.0,
            (None, None) => return Err(Error::Unauthorized),
        };
        let old_channel = hook.channel_id;
        let before = hook.clone();
        if let (Some(a), Some(target)) = (actor, req.channel_id) {
            let dest = self.channel_access(a.id(), target).await?;
            dest.require(Permissions::MANAGE_WEBHOOKS)?;
            if dest.guild_id() != Some(hook.guild_id) || !dest.channel.kind.is_text() {
                return Err(Error::field(
                    "channel_id",
                    "INVALID_CHANNEL",
                    "Move webhooks within their guild's text channels.",
                ));
            }
            hook.channel_id = target;
        }
        if let Some(n) = req.name {
            hook.name = n.trim().to_owned();
        }
        if let Some(a) = req.avatar {
            hook.avatar = a;
        }
        self.store().update_webhook(&hook).await?;
        self.emit_webhooks_update(hook.guild_id, old_channel).await;
        if old_channel != hook.channel_id {
            self.emit_webhooks_update(hook.guild_id, hook.channel_id)
                .await;
        }
        // Changes through the token are the webhook's own, not a member's.
        if let Some(a) = actor.filter(|_| token.is_none()) {
            let changes = diff(&before, &hook, &["token", "creator_id"]);
            if !changes.is_empty() {
                let entry = Audited::new(audit_action::WEBHOOK_UPDATE, hook.id, changes);
                self.audit(a, hook.guild_id, entry).await?;
            }
        }
        self.webhook_response(&hook, token.is_none()).await
    }

    /// Deletes a webhook, as a caller with `MANAGE_WEBHOOKS` in its channel
    /// (`DELETE /webhooks/{id}`) or with its token (`DELETE /webhooks/{id}/{token}`). Publishes
    /// `WEBHOOKS_UPDATE`.
    pub async fn delete_webhook(
        &self,
        actor: Option<&Actor>,
        id: WebhookId,
        token: Option<&str>,
    ) -> Result<()> {
        let hook = match (actor, token) {
            (_, Some(t)) => self.token_webhook(id, t).await?,
            (Some(a), None) => self.managed_webhook(a, id).await?.0,
            (None, None) => return Err(Error::Unauthorized),
        };
        self.store().delete_webhook(id).await?;
        self.emit_webhooks_update(hook.guild_id, hook.channel_id)
            .await;
        if let Some(a) = actor.filter(|_| token.is_none()) {
            let changes = vec![change("name", Some(hook.name.clone()), None)];
            let entry = Audited::new(audit_action::WEBHOOK_DELETE, hook.id, changes);
            self.audit(a, hook.guild_id, entry).await?;
        }
        Ok(())
    }

    /// Posts a message as the webhook. Returns the message (hosts answer 204 unless `?wait=true`).
    pub async fn execute_webhook(
        &self,
        id: WebhookId,
        token: &str,
        req: WebhookExecute,
    ) -> Result<MessageResponse> {
        let hook = self.token_webhook(id, token).await?;
        let content = req.content.clone().unwrap_or_default();
        let mut v = Validator::new();
        v.length("content", &content, 0, self.limits().await?.message_content);
        if let Some(u) = &req.username {
            validate_name(&mut v, "username", u);
        }
        v.opt_length("avatar_url", req.avatar_url.as_deref(), 0, 2048);
        v.count(
            "embeds",
            req.embeds.len(),
            self.limits().await?.embeds_per_message,
        );
        v.finish()?;
        if content.trim().is_empty() && req.embeds.is_empty() && req.attachments.is_empty() {
            return Err(Error::rejected(
                "CANNOT_SEND_EMPTY_MESSAGE",
                "Cannot send an empty message.",
            ));
        }
        let channel = self
            .store()
            .get_channel(hook.channel_id)
            .await?
            .ok_or(Error::Unknown(Unknown::Channel))?;
        let parsed = super::messages::parse_mentions(&content);
        let allow = |kind: &str| {
            req.allowed_mentions
                .as_ref()
                .and_then(|a| a.parse.as_ref())
                .is_none_or(|p| p.iter().any(|x| x == kind))
        };
        let mention_ids: Vec<UserId> = if allow("users") {
            let members = self
                .store()
                .get_members(hook.guild_id, &parsed.users)
                .await?;
            parsed
                .users
                .into_iter()
                .filter(|u| members.iter().any(|m| m.user_id == *u))
                .collect()
        } else {
            Vec::new()
        };
        let message = Message {
            id: self.next_id(),
            channel_id: hook.channel_id,
            guild_id: Some(hook.guild_id),
            author_id: UserId(hook.id.0),
            webhook_id: Some(hook.id),
            webhook_name: Some(
                req.username
                    .map(|u| u.trim().to_owned())
                    .unwrap_or_else(|| hook.name.clone()),
            ),
            webhook_avatar: req.avatar_url.or_else(|| hook.avatar.clone()),
            kind: MessageType::Default,
            flags: req.flags.unwrap_or(0) & (1 << 2 | 1 << 12),
            content,
            edited_timestamp: None,
            pinned_at: None,
            mention_everyone: parsed.everyone && allow("everyone"),
            mention_ids,
            mention_role_ids: Vec::new(),
            attachments: req.attachments,
            embeds: req
                .embeds
                .into_iter()
                .map(Embed::with_default_kind)
                .collect(),
            message_reference: None,
            nonce: None,
            tts: req.tts,
            stickers: Vec::new(),
        };
        // Searchable as any message; webhooks notify nobody (as upstream).
        self.store_new_message(&message, false).await?;
        for user in &message.mention_ids {
            self.store()
                .add_mentions(*user, message.channel_id, 1)
                .await?;
        }
        self.record_mentions(&message).await?;
        let response = self.message_response(message.author_id, message).await?;
        let response = super::messages::encode_new_message(response)?;
        let payload = super::messages::message_create_payload(&response, None, channel.kind);
        self.emit_channel_event_text(EventKind::MessageCreate, &channel, payload)
            .await;
        Ok(response.into_value())
    }

    /// Executes a webhook with files (a multipart body, as upstream accepts): the token is
    /// checked, the files stored, then the message posted; files of a refused message are
    /// removed again.
    pub async fn execute_webhook_with_files(
        &self,
        id: WebhookId,
        token: &str,
        mut req: WebhookExecute,
        files: Vec<super::Upload>,
    ) -> Result<MessageResponse> {
        if files.is_empty() {
            return self.execute_webhook(id, token, req).await;
        }
        let hook = self.token_webhook(id, token).await?;
        // A webhook has no account: the instance's limits.
        let limits = self.limits().await?;
        let stored = self
            .store_attachments(hook.channel_id, files, &limits)
            .await?;
        let keys: Vec<String> = stored.iter().map(|a| a.url.clone()).collect();
        req.attachments = stored;
        match self.execute_webhook(id, token, req).await {
            Ok(m) => Ok(m),
            Err(e) => {
                self.delete_blobs_later(keys).await;
                Err(e)
            }
        }
    }
}
