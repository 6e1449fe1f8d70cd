//! Messages: send (with mentions, replies, embeds), history, edit, delete, bulk delete, reactions,
//! pins and read states.

use serde::{Deserialize, Deserializer};
use serde_json::json;

use crate::error::{Error, Limit, Result, Unknown};
use crate::id::{AttachmentId, ChannelId, ExpressionId, MessageId, RoleId, UserId};
use crate::model::{
    AllowedMentions, Attachment, ChannelType, Embed, Encoded, MemberResponse, Message,
    MessageReference, MessageResponse, MessageType, ReactionEmoji, ReadState, RelationshipType,
    audit_action,
};
use crate::permission::Permissions;
use crate::ports::{Dispatch, EventKind, MessagePage, Topic};
use crate::validation::Validator;

use super::audit::Audited;
use super::{Actor, ChannelAccess, Fluxer};

/// `POST /channels/{id}/messages` (the JSON part; uploaded files arrive as `attachments`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessageCreate {
    /// Text, up to `message_content` characters; mentions are read from it. A message needs
    /// content, an embed or an attachment (`CANNOT_SEND_EMPTY_MESSAGE`).
    #[serde(default)]
    pub content: Option<String>,
    /// The client's own tag for the pending message, a string or an integer of 1 to 32 characters;
    /// stored and sent back so the client can match the echo.
    #[serde(default, deserialize_with = "nonce")]
    pub nonce: Option<String>,
    /// Text-to-speech. Kept only when the caller has `SEND_TTS_MESSAGES`; otherwise silently
    /// dropped.
    #[serde(default)]
    pub tts: bool,
    /// Rich embeds, at most `embeds_per_message`; needs `EMBED_LINKS`. Title up to 256, description
    /// up to 4096, URL up to 2048, at most 25 fields (name 1 to 256, value 1 to 1024), color 0 to
    /// 0xFFFFFF, and at most 6000 characters over all embeds.
    #[serde(default)]
    pub embeds: Vec<Embed>,
    /// Makes the message a reply to `message_id` in this same channel (`INVALID_MESSAGE_REFERENCE`,
    /// `UNKNOWN_MESSAGE`). Needs `READ_MESSAGE_HISTORY`. The replied-to author is mentioned unless
    /// `allowed_mentions.replied_user` is false.
    #[serde(default)]
    pub message_reference: Option<MessageReference>,
    /// Which mentions written in the content count. Absent: all of them. `@everyone` / `@here` also
    /// need `MENTION_EVERYONE`, a role needs to be mentionable (or `MENTION_EVERYONE`), and only
    /// members or recipients of the channel can be mentioned (100 users at most).
    #[serde(default)]
    pub allowed_mentions: Option<AllowedMentions>,
    /// Message flags; only suppress embeds (`1 << 2`) and suppress notifications (`1 << 12`) are
    /// kept.
    #[serde(default)]
    pub flags: Option<u32>,
    /// Stickers to send, at most 3: the guild's own, or (with USE_EXTERNAL_STICKERS) another
    /// guild's; a message may hold only stickers.
    #[serde(default)]
    pub sticker_ids: Vec<ExpressionId>,
    /// Attaches a copy of one of the sender's saved media (`FAVORITE_MEME_NOT_FOUND` otherwise);
    /// needs ATTACH_FILES.
    #[serde(default)]
    pub favorite_meme_id: Option<AttachmentId>,
    /// Files stored by the host before calling `send_message`.
    #[serde(skip)]
    pub attachments: Vec<Attachment>,
}

/// `PATCH /channels/{id}/messages/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessageEdit {
    /// New text, up to `message_content` characters; author only. Mentions are read again. Absent
    /// leaves it unchanged.
    pub content: Option<String>,
    /// Replaces the embeds (same rules as when sending); author only. Absent leaves them unchanged.
    pub embeds: Option<Vec<Embed>>,
    /// New flags. The author may set suppress embeds (`1 << 2`) and `1 << 12`; a moderator with
    /// `MANAGE_MESSAGES` may only toggle suppress embeds, and only with no `content` or `embeds`.
    pub flags: Option<u32>,
    /// Which mentions in the new `content` count (as when sending); ignored without `content`.
    pub allowed_mentions: Option<AllowedMentions>,
}

/// `GET /channels/{id}/messages` query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessageQuery {
    /// Page size, 1 to 100 (default 50).
    pub limit: Option<u32>,
    /// Messages older than this ID.
    pub before: Option<MessageId>,
    /// Messages newer than this ID.
    pub after: Option<MessageId>,
    /// Messages on both sides of this ID. At most one of `before`, `after` and `around`
    /// (`TOO_MANY_CURSORS`); none gives the latest.
    pub around: Option<MessageId>,
}

/// Nonces arrive as strings or integers (1-32 characters).
fn nonce<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            return Err(serde::de::Error::custom(
                "nonce must be a string or an integer",
            ));
        }
    })
}

/// Message flags a client may set.
const CLIENT_FLAGS: u32 = (1 << 2) | (1 << 12);
const SUPPRESS_EMBEDS: u32 = 1 << 2;

fn validate_embeds(v: &mut Validator, embeds: &[Embed], max: usize) {
    v.count("embeds", embeds.len(), max);
    let mut total = 0usize;
    for (i, e) in embeds.iter().enumerate() {
        let p = |f: &str| format!("embeds.{i}.{f}");
        v.opt_length(&p("title"), e.title.as_deref(), 0, 256);
        v.opt_length(&p("description"), e.description.as_deref(), 0, 4096);
        v.opt_length(&p("url"), e.url.as_deref(), 0, 2048);
        v.count(&p("fields"), e.fields.len(), 25);
        if let Some(c) = e.color {
            v.range(&p("color"), i64::from(c), 0, 0xFF_FFFF);
        }
        for (j, f) in e.fields.iter().enumerate() {
            v.length(&format!("embeds.{i}.fields.{j}.name"), &f.name, 1, 256);
            v.length(&format!("embeds.{i}.fields.{j}.value"), &f.value, 1, 1024);
            total += f.name.chars().count() + f.value.chars().count();
        }
        total += e.title.as_deref().map_or(0, |s| s.chars().count())
            + e.description.as_deref().map_or(0, |s| s.chars().count());
    }
    v.check(
        total <= 6000,
        "embeds",
        "EMBED_TOO_LARGE",
        "Embeds may hold at most 6000 characters in all.",
    );
}

/// Mentions written in content: `<@id>`, `<@!id>`, `<@&id>`, `@everyone`, `@here`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ParsedMentions {
    pub users: Vec<UserId>,
    pub roles: Vec<RoleId>,
    pub everyone: bool,
}

pub(crate) fn parse_mentions(content: &str) -> ParsedMentions {
    let mut out = ParsedMentions {
        everyone: content.contains("@everyone") || content.contains("@here"),
        ..Default::default()
    };
    let mut rest = content;
    while let Some(start) = rest.find("<@") {
        rest = &rest[start + 2..];
        let (is_role, body) = match rest.as_bytes().first() {
            Some(b'&') => (true, &rest[1..]),
            Some(b'!') => (false, &rest[1..]),
            _ => (false, rest),
        };
        let Some(end) = body.find('>') else { break };
        if let Ok(id) = body[..end].parse::<u64>() {
            if is_role {
                let id = RoleId::new(id);
                if !out.roles.contains(&id) {
                    out.roles.push(id);
                }
            } else {
                let id = UserId::new(id);
                if !out.users.contains(&id) {
                    out.users.push(id);
                }
            }
        }
    }
    out
}

/// A new message as answered to its sender, serialized once: its text is also the start of its
/// `MESSAGE_CREATE` event ([`message_create_payload`]). Sized for a message with a kilobyte of
/// fields around its content.
pub(crate) fn encode_new_message(response: MessageResponse) -> Result<Encoded<MessageResponse>> {
    let capacity = 1024 + response.content.len() + 512 * response.attachments.len();
    Encoded::with_capacity(response, capacity)
        .map_err(|e| Error::Internal(format!("could not serialize a message: {e}")))
}

/// MESSAGE_CREATE's payload, as upstream's dispatch: the message's fields (as answered to the
/// sender), then its author's member (in a guild, unless a webhook posted it) and the channel's
/// type beside them. Written onto the message's text instead of serializing the message again.
pub(crate) fn message_create_payload(
    message: &Encoded<MessageResponse>,
    member: Option<&MemberResponse>,
    channel_type: ChannelType,
) -> String {
    message_fields_with(message.json(), member, channel_type)
}

/// The fields of the JSON object `message`, then `member` and `channel_type`.
fn message_fields_with(
    message: &str,
    member: Option<&MemberResponse>,
    channel_type: ChannelType,
) -> String {
    let fields = message.strip_suffix('}').unwrap_or(message);
    let mut out = Vec::with_capacity(message.len() + 512);
    out.extend_from_slice(fields.as_bytes());
    if let Some(member) = member {
        out.extend_from_slice(b",\"member\":");
        // A member always serializes (string keys only); were it to fail, the event would go
        // without it rather than not at all.
        if serde_json::to_writer(&mut out, member).is_err() {
            out.truncate(fields.len());
        }
    }
    out.extend_from_slice(b",\"channel_type\":");
    out.extend_from_slice(u16::from(channel_type).to_string().as_bytes());
    out.push(b'}');
    String::from_utf8(out).unwrap_or_else(|_| message.to_owned())
}

impl Fluxer {
    /// Posts a message.
    pub async fn send_message(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        mut req: MessageCreate,
    ) -> Result<Encoded<MessageResponse>> {
        if let Some(meme) = req.favorite_meme_id.take() {
            let access = self.channel_access(actor.id(), channel_id).await?;
            access.require(
                Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES | Permissions::ATTACH_FILES,
            )?;
            let copy = self.attach_meme(actor.id(), channel_id, meme).await?;
            let key = copy.url.clone();
            req.attachments.push(copy);
            let sent = Box::pin(self.send_message(actor, channel_id, req)).await;
            if sent.is_err() {
                self.delete_blobs_later([key]).await;
            }
            return sent;
        }
        let access = self.channel_access(actor.id(), channel_id).await?;
        self.check_sendable(actor, &access, &req).await?;
        self.check_slowmode(actor, &access).await?;
        let reference = self.reply_target(&access, &req).await?;
        let stickers = self
            .resolve_stickers(actor.id(), &access, &req.sticker_ids)
            .await?;
        let content = self
            .sanitize_custom_emojis(
                actor.id(),
                &access,
                req.content.as_deref().unwrap_or_default(),
            )
            .await?;
        let (mention_ids, mention_role_ids, mention_everyone) = self
            .resolve_mentions(
                &access,
                &content,
                req.allowed_mentions.as_ref(),
                reference.as_ref().map(|r| r.1),
            )
            .await?;
        let (embeds, previews_pending) = if req.embeds.is_empty() {
            self.cached_previews(&access, &content).await?
        } else {
            let own = req.embeds.into_iter().map(Embed::with_default_kind);
            (own.collect(), false)
        };
        let message = Message {
            id: self.next_id(),
            channel_id,
            guild_id: access.guild_id(),
            author_id: actor.id(),
            webhook_id: None,
            webhook_name: None,
            webhook_avatar: None,
            kind: if reference.is_some() {
                MessageType::Reply
            } else {
                MessageType::Default
            },
            flags: req.flags.unwrap_or(0) & CLIENT_FLAGS,
            content,
            edited_timestamp: None,
            pinned_at: None,
            mention_everyone,
            mention_ids,
            mention_role_ids,
            attachments: req.attachments,
            embeds,
            message_reference: reference.map(|r| r.0),
            nonce: req.nonce,
            tts: req.tts && access.permissions.contains(Permissions::SEND_TTS_MESSAGES),
            stickers,
        };
        self.store_new_message(&message, true).await?;
        if previews_pending {
            // The message is sent; a preview that cannot be queued is only a preview missed.
            let _ = self.preview_later(&message).await;
        }
        self.after_message_created(&access, actor, message).await
    }

    /// Everything that decides whether `req` may be sent to this channel now, short of slowmode
    /// (which counts the send) and the reply target: the channel takes messages, the permissions
    /// for what it carries, the body's limits, and whether the DM is open. Scheduling a message
    /// runs it too.
    pub(crate) async fn check_sendable(
        &self,
        actor: &Actor,
        access: &ChannelAccess,
        req: &MessageCreate,
    ) -> Result<()> {
        if !access.channel.kind.is_text() {
            return Err(Error::rejected(
                "CANNOT_SEND_MESSAGES_IN_NON_TEXT_CHANNEL",
                "This channel does not take messages.",
            ));
        }
        access.require(Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES)?;
        if self.config().require_verified_email && !actor.user.email_verified && !actor.is_bot() {
            return Err(Error::forbidden(
                "EMAIL_VERIFICATION_REQUIRED",
                "Verify your email to send messages.",
            ));
        }
        let content = req.content.as_deref().unwrap_or_default();
        let limits = self.limits_for(&actor.user).await?;
        let mut v = Validator::new();
        v.length("content", content, 0, limits.message_content);
        if let Some(n) = &req.nonce {
            v.length("nonce", n, 1, 32);
        }
        validate_embeds(&mut v, &req.embeds, limits.embeds_per_message);
        v.count(
            "attachments",
            req.attachments.len(),
            limits.attachments_per_message,
        );
        v.count("sticker_ids", req.sticker_ids.len(), 3);
        v.finish()?;
        if content.trim().is_empty()
            && req.embeds.is_empty()
            && req.attachments.is_empty()
            && req.sticker_ids.is_empty()
        {
            return Err(Error::rejected(
                "CANNOT_SEND_EMPTY_MESSAGE",
                "Cannot send an empty message.",
            ));
        }
        if !req.embeds.is_empty() {
            access.require(Permissions::EMBED_LINKS)?;
        }
        if !req.attachments.is_empty() {
            access.require(Permissions::ATTACH_FILES)?;
        }
        self.check_dm_allowed(actor, access).await
    }

    /// The message `req` replies to, checked: in this channel, readable, and still there; with
    /// its author (who is mentioned unless the sender says otherwise).
    pub(crate) async fn reply_target(
        &self,
        access: &ChannelAccess,
        req: &MessageCreate,
    ) -> Result<Option<(MessageReference, UserId)>> {
        let Some(r) = &req.message_reference else {
            return Ok(None);
        };
        let channel_id = access.channel.id;
        access.require(Permissions::READ_MESSAGE_HISTORY)?;
        if r.channel_id.is_some_and(|c| c != channel_id) {
            return Err(Error::field(
                "message_reference.channel_id",
                "INVALID_MESSAGE_REFERENCE",
                "Replies must be in the same channel.",
            ));
        }
        let target = self
            .store()
            .get_message(channel_id, r.message_id)
            .await?
            .ok_or(Error::Unknown(Unknown::Message))?;
        Ok(Some((
            MessageReference {
                message_id: target.id,
                channel_id: Some(channel_id),
                guild_id: access.guild_id(),
                kind: 0,
            },
            target.author_id,
        )))
    }

    /// Stores mention counts and publishes `MESSAGE_CREATE`; shared by users, bots and webhooks.
    pub(crate) async fn after_message_created(
        &self,
        access: &ChannelAccess,
        actor: &Actor,
        message: Message,
    ) -> Result<Encoded<MessageResponse>> {
        for user in &message.mention_ids {
            if *user != message.author_id {
                self.store()
                    .add_mentions(*user, message.channel_id, 1)
                    .await?;
            }
        }
        self.record_mentions(&message).await?;
        // A DM's first message opens it for the recipient, who was told of no channel yet.
        let channel = &access.channel;
        if channel.kind == ChannelType::Dm && channel.last_message_id.is_none() {
            for user in channel.recipient_ids.iter().filter(|u| **u != actor.id()) {
                let response = self.channel_response(Some(*user), channel).await?;
                self.emit(Dispatch::new(
                    EventKind::ChannelCreate,
                    Topic::User(*user),
                    &response,
                ))
                .await;
            }
        }
        let response = encode_new_message(self.new_message_response(&actor.user, message).await?)?;
        let member = access
            .guild
            .as_ref()
            .filter(|_| response.webhook_id.is_none())
            .map(|g| g.member.response(actor.user.partial()));
        let payload = message_create_payload(&response, member.as_ref(), access.channel.kind);
        self.emit_channel_event_text(EventKind::MessageCreate, &access.channel, payload)
            .await;
        Ok(response)
    }

    /// Posts a system message (a pin, a recipient added or removed) by `actor` in the channel.
    pub(crate) async fn post_system_message(
        &self,
        access: &ChannelAccess,
        actor: &Actor,
        kind: MessageType,
        mention_ids: Vec<UserId>,
        reference: Option<MessageReference>,
    ) -> Result<Encoded<MessageResponse>> {
        let message = Message {
            id: self.next_id(),
            channel_id: access.channel.id,
            guild_id: access.guild_id(),
            author_id: actor.id(),
            webhook_id: None,
            webhook_name: None,
            webhook_avatar: None,
            kind,
            flags: 0,
            content: String::new(),
            edited_timestamp: None,
            pinned_at: None,
            mention_everyone: false,
            mention_ids,
            mention_role_ids: Vec::new(),
            attachments: Vec::new(),
            embeds: Vec::new(),
            message_reference: reference,
            nonce: None,
            tts: false,
            stickers: Vec::new(),
        };
        self.store_new_message(&message, true).await?;
        self.after_message_created(access, actor, message).await
    }

    /// One message per `rate_limit_per_user` seconds per member, unless the member may bypass slowmode.
    async fn check_slowmode(&self, actor: &Actor, access: &ChannelAccess) -> Result<()> {
        let interval = access.channel.rate_limit_per_user;
        let exempt = Permissions::BYPASS_SLOWMODE
            | Permissions::MANAGE_MESSAGES
            | Permissions::MANAGE_CHANNELS;
        if interval == 0 || access.permissions.intersects(exempt) {
            return Ok(());
        }
        let key = format!("slowmode:{}:{}", access.channel.id, actor.id());
        let window = std::time::Duration::from_secs(u64::from(interval));
        let hit = self.ports().cache.hit(&key, window).await?;
        if hit.count > 1 {
            return Err(Error::SlowmodeRateLimited {
                retry_after_ms: hit.reset_after_ms.max(1),
            });
        }
        Ok(())
    }

    /// A DM may not be sent to someone who blocked the sender (or whom the sender blocked).
    async fn check_dm_allowed(&self, actor: &Actor, access: &ChannelAccess) -> Result<()> {
        if access.channel.kind != crate::model::ChannelType::Dm {
            return Ok(());
        }
        for other in access
            .channel
            .recipient_ids
            .iter()
            .filter(|id| **id != actor.id())
        {
            let theirs = self.store().get_relationship(*other, actor.id()).await?;
            let mine = self.store().get_relationship(actor.id(), *other).await?;
            if [theirs, mine]
                .iter()
                .flatten()
                .any(|r| r.kind == RelationshipType::Blocked)
            {
                return Err(Error::rejected(
                    "CANNOT_SEND_MESSAGES_TO_USER",
                    "You cannot send messages to this user.",
                ));
            }
        }
        Ok(())
    }

    /// Applies `allowed_mentions` and permissions to the mentions written in content.
    async fn resolve_mentions(
        &self,
        access: &ChannelAccess,
        content: &str,
        allowed: Option<&AllowedMentions>,
        replied_author: Option<UserId>,
    ) -> Result<(Vec<UserId>, Vec<RoleId>, bool)> {
        let parsed = parse_mentions(content);
        let parse_allows = |kind: &str| {
            allowed
                .and_then(|a| a.parse.as_ref())
                .is_none_or(|p| p.iter().any(|x| x == kind))
        };
        let mut users: Vec<UserId> = match allowed {
            Some(a) if a.users.is_some() => parsed
                .users
                .iter()
                .copied()
                .filter(|u| a.users.as_ref().is_some_and(|list| list.contains(u)))
                .collect(),
            _ if parse_allows("users") => parsed.users.clone(),
            _ => Vec::new(),
        };
        users.truncate(100);
        let mut roles: Vec<RoleId> = match allowed {
            Some(a) if a.roles.is_some() => parsed
                .roles
                .iter()
                .copied()
                .filter(|r| a.roles.as_ref().is_some_and(|list| list.contains(r)))
                .collect(),
            _ if parse_allows("roles") => parsed.roles.clone(),
            _ => Vec::new(),
        };
        let everyone = parsed.everyone
            && parse_allows("everyone")
            && access.permissions.contains(Permissions::MENTION_EVERYONE);
        if let Some(author) = replied_author
            && allowed.and_then(|a| a.replied_user).unwrap_or(true)
            && !users.contains(&author)
        {
            users.push(author);
        }
        match &access.guild {
            Some(g) => {
                let members = self.store().get_members(g.guild.id, &users).await?;
                users.retain(|u| members.iter().any(|m| m.user_id == *u));
                let can_ping_all = access.permissions.contains(Permissions::MENTION_EVERYONE);
                roles.retain(|r| {
                    g.roles.iter().any(|role| {
                        role.id == *r && !role.is_everyone() && (role.mentionable || can_ping_all)
                    })
                });
            }
            None => {
                users.retain(|u| access.channel.recipient_ids.contains(u));
                roles.clear();
            }
        }
        Ok((users, roles, everyone))
    }

    /// A page of history, newest first. Without READ_MESSAGE_HISTORY the page is empty.
    pub async fn list_messages(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        q: MessageQuery,
    ) -> Result<Vec<MessageResponse>> {
        let limit = q.limit.unwrap_or(50);
        let mut v = Validator::new();
        v.range("limit", i64::from(limit), 1, 100);
        let cursors = [q.before.is_some(), q.after.is_some(), q.around.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        v.check(
            cursors <= 1,
            "around",
            "TOO_MANY_CURSORS",
            "Use only one of before, after and around.",
        );
        v.finish()?;
        let access = self.channel_access(actor.id(), channel_id).await?;
        if !access
            .permissions
            .contains(Permissions::READ_MESSAGE_HISTORY)
        {
            return Ok(Vec::new());
        }
        let page = match (q.before, q.after, q.around) {
            (Some(b), _, _) => MessagePage::Before(b),
            (_, Some(a), _) => MessagePage::After(a),
            (_, _, Some(a)) => MessagePage::Around(a),
            _ => MessagePage::Latest,
        };
        let read = self
            .store()
            .history_page(channel_id, page, limit, actor.id())
            .await?;
        self.history_responses(actor.id(), read).await
    }

    /// One message (`GET /channels/{id}/messages/{message_id}`). Needs `READ_MESSAGE_HISTORY`;
    /// `UNKNOWN_MESSAGE` when it is not in this channel.
    pub async fn get_message(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        message_id: MessageId,
    ) -> Result<MessageResponse> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        access.require(Permissions::READ_MESSAGE_HISTORY)?;
        let message = self.load_message(channel_id, message_id).await?;
        self.message_response(actor.id(), message).await
    }

    pub(crate) async fn load_message(
        &self,
        channel_id: ChannelId,
        message_id: MessageId,
    ) -> Result<Message> {
        self.store()
            .get_message(channel_id, message_id)
            .await?
            .ok_or(Error::Unknown(Unknown::Message))
    }

    /// Edits a message. Only the author changes content and embeds; moderators may only toggle
    /// SUPPRESS_EMBEDS. Returns (and dispatches) the full message.
    pub async fn edit_message(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        message_id: MessageId,
        req: MessageEdit,
    ) -> Result<MessageResponse> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        let mut message = self.load_message(channel_id, message_id).await?;
        let is_author = message.author_id == actor.id() && message.webhook_id.is_none();
        if !is_author {
            let only_flags = req.content.is_none() && req.embeds.is_none();
            if !(only_flags && access.permissions.contains(Permissions::MANAGE_MESSAGES)) {
                return Err(Error::forbidden(
                    "CANNOT_EDIT_OTHER_USER_MESSAGE",
                    "You can only edit your own messages.",
                ));
            }
        }
        let limits = self.limits_for(&actor.user).await?;
        let mut v = Validator::new();
        if let Some(c) = &req.content {
            v.length("content", c, 0, limits.message_content);
        }
        if let Some(e) = &req.embeds {
            validate_embeds(&mut v, e, limits.embeds_per_message);
        }
        v.finish()?;
        let content_changed = req.content.as_ref().is_some_and(|c| *c != message.content);
        if let Some(content) = req.content {
            let content = self
                .sanitize_custom_emojis(actor.id(), &access, &content)
                .await?;
            let (users, roles, everyone) = self
                .resolve_mentions(&access, &content, req.allowed_mentions.as_ref(), None)
                .await?;
            message.content = content;
            message.mention_ids = users;
            message.mention_role_ids = roles;
            message.mention_everyone = everyone;
        }
        let mut previews_pending = false;
        if let Some(embeds) = req.embeds {
            message.embeds = embeds.into_iter().map(Embed::with_default_kind).collect();
        } else if content_changed && super::unfurl::only_previews(&message.embeds) {
            (message.embeds, previews_pending) =
                self.cached_previews(&access, &message.content).await?;
        }
        if let Some(flags) = req.flags {
            let settable = if is_author {
                CLIENT_FLAGS
            } else {
                SUPPRESS_EMBEDS
            };
            message.flags = (message.flags & !settable) | (flags & settable);
        }
        if message.content.trim().is_empty()
            && message.embeds.is_empty()
            && message.attachments.is_empty()
            && message.stickers.is_empty()
        {
            return Err(Error::rejected(
                "CANNOT_SEND_EMPTY_MESSAGE",
                "Cannot send an empty message.",
            ));
        }
        message.edited_timestamp = Some(self.now());
        self.store().update_message(&message).await?;
        if previews_pending {
            let _ = self.preview_later(&message).await;
        }
        self.index_later(&[(message.channel_id, message.id)]).await;
        // Not `new_message_response`: an edited message may have reactions.
        let response = self.message_response(actor.id(), message).await?;
        self.emit_channel_event(EventKind::MessageUpdate, &access.channel, &response)
            .await;
        Ok(response)
    }

    /// Deletes a message: its author, or anyone with MANAGE_MESSAGES in a guild channel.
    pub async fn delete_message(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        message_id: MessageId,
    ) -> Result<()> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        let message = self.load_message(channel_id, message_id).await?;
        let own = message.author_id == actor.id() && message.webhook_id.is_none();
        if !own
            && (access.guild.is_none()
                || !access.permissions.contains(Permissions::MANAGE_MESSAGES))
        {
            return Err(Error::MissingPermissions);
        }
        self.store().delete_message(channel_id, message_id).await?;
        self.unindex_later(&[message_id]).await;
        self.delete_message_files(std::slice::from_ref(&message))
            .await;
        let payload =
            json!({ "id": message_id, "channel_id": channel_id, "guild_id": access.guild_id() });
        self.emit_channel_event(EventKind::MessageDelete, &access.channel, &payload)
            .await;
        if let (false, Some(guild_id)) = (own, access.guild_id()) {
            let entry = Audited::new(audit_action::MESSAGE_DELETE, message.author_id, Vec::new())
                .options(json!({ "channel_id": channel_id, "count": 1 }));
            self.audit(actor, guild_id, entry).await?;
        }
        Ok(())
    }

    /// Deletes 2-100 messages younger than 14 days at once.
    pub async fn bulk_delete_messages(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        ids: Vec<MessageId>,
    ) -> Result<()> {
        let mut v = Validator::new();
        v.check(
            ids.len() >= 2,
            "messages",
            "BASE_TYPE_MIN_LENGTH",
            "Provide at least 2 messages.",
        );
        let limits = self.limits().await?;
        v.count("messages", ids.len(), limits.bulk_delete);
        let oldest = self.now().plus_ms(-limits.bulk_delete_max_age_ms);
        for (i, id) in ids.iter().enumerate() {
            v.check(
                id.timestamp() >= oldest,
                &format!("messages.{i}"),
                "MESSAGE_TOO_OLD",
                "Messages older than 14 days cannot be bulk deleted.",
            );
        }
        v.finish()?;
        let access = self.channel_access(actor.id(), channel_id).await?;
        if access.guild.is_none() {
            return Err(Error::rejected(
                "CANNOT_EXECUTE_ON_DM",
                "Bulk delete works in guild channels only.",
            ));
        }
        access.require(Permissions::MANAGE_MESSAGES)?;
        let mut with_files = Vec::new();
        for id in &ids {
            if let Some(m) = self.store().get_message(channel_id, *id).await?
                && !m.attachments.is_empty()
            {
                with_files.push(m);
            }
        }
        let deleted = self.store().delete_messages(channel_id, &ids).await?;
        self.unindex_later(&deleted).await;
        with_files.retain(|m| deleted.contains(&m.id));
        self.delete_message_files(&with_files).await;
        if !deleted.is_empty() {
            let payload =
                json!({ "ids": deleted, "channel_id": channel_id, "guild_id": access.guild_id() });
            self.emit_channel_event(EventKind::MessageDeleteBulk, &access.channel, &payload)
                .await;
            if let Some(guild_id) = access.guild_id() {
                let entry = Audited::new(audit_action::MESSAGE_BULK_DELETE, channel_id, Vec::new())
                    .options(json!({ "count": deleted.len() }));
                self.audit(actor, guild_id, entry).await?;
            }
        }
        Ok(())
    }

    fn reaction_payload(
        &self,
        access: &ChannelAccess,
        message_id: MessageId,
        user: UserId,
        emoji: &ReactionEmoji,
    ) -> serde_json::Value {
        json!({
            "user_id": user,
            "channel_id": access.channel.id,
            "message_id": message_id,
            "guild_id": access.guild_id(),
            "emoji": emoji,
        })
    }

    /// Adds the caller's reaction.
    pub async fn add_reaction(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        message_id: MessageId,
        emoji: &ReactionEmoji,
    ) -> Result<()> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        access.require(Permissions::READ_MESSAGE_HISTORY)?;
        self.load_message(channel_id, message_id).await?;
        let existing = self
            .store()
            .reaction_counts(channel_id, &[message_id], actor.id())
            .await?;
        let key = emoji.key();
        let emoji = match existing.iter().find(|(_, r)| r.emoji.key() == key) {
            // Others reacted with it already: join them, as they stored it.
            Some((_, r)) => r.emoji.clone(),
            None => {
                access.require(Permissions::ADD_REACTIONS)?;
                let max = self.limits().await?.reactions_per_message;
                if existing.len() as u32 >= max {
                    return Err(Error::LimitReached {
                        limit: Limit::Reactions,
                        max: u64::from(max),
                    });
                }
                self.reaction_emoji(actor.id(), &access, emoji).await?
            }
        };
        let emoji = &emoji;
        if self
            .store()
            .add_reaction(channel_id, message_id, emoji, actor.id())
            .await?
        {
            let mut payload = self.reaction_payload(&access, message_id, actor.id(), emoji);
            if let Some(g) = &access.guild {
                payload["member"] = serde_json::to_value(g.member.response(actor.user.partial()))
                    .unwrap_or_default();
            }
            self.emit_channel_event(EventKind::MessageReactionAdd, &access.channel, &payload)
                .await;
        }
        Ok(())
    }

    /// Removes a reaction: the caller's own (`user` = `None`), or someone else's with MANAGE_MESSAGES.
    pub async fn remove_reaction(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        message_id: MessageId,
        emoji: &ReactionEmoji,
        user: Option<UserId>,
    ) -> Result<()> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        let target = user.unwrap_or(actor.id());
        if target != actor.id() {
            access.require(Permissions::MANAGE_MESSAGES)?;
        }
        self.load_message(channel_id, message_id).await?;
        if self
            .store()
            .remove_reaction(channel_id, message_id, &emoji.key(), target)
            .await?
        {
            let payload = self.reaction_payload(&access, message_id, target, emoji);
            self.emit_channel_event(EventKind::MessageReactionRemove, &access.channel, &payload)
                .await;
        }
        Ok(())
    }

    /// Removes all reactions, or all of one emoji; needs MANAGE_MESSAGES.
    pub async fn clear_reactions(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        message_id: MessageId,
        emoji: Option<&ReactionEmoji>,
    ) -> Result<()> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        access.require(Permissions::MANAGE_MESSAGES)?;
        self.load_message(channel_id, message_id).await?;
        let mut payload = json!({ "channel_id": channel_id, "message_id": message_id, "guild_id": access.guild_id() });
        match emoji {
            Some(e) => {
                self.store()
                    .remove_emoji_reactions(channel_id, message_id, &e.key())
                    .await?;
                payload["emoji"] = serde_json::to_value(e).unwrap_or_default();
                self.emit_channel_event(
                    EventKind::MessageReactionRemoveEmoji,
                    &access.channel,
                    &payload,
                )
                .await;
            }
            None => {
                self.store()
                    .remove_all_reactions(channel_id, message_id)
                    .await?;
                self.emit_channel_event(
                    EventKind::MessageReactionRemoveAll,
                    &access.channel,
                    &payload,
                )
                .await;
            }
        }
        Ok(())
    }

    /// Users who reacted with an emoji.
    pub async fn list_reaction_users(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        message_id: MessageId,
        emoji: &ReactionEmoji,
        after: Option<UserId>,
        limit: Option<u32>,
    ) -> Result<Vec<crate::model::UserPartial>> {
        let limit = limit.unwrap_or(25);
        let mut v = Validator::new();
        v.range("limit", i64::from(limit), 1, 100);
        v.finish()?;
        let access = self.channel_access(actor.id(), channel_id).await?;
        access.require(Permissions::READ_MESSAGE_HISTORY)?;
        self.load_message(channel_id, message_id).await?;
        let ids = self
            .store()
            .list_reaction_users(channel_id, message_id, &emoji.key(), after, limit)
            .await?;
        let users = self.user_partials(&ids).await?;
        Ok(ids.iter().filter_map(|id| users.get(id).cloned()).collect())
    }

    /// Pins or unpins a message.
    pub async fn set_pinned(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        message_id: MessageId,
        pinned: bool,
    ) -> Result<()> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        if !access
            .permissions
            .intersects(Permissions::PIN_MESSAGES | Permissions::MANAGE_MESSAGES)
        {
            return Err(Error::MissingPermissions);
        }
        let mut message = self.load_message(channel_id, message_id).await?;
        if message.pinned_at.is_some() == pinned {
            return Ok(());
        }
        if pinned {
            let max = self.limits().await?.pins_per_channel;
            let pins = self.store().list_pinned(channel_id, None, max).await?;
            if pins.len() as u32 >= max {
                return Err(Error::LimitReached {
                    limit: Limit::Pins,
                    max: u64::from(max),
                });
            }
        }
        let now = self.now();
        message.pinned_at = pinned.then_some(now);
        self.store().update_message(&message).await?;
        self.index_later(&[(message.channel_id, message.id)]).await;
        let mut channel = access.channel.clone();
        if pinned {
            channel.last_pin_timestamp = Some(now);
            self.store().update_channel(&channel).await?;
        }
        if let Some(guild_id) = access.guild_id() {
            let action = if pinned {
                audit_action::MESSAGE_PIN
            } else {
                audit_action::MESSAGE_UNPIN
            };
            let entry = Audited::new(action, message.author_id, Vec::new())
                .options(json!({ "channel_id": channel_id, "message_id": message_id }));
            self.audit(actor, guild_id, entry).await?;
        }
        let response = self.message_response(actor.id(), message).await?;
        self.emit_channel_event(EventKind::MessageUpdate, &channel, &response)
            .await;
        let payload = json!({
            "channel_id": channel_id,
            "guild_id": access.guild_id(),
            "last_pin_timestamp": channel.last_pin_timestamp,
        });
        self.emit_channel_event(EventKind::ChannelPinsUpdate, &channel, &payload)
            .await;
        if pinned {
            // "X pinned a message", pointing at it, as upstream posts.
            let access = ChannelAccess { channel, ..access };
            let reference = MessageReference {
                message_id,
                channel_id: Some(channel_id),
                guild_id: access.guild_id(),
                kind: 0,
            };
            self.post_system_message(
                &access,
                actor,
                MessageType::ChannelPinnedMessage,
                Vec::new(),
                Some(reference),
            )
            .await?;
        }
        Ok(())
    }

    /// Pinned messages with the time each was pinned, most recent pin first.
    pub async fn list_pins(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        before: Option<crate::time::Timestamp>,
        limit: Option<u32>,
    ) -> Result<(Vec<(crate::time::Timestamp, MessageResponse)>, bool)> {
        let limit = limit.unwrap_or(50);
        let mut v = Validator::new();
        v.range("limit", i64::from(limit), 1, 50);
        v.finish()?;
        let access = self.channel_access(actor.id(), channel_id).await?;
        if !access
            .permissions
            .contains(Permissions::READ_MESSAGE_HISTORY)
        {
            return Ok((Vec::new(), false));
        }
        let mut pins = self
            .store()
            .list_pinned(channel_id, before, limit + 1)
            .await?;
        let has_more = pins.len() > limit as usize;
        pins.truncate(limit as usize);
        let times: Vec<_> = pins
            .iter()
            .map(|m| m.pinned_at.unwrap_or_default())
            .collect();
        let responses = self.message_responses(actor.id(), pins).await?;
        Ok((times.into_iter().zip(responses).collect(), has_more))
    }

    /// Marks a channel read up to a message.
    pub async fn ack_message(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        message_id: MessageId,
        mention_count: Option<u32>,
    ) -> Result<()> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        let mut state = self
            .store()
            .get_read_state(actor.id(), channel_id)
            .await?
            .unwrap_or_else(|| ReadState::unread(actor.id(), channel_id));
        state.last_message_id = Some(message_id);
        state.mention_count = mention_count.unwrap_or(0);
        self.store().put_read_state(&state).await?;
        let payload = json!({
            "channel_id": channel_id,
            "message_id": message_id,
            "mention_count": state.mention_count,
            "guild_id": access.guild_id(),
        });
        self.emit(crate::ports::Dispatch::new(
            EventKind::MessageAck,
            crate::ports::Topic::User(actor.id()),
            &payload,
        ))
        .await;
        Ok(())
    }

    /// The caller's read states.
    pub async fn read_states(&self, actor: &Actor) -> Result<Vec<ReadState>> {
        Ok(self.store().list_read_states(actor.id()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mentions() {
        let m = parse_mentions("hi <@1> and <@!2> and <@&3> <@1> <@x> @everyone <@4");
        assert_eq!(m.users, vec![UserId::new(1), UserId::new(2)]);
        assert_eq!(m.roles, vec![RoleId::new(3)]);
        assert!(m.everyone);
        assert_eq!(parse_mentions("plain"), ParsedMentions::default());
    }

    #[test]
    fn message_create_payload_adds_member_and_channel_type_to_the_message() {
        let message = r#"{"id":"1","content":"a } b"}"#;
        assert_eq!(
            message_fields_with(message, None, ChannelType::DmPersonalNotes),
            r#"{"id":"1","content":"a } b","channel_type":999}"#
        );
        let member = MemberResponse {
            user: serde_json::from_value(serde_json::json!({
                "id": "2", "username": "ada", "discriminator": "0001", "global_name": null,
                "avatar": null, "avatar_color": null, "flags": 0,
            }))
            .unwrap(),
            nick: Some("A".into()),
            avatar: None,
            roles: vec![RoleId::new(3)],
            joined_at: crate::time::Timestamp::from_unix_ms(0),
            mute: false,
            deaf: false,
            communication_disabled_until: None,
        };
        let payload = message_fields_with(message, Some(&member), ChannelType::GuildText);
        let parsed: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({
                "id": "1", "content": "a } b",
                "member": serde_json::to_value(&member).unwrap(),
                "channel_type": 0,
            })
        );
    }

    #[test]
    fn nonce_accepts_strings_and_numbers() {
        let a: MessageCreate = serde_json::from_str(r#"{"content":"x","nonce":12345}"#).unwrap();
        assert_eq!(a.nonce.as_deref(), Some("12345"));
        let b: MessageCreate = serde_json::from_str(r#"{"content":"x","nonce":"abc"}"#).unwrap();
        assert_eq!(b.nonce.as_deref(), Some("abc"));
        assert!(serde_json::from_str::<MessageCreate>(r#"{"nonce":[1]}"#).is_err());
    }
}
