//! Web Push: browsers' push subscriptions and the notifications sent to them while their user is
//! away, as upstream's gateway does it (`push_eligibility`, `push_notification`, `push_sender`).
//!
//! A client subscribes with `POST /users/@me/push/subscribe` (the browser's `PushSubscription`:
//! endpoint and keys); the subscription's ID is the first 32 hex digits of the endpoint's SHA-256,
//! so subscribing again with the same endpoint replaces it. At most [`MAX_PUSH_SUBSCRIPTIONS`] per
//! user: a new one beyond that replaces the oldest. Stored as private documents of the user.
//!
//! A new message leaves a push follow-up in the store's outbox, stored with it while anyone has a
//! push subscription at all (see [`Fluxer::run_followups`]; without a queue, a
//! [`Task::PushMessages`] runs inline); the worker
//! takes a batch of them at a time and decides
//! who gets a notification (the recipients of a DM or group DM; in a guild, the members who can see
//! the channel, or in a guild of more than [`LARGE_GUILD`] members those it mentions), keeps those
//! who are away (no live gateway session, or idle and not on mobile), not blocking the author, and
//! whose notification settings let it through, and queues one [`Task::SendPush`] per subscription of theirs, with the
//! JSON upstream's service worker reads. Each delivery is retried on its own (the queue's backoff)
//! when the push service answers 429 or 5xx; a 404 or 410 removes the subscription.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::jobs::Task;
use super::uploads::image_key;
use super::{Actor, Fluxer};
use crate::error::{Error, Result};
use crate::id::{ChannelId, GuildId, MessageId, RoleId, UserId};
use crate::model::{
    Channel, ChannelType, Guild, Member, Message, RelationshipType, Role, UserGuildSettings,
};
use crate::permission::Permissions;
use crate::ports::{PrivateDocument, PushMessage, PushOutcome, PushUrgency, Status};
use crate::secret::to_hex;
use crate::time::Timestamp;
use crate::validation::Validator;

/// Subscriptions one user may have; a new one beyond that replaces the oldest.
pub const MAX_PUSH_SUBSCRIPTIONS: usize = 20;
/// Members above which a guild notifies only those a message mentions (upstream's large guild).
pub const LARGE_GUILD: u64 = 250;
/// How long a push service keeps an undelivered notification (upstream's `TTL`).
const PUSH_TTL_SECS: u32 = 24 * 3600;
/// The body shows this many bytes of the message at most (upstream's preview).
const PREVIEW_BYTES: usize = 100;
/// The badge image upstream's notifications carry.
const BADGE_URL: &str = "https://fluxerstatic.com/web/apple-touch-icon.png";
/// Longest endpoint URL accepted.
const MAX_ENDPOINT_LEN: usize = 2048;

/// `POST /users/@me/push/subscribe`: what the browser's `PushSubscription` holds.
#[derive(Debug, Clone, Deserialize)]
pub struct PushSubscribe {
    /// The push service's URL for this browser.
    pub endpoint: String,
    /// The subscription's keys.
    pub keys: PushKeys,
    /// The browser's user agent, shown in the list of subscriptions.
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// A subscription's keys, base64url as the browser gives them.
#[derive(Debug, Clone, Deserialize)]
pub struct PushKeys {
    /// The browser's P-256 public key (65 bytes uncompressed).
    pub p256dh: String,
    /// The authentication secret (16 bytes).
    pub auth: String,
}

/// A stored subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushSubscription {
    /// 32 hex digits: the start of the endpoint's SHA-256.
    pub subscription_id: String,
    /// The push service's URL.
    pub endpoint: String,
    /// The browser's public key, base64url.
    pub p256dh_key: String,
    /// The authentication secret, base64url.
    pub auth_key: String,
    /// The user agent it was registered with.
    pub user_agent: Option<String>,
    /// When it was registered (the oldest goes first past the limit).
    pub created_at: Timestamp,
}

/// The subscription ID of an endpoint (upstream's: the first 32 hex digits of its SHA-256).
fn subscription_id(endpoint: &str) -> String {
    to_hex(&Sha256::digest(endpoint.as_bytes())[..16])
}

/// The document key of a subscription ID: its first 64 bits; `None` for an ID that is not ours.
fn document_key(id: &str) -> Option<u64> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(&id[..16], 16).ok()
}

/// Base64url with or without padding (browsers send it without; some libraries add it).
fn base64url(value: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')).ok()
}

/// Whether a user's notification settings let a message through (upstream's `push_eligibility`).
/// `mentioned` says whether the message mentions the user in a way the settings heed.
#[derive(Debug, Clone, Copy)]
struct Notice<'a> {
    settings: Option<&'a UserGuildSettings>,
    guild_default: u8,
    large_guild: bool,
    channel: ChannelId,
    private: bool,
    now: Timestamp,
}

const ALL_MESSAGES: u8 = 0;
const ONLY_MENTIONS: u8 = 1;
const NO_MESSAGES: u8 = 2;

fn normalize(level: u8) -> u8 {
    if level <= NO_MESSAGES {
        level
    } else {
        ALL_MESSAGES
    }
}

impl Notice<'_> {
    fn muted(&self) -> bool {
        let Some(s) = self.settings else {
            return false;
        };
        let until_later = |end: Option<Timestamp>| end.is_some_and(|end| self.now < end);
        let over = s
            .channel_overrides
            .as_ref()
            .and_then(|o| o.get(&self.channel));
        // A private channel answers only to its own override (upstream reads no DM settings).
        let guild_muted = !self.private
            && (s.muted || until_later(s.mute_config.as_ref().and_then(|m| m.end_time)));
        let channel_muted = over.is_some_and(|o| {
            o.muted || until_later(o.mute_config.as_ref().and_then(|m| m.end_time))
        });
        guild_muted || channel_muted
    }

    fn level(&self) -> u8 {
        let guild_level = |s: Option<&UserGuildSettings>| match s.map(|s| s.message_notifications) {
            Some(l) if l <= NO_MESSAGES => l,
            _ => normalize(self.guild_default),
        };
        let level = match self
            .settings
            .and_then(|s| s.channel_overrides.as_ref())
            .and_then(|o| o.get(&self.channel))
        {
            Some(o) if o.message_notifications <= NO_MESSAGES => o.message_notifications,
            _ => guild_level(self.settings),
        };
        if self.large_guild && level == ALL_MESSAGES {
            ONLY_MENTIONS
        } else {
            level
        }
    }

    /// Whether a notification goes out, for a message that mentions the user (`mentioned`) or not.
    fn allows(&self, mentioned: bool) -> bool {
        if self.private {
            return !self.muted();
        }
        if self.settings.is_some_and(|s| !s.mobile_push) || self.muted() {
            return false;
        }
        match self.level() {
            NO_MESSAGES => false,
            ONLY_MENTIONS => mentioned,
            _ => true,
        }
    }
}

/// Who may be told of the new messages of one channel (see [`Fluxer::fan_out_push`]).
struct PushAudience {
    channel: Channel,
    /// A large guild's rules, which each message's mentions are checked against; `None` in a
    /// small guild (its candidates are settled here) and a private channel.
    large: Option<GuildRules>,
    /// Those who can see the channel, are away and have a subscription; empty in a large guild,
    /// where only the mentioned are told (found per message).
    candidates: Vec<Candidate>,
    guild_name: Option<String>,
    guild_default: u8,
}

/// What deciding who sees a channel of a guild needs.
struct GuildRules {
    guild: Guild,
    roles: Vec<Role>,
}

/// Someone a message may be pushed to: their roles (for role mentions) and their subscriptions.
#[derive(Clone)]
struct Candidate {
    user: UserId,
    roles: Vec<RoleId>,
    subscriptions: Vec<PushSubscription>,
}

/// Whether `message` mentions `user` in a way their settings heed: by name (a reply that pings
/// included), by @everyone unless suppressed, or by a role of theirs unless role mentions are.
fn mentions(
    message: &Message,
    user: UserId,
    roles: &[RoleId],
    settings: Option<&UserGuildSettings>,
) -> bool {
    let suppress_everyone = settings.is_some_and(|s| s.suppress_everyone);
    let suppress_roles = settings.is_some_and(|s| s.suppress_roles);
    message.mention_ids.contains(&user)
        || (message.mention_everyone && !suppress_everyone)
        || (!suppress_roles && roles.iter().any(|r| message.mention_role_ids.contains(r)))
}

/// The notification's first line: the author, and where (upstream's `build_notification_title`).
fn notification_title(author: &str, channel: &Channel, guild_name: Option<&str>) -> String {
    match (channel.kind, guild_name, channel.name.as_deref()) {
        (ChannelType::GroupDm, _, _) => format!("{author} (Group DM)"),
        (_, Some(guild), Some(name)) => format!("{author} (#{name}, {guild})"),
        _ => author.to_owned(),
    }
}

/// The text: user mentions shown as `@name`, cut to [`PREVIEW_BYTES`] on a character boundary.
fn notification_body(content: &str, mentioned: &[(UserId, String)]) -> String {
    let mut text = content.to_owned();
    for (id, name) in mentioned {
        text = text.replace(&format!("<@{id}>"), &format!("@{name}"));
    }
    let mut end = text.len().min(PREVIEW_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

/// Where the app opens the message.
fn message_url(guild: Option<GuildId>, channel: ChannelId, message: MessageId) -> String {
    match guild {
        Some(g) => format!("/channels/{g}/{channel}/{message}"),
        None => format!("/channels/@me/{channel}/{message}"),
    }
}

impl Fluxer {
    /// The VAPID public key clients subscribe with; `None` when this instance sends no push.
    pub fn push_public_key(&self) -> Option<&str> {
        self.ports().push.as_deref().map(|p| p.public_key())
    }

    async fn stored_push_subscriptions(&self, user: UserId) -> Result<Vec<PushSubscription>> {
        let docs = self
            .store()
            .list_private_documents(user, PrivateDocument::PushSubscription)
            .await?;
        Ok(docs
            .iter()
            .filter_map(|(_, text)| serde_json::from_str(text).ok())
            .collect())
    }

    async fn put_push_subscription(
        &self,
        user: UserId,
        id: &str,
        subscription: Option<&PushSubscription>,
    ) -> Result<()> {
        let Some(key) = document_key(id) else {
            return Ok(());
        };
        let text = subscription.map(|s| serde_json::to_string(s).unwrap_or_default());
        self.store()
            .put_private_document(
                user,
                PrivateDocument::PushSubscription,
                key,
                text.as_deref(),
            )
            .await?;
        Ok(())
    }

    /// `POST /users/@me/push/subscribe`: stores the browser's subscription and answers its ID.
    pub async fn subscribe_push(&self, actor: &Actor, req: PushSubscribe) -> Result<String> {
        actor.require_person("Bots cannot receive push notifications.")?;
        let mut v = Validator::new();
        let endpoint = req.endpoint.trim();
        let parsed = url::Url::parse(endpoint).ok();
        v.check(
            endpoint.len() <= MAX_ENDPOINT_LEN
                && parsed.as_ref().is_some_and(|u| {
                    matches!(u.scheme(), "https" | "http") && u.host_str().is_some()
                }),
            "endpoint",
            "INVALID_URL",
            "Not a valid URL.",
        );
        let p256dh = base64url(&req.keys.p256dh);
        v.check(
            req.keys.p256dh.len() <= 1024 && p256dh.is_some_and(|k| k.len() == 65 && k[0] == 4),
            "keys.p256dh",
            "BASE_TYPE_INVALID",
            "Not an uncompressed P-256 public key in base64url.",
        );
        v.check(
            req.keys.auth.len() <= 1024 && base64url(&req.keys.auth).is_some_and(|a| a.len() == 16),
            "keys.auth",
            "BASE_TYPE_INVALID",
            "Not a 16-byte secret in base64url.",
        );
        v.opt_length("user_agent", req.user_agent.as_deref(), 1, 1024);
        v.finish()?;
        let id = subscription_id(endpoint);
        let mut stored = self.stored_push_subscriptions(actor.id()).await?;
        stored.retain(|s| s.subscription_id != id);
        stored.sort_by_key(|s| s.created_at);
        let excess = (stored.len() + 1).saturating_sub(MAX_PUSH_SUBSCRIPTIONS);
        for old in stored.iter().take(excess) {
            self.put_push_subscription(actor.id(), &old.subscription_id, None)
                .await?;
        }
        let subscription = PushSubscription {
            subscription_id: id.clone(),
            endpoint: endpoint.to_owned(),
            p256dh_key: req.keys.p256dh.trim_end_matches('=').to_owned(),
            auth_key: req.keys.auth.trim_end_matches('=').to_owned(),
            user_agent: req.user_agent,
            created_at: self.now(),
        };
        self.put_push_subscription(actor.id(), &id, Some(&subscription))
            .await?;
        Ok(id)
    }

    /// `GET /users/@me/push/subscriptions`, oldest first.
    pub async fn push_subscriptions(&self, actor: &Actor) -> Result<Vec<PushSubscription>> {
        actor.require_person("Bots cannot receive push notifications.")?;
        let mut list = self.stored_push_subscriptions(actor.id()).await?;
        list.sort_by_key(|s| s.created_at);
        Ok(list)
    }

    /// What a data export shows of the user's subscriptions: ID, endpoint and user agent (the keys
    /// are the browser's secrets).
    pub(crate) async fn push_subscriptions_for_export(
        &self,
        user: UserId,
    ) -> Result<Vec<serde_json::Value>> {
        let mut list = self.stored_push_subscriptions(user).await?;
        list.sort_by_key(|s| s.created_at);
        Ok(list
            .into_iter()
            .map(|s| {
                json!({
                    "subscription_id": s.subscription_id,
                    "endpoint": s.endpoint,
                    "user_agent": s.user_agent,
                })
            })
            .collect())
    }

    /// `DELETE /users/@me/push/subscriptions/{id}`; an unknown ID is not an error (as upstream).
    pub async fn unsubscribe_push(&self, actor: &Actor, id: &str) -> Result<()> {
        actor.require_person("Bots cannot receive push notifications.")?;
        self.delete_push_subscription(actor.id(), id).await
    }

    async fn delete_push_subscription(&self, user: UserId, id: &str) -> Result<()> {
        let Some(key) = document_key(id) else {
            return Ok(());
        };
        let stored = self
            .store()
            .get_private_document(user, PrivateDocument::PushSubscription, key)
            .await?;
        let ours = stored
            .and_then(|t| serde_json::from_str::<PushSubscription>(&t).ok())
            .is_some_and(|s| s.subscription_id == id);
        if ours {
            self.put_push_subscription(user, id, None).await?;
        }
        Ok(())
    }

    /// [`Task::PushMessages`]: who gets a notification of each of these messages, and queueing
    /// them. The audience of a channel (its members who can see it, less those online and those
    /// with no subscription) is worked out once for all of the batch's messages in it.
    pub(crate) async fn fan_out_push(&self, messages: &[(ChannelId, MessageId)]) -> Result<()> {
        if self.ports().push.is_none() {
            return Ok(());
        }
        for (channel_id, ids) in super::jobs::by_channel(messages) {
            let Some(audience) = self.push_audience(channel_id).await? else {
                continue;
            };
            if audience.large.is_none() && audience.candidates.is_empty() {
                continue;
            }
            for id in ids {
                self.notify_of_message(&audience, id).await?;
            }
        }
        Ok(())
    }

    /// Who may be told of a new message in `channel_id`, before its author and mentions are known;
    /// `None` when the channel (or its guild) is gone. In a private channel or a small guild, who
    /// could be pushed to at all (away, with a subscription) is found before who can see the
    /// channel, so one whose members are all online or subscribed nowhere costs no read of roles
    /// or messages.
    async fn push_audience(&self, channel_id: ChannelId) -> Result<Option<PushAudience>> {
        let store = self.store();
        let Some(channel) = store.get_channel(channel_id).await? else {
            return Ok(None);
        };
        let mut audience = PushAudience {
            candidates: Vec::new(),
            large: None,
            guild_name: None,
            guild_default: ALL_MESSAGES,
            channel,
        };
        let Some(guild_id) = audience.channel.guild_id else {
            let recipients = audience.channel.recipient_ids.iter();
            audience.candidates = self
                .reachable(recipients.map(|u| (*u, Vec::new())).collect())
                .await?;
            return Ok(Some(audience));
        };
        let Some(guild) = store.get_guild(guild_id).await? else {
            return Ok(None);
        };
        audience.guild_name = Some(guild.name.clone());
        audience.guild_default = guild.default_message_notifications;
        // One read tells a small guild's members from a large one: a large guild gives one more.
        let members = store
            .list_members(guild_id, None, LARGE_GUILD as u32 + 1)
            .await?;
        if members.len() as u64 > LARGE_GUILD {
            // Only whom a message mentions is told: found per message.
            let roles = store.list_roles(guild_id).await?;
            audience.large = Some(GuildRules { guild, roles });
        } else {
            let everyone = members.iter().map(|m| (m.user_id, m.roles.clone()));
            let mut reachable = self.reachable(everyone.collect()).await?;
            if !reachable.is_empty() {
                let roles = store.list_roles(guild_id).await?;
                let rules = GuildRules { guild, roles };
                reachable.retain(|c| {
                    members
                        .iter()
                        .find(|m| m.user_id == c.user)
                        .is_some_and(|m| self.sees(&rules, &audience.channel, m))
                });
            }
            audience.candidates = reachable;
        }
        Ok(Some(audience))
    }

    /// Whether `member` can see `channel`.
    fn sees(&self, rules: &GuildRules, channel: &Channel, member: &Member) -> bool {
        super::access::member_channel_permissions(
            &rules.guild,
            &rules.roles,
            member,
            channel,
            self.now(),
        )
        .contains(Permissions::VIEW_CHANNEL)
    }

    /// Of `people` (user, their roles), those who could be pushed to: away, with a subscription.
    async fn reachable(&self, people: Vec<(UserId, Vec<RoleId>)>) -> Result<Vec<Candidate>> {
        self.subscribed(self.away(people).await?).await
    }

    /// Those of `candidates` who are away: no live session, or idle and not on a phone (upstream:
    /// every session afk, none mobile).
    async fn away(
        &self,
        mut candidates: Vec<(UserId, Vec<RoleId>)>,
    ) -> Result<Vec<(UserId, Vec<RoleId>)>> {
        if candidates.is_empty() {
            return Ok(candidates);
        }
        if let Some(presence) = &self.ports().presence {
            let ids: Vec<UserId> = candidates.iter().map(|(u, _)| *u).collect();
            let presences = presence.get_presences(&ids, self.now()).await?;
            candidates.retain(|(u, _)| {
                presences
                    .iter()
                    .find(|p| p.user_id == *u)
                    .is_none_or(|p| p.status == Status::Offline || (p.afk && !p.mobile))
            });
        }
        Ok(candidates)
    }

    /// Those of `people` with a push subscription, each with theirs (in a private channel or a
    /// small guild, read once for a batch of messages, in one read for all of them).
    async fn subscribed(&self, people: Vec<(UserId, Vec<RoleId>)>) -> Result<Vec<Candidate>> {
        if people.is_empty() {
            return Ok(Vec::new());
        }
        let users: Vec<UserId> = people.iter().map(|(u, _)| *u).collect();
        let mut stored: HashMap<UserId, Vec<PushSubscription>> = HashMap::new();
        for (user, _, text) in self
            .store()
            .list_private_documents_of(&users, PrivateDocument::PushSubscription)
            .await?
        {
            if let Ok(subscription) = serde_json::from_str(&text) {
                stored.entry(user).or_default().push(subscription);
            }
        }
        Ok(people
            .into_iter()
            .filter_map(|(user, roles)| {
                let subscriptions = stored.remove(&user)?;
                Some(Candidate {
                    user,
                    roles,
                    subscriptions,
                })
            })
            .collect())
    }

    /// Queues the notifications of one message to its channel's `audience`.
    async fn notify_of_message(
        &self,
        audience: &PushAudience,
        message_id: MessageId,
    ) -> Result<()> {
        let store = self.store();
        let channel = &audience.channel;
        let Some(message) = store.get_message(channel.id, message_id).await? else {
            return Ok(());
        };
        let mut candidates = match &audience.large {
            Some(rules) => {
                let mut mentioned = Vec::new();
                for user in &message.mention_ids {
                    if let Some(m) = store.get_member(rules.guild.id, *user).await? {
                        mentioned.push(m);
                    }
                }
                let seeing = mentioned
                    .into_iter()
                    .filter(|m| self.sees(rules, channel, m))
                    .map(|m| (m.user_id, m.roles));
                self.reachable(seeing.collect()).await?
            }
            _ => audience.candidates.clone(),
        };
        candidates.retain(|c| c.user != message.author_id);
        if candidates.is_empty() {
            return Ok(());
        }
        let Some(author) = store.get_user(message.author_id).await? else {
            return Ok(());
        };
        let now = self.now();
        let private = channel.guild_id.is_none();
        let mentioned_users: Vec<(UserId, String)> = store
            .get_users(&message.mention_ids)
            .await?
            .into_iter()
            .map(|u| (u.id, u.username))
            .collect();
        let body = notification_body(&message.content, &mentioned_users);
        let title = notification_title(&author.username, channel, audience.guild_name.as_deref());
        let icon = match (&author.avatar, self.ports().media.as_deref()) {
            (Some(hash), Some(media)) => {
                Some(media.public_url(&image_key("avatars", author.id, hash)))
            }
            _ => None,
        };
        for Candidate {
            user,
            roles,
            subscriptions,
        } in candidates
        {
            let blocked = store
                .get_relationship(user, author.id)
                .await?
                .is_some_and(|r| r.kind == RelationshipType::Blocked);
            if blocked {
                continue;
            }
            let key = channel.guild_id.map_or(0, |g| g.get());
            let settings: Option<UserGuildSettings> = store
                .get_private_document(user, PrivateDocument::GuildSettings, key)
                .await?
                .and_then(|t| serde_json::from_str(&t).ok());
            let notice = Notice {
                settings: settings.as_ref(),
                guild_default: audience.guild_default,
                large_guild: audience.large.is_some(),
                channel: channel.id,
                private,
                now,
            };
            let mentioned = mentions(&message, user, &roles, settings.as_ref());
            if !notice.allows(mentioned) {
                continue;
            }
            let badge_count: u64 = store
                .list_read_states(user)
                .await?
                .iter()
                .map(|r| u64::from(r.mention_count))
                .sum();
            let mut payload = json!({
                "title": title,
                "body": body,
                "badge": BADGE_URL,
                "data": {
                    "channel_id": channel.id.to_string(),
                    "message_id": message.id.to_string(),
                    "guild_id": channel.guild_id.map(|g| g.to_string()),
                    "url": message_url(channel.guild_id, channel.id, message.id),
                    "badge_count": badge_count,
                    "target_user_id": user.to_string(),
                },
            });
            if let Some(icon) = &icon {
                payload["icon"] = json!(icon);
            }
            let payload = payload.to_string();
            for s in subscriptions {
                let _ = self
                    .enqueue(Task::SendPush {
                        user_id: user,
                        subscription_id: s.subscription_id,
                        payload: payload.clone(),
                        urgent: private || mentioned,
                    })
                    .await;
            }
        }
        Ok(())
    }

    /// [`Task::SendPush`]: one notification to one subscription. A subscription its push service
    /// no longer knows is removed; a refusal for good is dropped; anything else fails the job, for
    /// the queue to retry later.
    pub(crate) async fn deliver_push(
        &self,
        user: UserId,
        subscription_id: &str,
        payload: &str,
        urgent: bool,
    ) -> Result<()> {
        let Some(sender) = self.ports().push.as_deref() else {
            return Ok(());
        };
        let Some(key) = document_key(subscription_id) else {
            return Ok(());
        };
        let Some(subscription) = self
            .store()
            .get_private_document(user, PrivateDocument::PushSubscription, key)
            .await?
            .and_then(|t| serde_json::from_str::<PushSubscription>(&t).ok())
            .filter(|s| s.subscription_id == subscription_id)
        else {
            return Ok(());
        };
        let message = PushMessage {
            endpoint: subscription.endpoint.clone(),
            p256dh: subscription.p256dh_key.clone(),
            auth: subscription.auth_key.clone(),
            payload: payload.as_bytes().to_vec(),
            ttl_secs: PUSH_TTL_SECS,
            urgency: if urgent {
                PushUrgency::High
            } else {
                PushUrgency::Normal
            },
        };
        match sender.send(&message).await {
            Ok(PushOutcome::Gone) => self.delete_push_subscription(user, subscription_id).await,
            Ok(PushOutcome::Retry(why)) => Err(Error::Internal(format!("push service: {why}"))),
            Ok(_) => Ok(()),
            // Keys that do not decode will never work: the subscription goes.
            Err(_) => self.delete_push_subscription(user, subscription_id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::{ChannelOverride, MuteConfig};

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_ms(ms)
    }

    fn notice(settings: Option<&UserGuildSettings>) -> Notice<'_> {
        Notice {
            settings,
            guild_default: ALL_MESSAGES,
            large_guild: false,
            channel: ChannelId::new(7),
            private: false,
            now: at(1_000),
        }
    }

    fn settings() -> UserGuildSettings {
        let mut s = UserGuildSettings::new(Some(GuildId::new(1)));
        s.mobile_push = true;
        s
    }

    #[test]
    fn subscription_ids_are_upstreams_and_key_documents() {
        let id = subscription_id("https://push.example/abc");
        assert_eq!(id.len(), 32);
        assert_eq!(id, subscription_id("https://push.example/abc"));
        assert_ne!(id, subscription_id("https://push.example/abd"));
        assert_eq!(
            document_key(&id),
            Some(u64::from_str_radix(&id[..16], 16).unwrap())
        );
        assert_eq!(document_key("xyz"), None);
        assert_eq!(document_key(&"g".repeat(32)), None);
    }

    #[test]
    fn settings_decide_as_upstream() {
        // No settings: the guild's default (all messages).
        assert!(notice(None).allows(false));
        // Only mentions by default: a mention passes, a plain message does not.
        let mut n = notice(None);
        n.guild_default = ONLY_MENTIONS;
        assert!(n.allows(true) && !n.allows(false));
        // A large guild notifies of mentions only, whatever the default.
        let mut n = notice(None);
        n.large_guild = true;
        assert!(!n.allows(false) && n.allows(true));
        // Stored settings without mobile push: nothing (upstream's `mobile_push`).
        let mut s = UserGuildSettings::new(Some(GuildId::new(1)));
        assert!(!notice(Some(&s)).allows(true));
        s.mobile_push = true;
        assert!(notice(Some(&s)).allows(false));
        // A muted guild, a mute still running, an expired one.
        let mut muted = settings();
        muted.muted = true;
        assert!(!notice(Some(&muted)).allows(true));
        let mut timed = settings();
        timed.mute_config = Some(MuteConfig {
            end_time: Some(at(2_000)),
            selected_time_window: 0,
        });
        assert!(!notice(Some(&timed)).allows(true));
        timed.mute_config = Some(MuteConfig {
            end_time: Some(at(500)),
            selected_time_window: 0,
        });
        assert!(notice(Some(&timed)).allows(true));
        // A muted channel; another channel of the guild still notifies.
        let mut channel = settings();
        channel.channel_overrides = Some(BTreeMap::from([(
            ChannelId::new(7),
            ChannelOverride {
                collapsed: false,
                message_notifications: 3,
                muted: true,
                mute_config: None,
            },
        )]));
        assert!(!notice(Some(&channel)).allows(true));
        let mut other = notice(Some(&channel));
        other.channel = ChannelId::new(8);
        assert!(other.allows(false));
        // A channel set to mentions only inside an all-messages guild.
        let mut level = settings();
        level.channel_overrides = Some(BTreeMap::from([(
            ChannelId::new(7),
            ChannelOverride {
                collapsed: false,
                message_notifications: ONLY_MENTIONS,
                muted: false,
                mute_config: None,
            },
        )]));
        assert!(!notice(Some(&level)).allows(false) && notice(Some(&level)).allows(true));
        // Nothing at all.
        let mut none = settings();
        none.message_notifications = NO_MESSAGES;
        assert!(!notice(Some(&none)).allows(true));
        // A DM ignores guild-wide mutes and levels, but not its own channel's mute.
        let mut dm = notice(Some(&none));
        dm.private = true;
        assert!(dm.allows(false));
        let mut dm = notice(Some(&channel));
        dm.private = true;
        assert!(!dm.allows(false));
    }

    #[test]
    fn bodies_name_mentions_and_stop_at_a_character() {
        let bob = (UserId::new(5), "bob".to_owned());
        assert_eq!(notification_body("hi <@5>!", &[bob]), "hi @bob!");
        let long = "é".repeat(80);
        let body = notification_body(&long, &[]);
        assert!(body.len() <= PREVIEW_BYTES && body.len() >= PREVIEW_BYTES - 1);
        assert_eq!(
            message_url(None, ChannelId::new(2), MessageId::new(3)),
            "/channels/@me/2/3"
        );
        assert_eq!(
            message_url(Some(GuildId::new(1)), ChannelId::new(2), MessageId::new(3)),
            "/channels/1/2/3"
        );
    }
}
