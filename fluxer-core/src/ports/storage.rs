//! Storage repositories. A backend implements all of them; [`Store`] is the bundle the services use.
//!
//! Contracts every implementation keeps (the conformance suite checks them):
//! - IDs are assigned by the caller (snowflakes); repositories never invent them.
//! - Unique constraints answer [`StoreError::Conflict`] naming the constraint: `users.email`,
//!   `users.tag` (username + discriminator), `guilds.vanity_url_code`, `invites.code`, `members.pk`.
//! - Deleting a guild removes its channels, roles, members, invites, bans and webhooks; deleting a
//!   channel removes its messages, reactions, invites, webhooks and read states.
//! - Deleting a pack removes its expressions and its invites.
//! - Deleting a guild also frees its vanity code and removes its vanity invite; a channel's deletion
//!   leaves a vanity invite that points at it alone (the invite follows the guild's vanity code).
//! - Message lists are newest first.
//! - `update_*` replaces the stored row and answers [`StoreError::NotFound`] when it does not exist;
//!   the batch updates (`update_channels`, `update_roles`) apply all or nothing.
//! - Lists whose order is not documented come in any order.

use async_trait::async_trait;

use super::PortResult;
use super::WebAuthnCredentialRepository;
use crate::error::StoreError;
use crate::id::{
    ApplicationId, AuditLogId, ChannelId, ExpressionId, GuildId, MessageId, PackId, ReportId,
    RoleId, UserId, WebhookId,
};
use crate::model::{
    ActionToken, ActionTokenKind, AdminAuditEntry, AdminAuditQuery, Application, AuditEntry,
    AuditQuery, AuthSession, Ban, Channel, DiscoveryApplication, DiscoveryStatus, Expression,
    ExpressionKind, Guild, Invite, Member, Message, OAuth2Token, OAuth2TokenKind, Pack,
    ReactionCount, ReactionEmoji, ReadState, Relationship, Report, ReportStatus, Role, User,
    Webhook,
};
use crate::time::Timestamp;

/// Work a new message leaves for later, stored with it (see
/// [`MessageRepository::insert_message_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FollowupKind {
    /// Index it for search.
    Index,
    /// Tell those away of it (the Web Push fan-out). Stored only while some push subscription
    /// ([`PrivateDocument::PushSubscription`]) is, as the message's own transaction sees it: with
    /// none the fan-out would reach no one, and an instance nobody subscribed on pays nothing for
    /// it.
    Push,
}

impl FollowupKind {
    /// Its code in storage.
    pub fn code(self) -> i16 {
        match self {
            FollowupKind::Index => 1,
            FollowupKind::Push => 2,
        }
    }

    /// The kind with this storage code.
    pub fn from_code(code: i64) -> Option<FollowupKind> {
        match code {
            1 => Some(FollowupKind::Index),
            2 => Some(FollowupKind::Push),
            _ => None,
        }
    }
}

/// A stored follow-up of a message, as [`MessageRepository::claim_followups`] leases it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageFollowup {
    /// The message's channel.
    pub channel_id: ChannelId,
    /// The message.
    pub message_id: MessageId,
    /// What is to be done.
    pub kind: FollowupKind,
    /// Claims so far, this one included.
    pub attempts: u32,
}

/// Which page of a channel's history to read. Every variant returns at most `limit` messages, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagePage {
    /// The newest messages.
    Latest,
    /// Messages older than the cursor (exclusive).
    Before(MessageId),
    /// The messages right after the cursor (exclusive): the oldest `limit` of those newer than it.
    After(MessageId),
    /// The cursor itself (if it exists) and the messages around it: up to `limit / 2` newer ones, then
    /// the cursor and older ones up to `limit` in all. Near the newest message the page fills up with
    /// older ones; near the oldest it is just shorter.
    Around(MessageId),
}

/// Users. Emails arrive lower-cased (the domain does it) and are compared as given; a tag's username
/// compares case-insensitively: `Alice#0042` and `alice#0042` are the same tag.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Fails with `users.email` or `users.tag` conflicts.
    async fn create_user(&self, user: &User) -> PortResult<()>;
    /// Replaces a user; same conflicts as create; `NotFound` if absent.
    async fn update_user(&self, user: &User) -> PortResult<()>;
    /// `None` when no user has this ID.
    async fn get_user(&self, id: UserId) -> PortResult<Option<User>>;
    /// The users that exist among `ids`, in any order.
    async fn get_users(&self, ids: &[UserId]) -> PortResult<Vec<User>>;
    /// By lower-cased email.
    async fn find_user_by_email(&self, email: &str) -> PortResult<Option<User>>;
    /// By username (compared case-insensitively) and discriminator; `None` when no user has the tag.
    async fn find_user_by_tag(
        &self,
        username: &str,
        discriminator: u16,
    ) -> PortResult<Option<User>>;
    /// Users whose `deletion_requested_at` is before `before`, oldest request first, at most `limit`.
    async fn list_users_pending_deletion(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> PortResult<Vec<User>>;
}

/// Login sessions, keyed by the hash of their token, and one-time action tokens (email
/// verification, password reset, MFA tickets).
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session under its `token_hash`.
    async fn create_session(&self, session: &AuthSession) -> PortResult<()>;
    /// `None` for an unknown (or deleted) token hash. Idle sessions are not filtered out here: they
    /// last until [`delete_idle_sessions`](Self::delete_idle_sessions) removes them.
    async fn get_session(&self, token_hash: &[u8; 32]) -> PortResult<Option<AuthSession>>;
    /// Sets `last_used_at`; does nothing for an unknown session.
    async fn touch_session(&self, token_hash: &[u8; 32], at: Timestamp) -> PortResult<()>;
    /// Oldest first.
    async fn list_sessions(&self, user: UserId) -> PortResult<Vec<AuthSession>>;
    /// `true` if the session existed, `false` if there was nothing to delete.
    async fn delete_session(&self, token_hash: &[u8; 32]) -> PortResult<bool>;
    /// Deletes every session of `user` (and no one else's); returns how many (0 when none).
    async fn delete_user_sessions(&self, user: UserId) -> PortResult<u64>;
    /// Deletes every session last used before `before` (idle expiry); returns how many.
    async fn delete_idle_sessions(&self, before: Timestamp) -> PortResult<u64>;
    /// Stores a one-time token under its `token_hash`, for
    /// [`take_action_token`](Self::take_action_token).
    async fn create_action_token(&self, token: &ActionToken) -> PortResult<()>;
    /// Consumes a one-time token: returns it (and deletes it) if it exists, has this kind and has not
    /// expired at `now` (it expires at `expires_at`). A second take of the same token returns `None`;
    /// a take with another kind returns `None` and leaves the token.
    async fn take_action_token(
        &self,
        kind: ActionTokenKind,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> PortResult<Option<ActionToken>>;
}

/// Guilds, with their unique vanity codes (`guilds.vanity_url_code`).
#[async_trait]
pub trait GuildRepository: Send + Sync {
    /// Creates a guild with its roles, channels and owner membership in one atomic step: on a
    /// `guilds.vanity_url_code` conflict nothing is stored.
    async fn create_guild(
        &self,
        guild: &Guild,
        roles: &[Role],
        channels: &[Channel],
        owner: &Member,
    ) -> PortResult<()>;
    /// Fails with `guilds.vanity_url_code` when the vanity code is taken.
    async fn update_guild(&self, guild: &Guild) -> PortResult<()>;
    /// `None` when no guild has this ID.
    async fn get_guild(&self, id: GuildId) -> PortResult<Option<Guild>>;
    /// The guilds that exist among `ids`, in any order; unknown IDs are skipped.
    async fn get_guilds(&self, ids: &[GuildId]) -> PortResult<Vec<Guild>>;
    /// The guild whose vanity code is exactly `code`; `None` when no guild holds it (codes are freed
    /// when changed, cleared or their guild is deleted).
    async fn find_guild_by_vanity(&self, code: &str) -> PortResult<Option<Guild>>;
    /// Deletes the guild and everything in it.
    async fn delete_guild(&self, id: GuildId) -> PortResult<()>;
}

/// Guild channels and private channels (DMs and group DMs).
#[async_trait]
pub trait ChannelRepository: Send + Sync {
    /// Stores a new channel, guild or private (a private channel is found through its `recipient_ids`).
    async fn create_channel(&self, channel: &Channel) -> PortResult<()>;
    /// Replaces a channel, except that `last_message_id` never moves back: it is
    /// [`MessageRepository::insert_message`]'s, and the caller's copy may predate the last message.
    async fn update_channel(&self, channel: &Channel) -> PortResult<()>;
    /// Several channels at once (position changes), atomically, as [`update_channel`](Self::update_channel).
    async fn update_channels(&self, channels: &[Channel]) -> PortResult<()>;
    /// `None` when no channel has this ID. The answer carries the current `last_message_id`.
    async fn get_channel(&self, id: ChannelId) -> PortResult<Option<Channel>>;
    /// Sorted by position, then ID.
    async fn list_guild_channels(&self, guild: GuildId) -> PortResult<Vec<Channel>>;
    /// Deletes the channel with its messages, reactions, invites, webhooks and read states.
    async fn delete_channel(&self, id: ChannelId) -> PortResult<()>;
    /// The 1:1 DM (not a group DM) between two users, if any; `a` and `b` in either order.
    async fn find_dm_channel(&self, a: UserId, b: UserId) -> PortResult<Option<Channel>>;
    /// DMs and group DMs the user is a recipient of.
    async fn list_private_channels(&self, user: UserId) -> PortResult<Vec<Channel>>;
}

/// Messages, pins and reactions. Messages are addressed by channel and ID: a message is found only
/// in its own channel.
#[async_trait]
pub trait MessageRepository: Send + Sync {
    /// Stores a new message and advances its channel's `last_message_id` (never back: a late insert of
    /// an older ID leaves it).
    async fn insert_message(&self, message: &Message) -> PortResult<()> {
        self.insert_message_with(message, &[]).await
    }
    /// [`insert_message`](Self::insert_message), and in the same transaction the work the message
    /// leaves for later (`followups`, each kind once): an outbox, so that a message and what must
    /// follow it are stored together or not at all. Each stays until [`clear_followups`]
    /// (Self::clear_followups), due at once.
    async fn insert_message_with(
        &self,
        message: &Message,
        followups: &[FollowupKind],
    ) -> PortResult<()>;
    /// Leases up to `limit` due follow-ups for `lease_ms`, the earliest due first (those never
    /// claimed, then those whose lease ended longest ago; by message ID among equals), and
    /// returns them by message ID: each is due again once its lease ends, unless cleared by then.
    /// Only the kinds this build knows are claimed. None for 0.
    async fn claim_followups(
        &self,
        now: Timestamp,
        lease_ms: u64,
        limit: u32,
    ) -> PortResult<Vec<MessageFollowup>>;
    /// Removes these follow-ups (done); unknown ones are skipped.
    async fn clear_followups(&self, done: &[(MessageId, FollowupKind)]) -> PortResult<()>;
    /// Replaces a message (edits, pinning and unpinning through `pinned_at`); `NotFound` if it does not
    /// exist in its channel.
    async fn update_message(&self, message: &Message) -> PortResult<()>;
    /// `None` when the message does not exist in `channel` (including when it exists in another one).
    async fn get_message(&self, channel: ChannelId, id: MessageId) -> PortResult<Option<Message>>;
    /// The messages of `channel` among `ids`, each once, in any order: those that do not exist
    /// there are skipped.
    async fn get_messages(&self, channel: ChannelId, ids: &[MessageId])
    -> PortResult<Vec<Message>>;
    /// One page of a channel's history, at most `limit` messages, newest first (see [`MessagePage`]).
    /// An empty or unknown channel gives an empty list.
    async fn list_messages(
        &self,
        channel: ChannelId,
        page: MessagePage,
        limit: u32,
    ) -> PortResult<Vec<Message>>;
    /// Deletes a message and its reactions.
    async fn delete_message(&self, channel: ChannelId, id: MessageId) -> PortResult<bool>;
    /// Deletes the messages among `ids` that exist in the channel; returns those deleted, each once.
    async fn delete_messages(
        &self,
        channel: ChannelId,
        ids: &[MessageId],
    ) -> PortResult<Vec<MessageId>>;
    /// Pinned messages, most recently pinned first, pinned strictly before `before` when given.
    async fn list_pinned(
        &self,
        channel: ChannelId,
        before: Option<Timestamp>,
        limit: u32,
    ) -> PortResult<Vec<Message>>;
    /// Adds a user's reaction; `false` if it was already there.
    async fn add_reaction(
        &self,
        channel: ChannelId,
        message: MessageId,
        emoji: &ReactionEmoji,
        user: UserId,
    ) -> PortResult<bool>;
    /// Removes a user's reaction; `false` if it was not there. `emoji_key` is [`ReactionEmoji::key`].
    async fn remove_reaction(
        &self,
        channel: ChannelId,
        message: MessageId,
        emoji_key: &str,
        user: UserId,
    ) -> PortResult<bool>;
    /// Removes every reaction on a message; returns how many (one per user and emoji; 0 when none).
    async fn remove_all_reactions(&self, channel: ChannelId, message: MessageId)
    -> PortResult<u64>;
    /// Removes every user's reaction with one emoji (`emoji_key` is [`ReactionEmoji::key`]); returns
    /// how many (0 when none).
    async fn remove_emoji_reactions(
        &self,
        channel: ChannelId,
        message: MessageId,
        emoji_key: &str,
    ) -> PortResult<u64>;
    /// Users who reacted with an emoji, by ascending user ID, after `after` when given.
    async fn list_reaction_users(
        &self,
        channel: ChannelId,
        message: MessageId,
        emoji_key: &str,
        after: Option<UserId>,
        limit: u32,
    ) -> PortResult<Vec<UserId>>;
    /// Reaction summaries for several messages as seen by `viewer`, in first-reacted order per message:
    /// by each emoji's earliest current reaction (an emoji whose reactions were all removed and added
    /// again comes after the others). Messages without reactions have no entry.
    async fn reaction_counts(
        &self,
        channel: ChannelId,
        messages: &[MessageId],
        viewer: UserId,
    ) -> PortResult<Vec<(MessageId, ReactionCount)>>;
}

/// Guild memberships, one per guild and user (`members.pk`).
#[async_trait]
pub trait MemberRepository: Send + Sync {
    /// Fails with `members.pk` when the user is already a member.
    async fn add_member(&self, member: &Member) -> PortResult<()>;
    /// Replaces a membership; `NotFound` if the user is not a member of the guild.
    async fn update_member(&self, member: &Member) -> PortResult<()>;
    /// `None` when `user` is not a member of `guild` (or the guild does not exist).
    async fn get_member(&self, guild: GuildId, user: UserId) -> PortResult<Option<Member>>;
    /// The members of `guild` among `users`, in any order; non-members are skipped.
    async fn get_members(&self, guild: GuildId, users: &[UserId]) -> PortResult<Vec<Member>>;
    /// By ascending user ID, after `after` when given.
    async fn list_members(
        &self,
        guild: GuildId,
        after: Option<UserId>,
        limit: u32,
    ) -> PortResult<Vec<Member>>;
    /// Removes a membership (the guild leaves the user's
    /// [`list_user_guild_ids`](Self::list_user_guild_ids)); `true` if it existed. The user may be added
    /// again later.
    async fn remove_member(&self, guild: GuildId, user: UserId) -> PortResult<bool>;
    /// How many members the guild has; 0 for an unknown guild.
    async fn count_members(&self, guild: GuildId) -> PortResult<u64>;
    /// The guilds a user is a member of, by ascending ID.
    async fn list_user_guild_ids(&self, user: UserId) -> PortResult<Vec<GuildId>>;
}

/// Guild roles, addressed by guild and ID. The `@everyone` role shares its guild's ID.
#[async_trait]
pub trait RoleRepository: Send + Sync {
    /// Stores a new role in `role.guild_id`.
    async fn create_role(&self, role: &Role) -> PortResult<()>;
    /// Replaces several roles atomically (edits, position changes).
    async fn update_roles(&self, roles: &[Role]) -> PortResult<()>;
    /// `None` when `guild` has no role with this ID (a role of another guild is not found).
    async fn get_role(&self, guild: GuildId, id: RoleId) -> PortResult<Option<Role>>;
    /// Sorted by position, then ID.
    async fn list_roles(&self, guild: GuildId) -> PortResult<Vec<Role>>;
    /// Deletes the role and takes it off every member.
    async fn delete_role(&self, guild: GuildId, id: RoleId) -> PortResult<bool>;
}

/// Invites, keyed by their code, which is unique across the instance (`invites.code`). An invite to
/// a group DM belongs to no guild; an invite to a pack has neither guild nor channel.
#[async_trait]
pub trait InviteRepository: Send + Sync {
    /// Fails with `invites.code` when the code exists.
    async fn create_invite(&self, invite: &Invite) -> PortResult<()>;
    /// `None` when no invite has this code. Expired invites are returned until deleted.
    async fn get_invite(&self, code: &str) -> PortResult<Option<Invite>>;
    /// Every invite of the guild (its vanity invite included), in any order.
    async fn list_guild_invites(&self, guild: GuildId) -> PortResult<Vec<Invite>>;
    /// Every invite that points at the channel (a vanity invite included), in any order.
    async fn list_channel_invites(&self, channel: ChannelId) -> PortResult<Vec<Invite>>;
    /// Every invite to the pack, in any order.
    async fn list_pack_invites(&self, pack: PackId) -> PortResult<Vec<Invite>>;
    /// `true` if the invite existed.
    async fn delete_invite(&self, code: &str) -> PortResult<bool>;
    /// Atomically counts one use if the invite exists, has not expired at `now` and is not used up;
    /// returns it with the new count, or `None`.
    async fn use_invite(&self, code: &str, now: Timestamp) -> PortResult<Option<Invite>>;
    /// Removes invites expired at `now`; returns how many.
    async fn delete_expired_invites(&self, now: Timestamp) -> PortResult<u64>;
}

/// Guild bans, one per guild and user.
#[async_trait]
pub trait BanRepository: Send + Sync {
    /// Creates or replaces a ban.
    async fn put_ban(&self, ban: &Ban) -> PortResult<()>;
    /// `None` when `user` is not banned from `guild`.
    async fn get_ban(&self, guild: GuildId, user: UserId) -> PortResult<Option<Ban>>;
    /// By ascending user ID.
    async fn list_bans(
        &self,
        guild: GuildId,
        after: Option<UserId>,
        limit: u32,
    ) -> PortResult<Vec<Ban>>;
    /// Lifts a ban; `true` if it existed.
    async fn delete_ban(&self, guild: GuildId, user: UserId) -> PortResult<bool>;
}

/// Channel webhooks. A webhook belongs to one channel of one guild.
#[async_trait]
pub trait WebhookRepository: Send + Sync {
    /// Stores a new webhook.
    async fn create_webhook(&self, webhook: &Webhook) -> PortResult<()>;
    /// Replaces a webhook (it may move to another channel); `NotFound` if absent.
    async fn update_webhook(&self, webhook: &Webhook) -> PortResult<()>;
    /// `None` when no webhook has this ID.
    async fn get_webhook(&self, id: WebhookId) -> PortResult<Option<Webhook>>;
    /// The webhooks of one channel, in any order.
    async fn list_channel_webhooks(&self, channel: ChannelId) -> PortResult<Vec<Webhook>>;
    /// The webhooks of every channel of the guild, in any order.
    async fn list_guild_webhooks(&self, guild: GuildId) -> PortResult<Vec<Webhook>>;
    /// `true` if the webhook existed.
    async fn delete_webhook(&self, id: WebhookId) -> PortResult<bool>;
}

/// Developer applications (OAuth2 apps and bots), each owned by a user.
#[async_trait]
pub trait ApplicationRepository: Send + Sync {
    /// Stores a new application.
    async fn create_application(&self, app: &Application) -> PortResult<()>;
    /// Replaces an application; `NotFound` if absent.
    async fn update_application(&self, app: &Application) -> PortResult<()>;
    /// `None` when no application has this ID.
    async fn get_application(&self, id: ApplicationId) -> PortResult<Option<Application>>;
    /// The applications `owner` owns, in any order.
    async fn list_applications(&self, owner: UserId) -> PortResult<Vec<Application>>;
    /// `true` if the application existed.
    async fn delete_application(&self, id: ApplicationId) -> PortResult<bool>;
}

/// Per user and channel: the last message read, the unread mention count and the last pin seen.
#[async_trait]
pub trait ReadStateRepository: Send + Sync {
    /// Creates or replaces the read state of `state.user_id` in `state.channel_id`.
    async fn put_read_state(&self, state: &ReadState) -> PortResult<()>;
    /// `None` when the user has no read state in the channel.
    async fn get_read_state(
        &self,
        user: UserId,
        channel: ChannelId,
    ) -> PortResult<Option<ReadState>>;
    /// Every read state of the user, in any order.
    async fn list_read_states(&self, user: UserId) -> PortResult<Vec<ReadState>>;
    /// Forgets the user's read state in a channel; `true` if there was one.
    async fn delete_read_state(&self, user: UserId, channel: ChannelId) -> PortResult<bool>;
    /// Adds to the mention count, creating the read state (nothing read, no pin seen) if needed.
    async fn add_mentions(&self, user: UserId, channel: ChannelId, count: u32) -> PortResult<()>;
}

/// Relationships (friends, requests, blocks). Each row is one user's side: `a`'s view of `b` and
/// `b`'s view of `a` are stored, read and deleted separately.
#[async_trait]
pub trait RelationshipRepository: Send + Sync {
    /// Creates or replaces `relationship.user_id`'s view of `relationship.target_id`.
    async fn put_relationship(&self, relationship: &Relationship) -> PortResult<()>;
    /// `user`'s view of `target`; `None` when there is none (whatever `target`'s view of `user` is).
    async fn get_relationship(
        &self,
        user: UserId,
        target: UserId,
    ) -> PortResult<Option<Relationship>>;
    /// Every relationship `user` holds (its own side only), in any order.
    async fn list_relationships(&self, user: UserId) -> PortResult<Vec<Relationship>>;
    /// Deletes `user`'s view of `target` only; `true` if it existed.
    async fn delete_relationship(&self, user: UserId, target: UserId) -> PortResult<bool>;
}

/// A guild as one of its members stands in it: what a permission check needs.
#[derive(Debug, Clone, PartialEq)]
pub struct GuildStanding {
    /// The guild.
    pub guild: Guild,
    /// The user's membership, with the IDs of its roles.
    pub member: Member,
    /// Every role of the guild, sorted by position, then ID.
    pub roles: Vec<Role>,
}

/// What authorizing a request reads, one call each. Every request authenticates and most check a
/// channel's permissions: done piece by piece that is two reads, then four; a backend that can answer
/// each from one snapshot in one round trip overrides these. The provided bodies compose the other
/// repositories, so `impl AccessRepository for MyStore {}` is a complete, correct implementation.
#[async_trait]
pub trait AccessRepository:
    UserRepository
    + SessionRepository
    + GuildRepository
    + ChannelRepository
    + MemberRepository
    + RoleRepository
{
    /// A session and its user; `None` when either is missing.
    async fn get_session_user(
        &self,
        token_hash: &[u8; 32],
    ) -> PortResult<Option<(AuthSession, User)>> {
        let Some(session) = self.get_session(token_hash).await? else {
            return Ok(None);
        };
        Ok(self.get_user(session.user_id).await?.map(|u| (session, u)))
    }

    /// `user`'s standing in a guild; `None` when the guild does not exist or `user` is not a member.
    async fn get_guild_standing(
        &self,
        guild: GuildId,
        user: UserId,
    ) -> PortResult<Option<GuildStanding>> {
        let Some(found) = self.get_guild(guild).await? else {
            return Ok(None);
        };
        let Some(member) = self.get_member(guild, user).await? else {
            return Ok(None);
        };
        let roles = self.list_roles(guild).await?;
        Ok(Some(GuildStanding {
            guild: found,
            member,
            roles,
        }))
    }

    /// A channel and, for a guild channel, `user`'s standing in its guild (`None` when not a member);
    /// `None` when the channel does not exist.
    async fn get_channel_standing(
        &self,
        channel: ChannelId,
        user: UserId,
    ) -> PortResult<Option<(Channel, Option<GuildStanding>)>> {
        let Some(found) = self.get_channel(channel).await? else {
            return Ok(None);
        };
        let standing = match found.guild_id {
            Some(guild) => self.get_guild_standing(guild, user).await?,
            None => None,
        };
        Ok(Some((found, standing)))
    }
}

/// A page of history with what showing it needs ([`HistoryRepository::history_page`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryPage {
    /// The page, as [`MessageRepository::list_messages`] answers it.
    pub messages: Vec<Message>,
    /// The stored users among those the page's messages name ([`Message::named_users`]), in any
    /// order; a named user that is not stored is simply absent.
    pub users: Vec<User>,
    /// The page's reactions, as [`MessageRepository::reaction_counts`] answers for its messages.
    pub reactions: Vec<(MessageId, ReactionCount)>,
}

/// What showing a page of history reads. Every history request needs the page, the users its
/// messages name and their reactions: three reads one after the other, which a backend that can
/// answer in fewer round trips (or on one connection) overrides. The provided body composes the
/// other repositories, so `impl HistoryRepository for MyStore {}` is a complete, correct
/// implementation.
#[async_trait]
pub trait HistoryRepository: MessageRepository + UserRepository {
    /// One page of `channel`'s history (as `list_messages`) with the users its messages name and
    /// their reactions as `viewer` sees them.
    async fn history_page(
        &self,
        channel: ChannelId,
        page: MessagePage,
        limit: u32,
        viewer: UserId,
    ) -> PortResult<HistoryPage> {
        let messages = self.list_messages(channel, page, limit).await?;
        if messages.is_empty() {
            return Ok(HistoryPage::default());
        }
        let mut named: Vec<UserId> = messages.iter().flat_map(Message::named_users).collect();
        named.sort_unstable();
        named.dedup();
        let users = self.get_users(&named).await?;
        let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
        let reactions = self.reaction_counts(channel, &ids, viewer).await?;
        Ok(HistoryPage {
            messages,
            users,
            reactions,
        })
    }
}

/// A kind of row an operator tool walks from first to last ([`ScanRepository::scan_ids`]).
/// Exhaustive on purpose: every adapter must answer for every kind, so a new one is a change to
/// the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// User IDs (accounts pending deletion included).
    Users,
    /// Guild IDs.
    Guilds,
    /// Channel IDs, guild and private channels alike.
    Channels,
}

/// Walks every row of a kind in ID order, a page at a time, for tools that visit everything (the
/// search index rebuild). Deleted-but-kept rows (accounts pending deletion) are included.
#[async_trait]
pub trait ScanRepository: Send + Sync {
    /// Up to `limit` IDs of `what` above `after`, ascending.
    async fn scan_ids(&self, what: Scan, after: u64, limit: usize) -> PortResult<Vec<u64>>;
    /// How many rows of `what` there are (accounts pending deletion included), for the admin
    /// dashboard.
    async fn count_rows(&self, what: Tally) -> PortResult<u64>;
    /// How many rows of `what` have an ID in each of `buckets` consecutive ranges of `width` IDs
    /// from `from` (snowflakes, so time ranges: messages per day); one count per bucket, oldest
    /// first. At most [`MAX_TALLY_BUCKETS`] buckets.
    async fn count_ids_per_bucket(
        &self,
        what: Tally,
        from: u64,
        width: u64,
        buckets: usize,
    ) -> PortResult<Vec<u64>>;
}

/// The most buckets [`ScanRepository::count_ids_per_bucket`] is asked for.
pub const MAX_TALLY_BUCKETS: usize = 90;

/// What [`ScanRepository::count_rows`] and [`ScanRepository::count_ids_per_bucket`] count.
/// Exhaustive on purpose, as [`Scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tally {
    /// Accounts.
    Users,
    /// Guilds.
    Guilds,
    /// Messages, in every channel.
    Messages,
}

impl Tally {
    /// The buckets `from..from + width * buckets` of `ids`, counted (what the adapters that count
    /// in memory share).
    pub fn bucket_counts(
        ids: impl IntoIterator<Item = u64>,
        from: u64,
        width: u64,
        buckets: usize,
    ) -> Vec<u64> {
        let mut counts = vec![0u64; buckets];
        if width == 0 {
            return counts;
        }
        for id in ids {
            if let Some(i) = id.checked_sub(from).map(|d| d / width)
                && let Some(slot) = usize::try_from(i).ok().and_then(|i| counts.get_mut(i))
            {
                *slot += 1;
            }
        }
        counts
    }
}

/// What a user keeps for itself, stored as documents the domain reads and writes whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrivateDocument {
    /// The user's settings (key 0).
    Settings,
    /// Notification settings of one guild (key: the guild ID; 0 for DMs).
    GuildSettings,
    /// A private note on another user (key: that user's ID).
    Note,
    /// The DMs pinned to the top of the list, in order (key 0).
    PinnedDms,
    /// A message that mentioned the user (key: the message ID).
    Mention,
    /// A message the user saved (key: the message ID).
    SavedMessage,
    /// A message the user scheduled (key: its own snowflake).
    ScheduledMessage,
    /// A favorite meme, saved media (key: its snowflake).
    FavoriteMeme,
    /// The email change in progress (key 0).
    EmailChangeTicket,
    /// A proven new email address waiting to be applied (key 0).
    EmailChangeToken,
    /// The password change in progress (key 0).
    PasswordChangeTicket,
    /// The address an email-revert link restores (key: from the link's token hash).
    EmailRevert,
    /// Two-factor backup codes (key 0).
    MfaBackupCodes,
    /// Someone's pack the user installed (key: the pack's ID).
    PackInstallation,
    /// An address the account has logged in from (key: from the address's hash).
    AuthorizedIp,
    /// A proven link to an account elsewhere, a domain (key: its own snowflake).
    Connection,
    /// A browser's Web Push subscription (key: the first 64 bits of its subscription ID).
    PushSubscription,
    /// An admin API key, under [`INSTANCE_DOCUMENTS`] (key: the key's ID).
    AdminApiKey,
    /// An instance-wide IP, email or phone ban, under [`INSTANCE_DOCUMENTS`] (key: from the hash
    /// of its kind and value).
    InstanceBan,
    /// The instance config set through the admin API, under [`INSTANCE_DOCUMENTS`] (key 0).
    InstanceConfig,
    /// The limit config set through the admin API, under [`INSTANCE_DOCUMENTS`] (key 0).
    LimitConfig,
    /// When an admin API key was last used, under [`INSTANCE_DOCUMENTS`] (key: the key's ID);
    /// apart from the key so that recording a use can never bring back a revoked key.
    AdminApiKeyUse,
    /// The voice regions and their LiveKit servers as staff set them through the admin API, under
    /// [`INSTANCE_DOCUMENTS`] (key 0); once stored they replace the configured region.
    VoiceRegions,
    /// A user ID staff reserved for an email address, under [`INSTANCE_DOCUMENTS`] (key: from
    /// the hash of the address).
    SnowflakeReservation,
    /// A change of the account's email or tag, for staff (key: the entry's snowflake).
    ContactChange,
    /// A system DM job staff composed (`/admin/system-dm-jobs`), under [`INSTANCE_DOCUMENTS`]
    /// (key: the job's ID).
    SystemDmJob,
}

/// The owner instance-wide documents are kept under ([`PrivateDocument::AdminApiKey`],
/// [`PrivateDocument::InstanceBan`], [`PrivateDocument::InstanceConfig`],
/// [`PrivateDocument::LimitConfig`]): no account has snowflake 0, and none is ever erased, so
/// these documents sit beside users' own without touching them.
pub const INSTANCE_DOCUMENTS: UserId = UserId::new(0);

impl PrivateDocument {
    /// Every kind an account keeps (what erasing an account removes); the instance-wide kinds
    /// under [`INSTANCE_DOCUMENTS`] are not among them.
    pub const ALL: &[PrivateDocument] = &[
        PrivateDocument::Settings,
        PrivateDocument::GuildSettings,
        PrivateDocument::Note,
        PrivateDocument::PinnedDms,
        PrivateDocument::Mention,
        PrivateDocument::SavedMessage,
        PrivateDocument::ScheduledMessage,
        PrivateDocument::FavoriteMeme,
        PrivateDocument::EmailChangeTicket,
        PrivateDocument::EmailChangeToken,
        PrivateDocument::PasswordChangeTicket,
        PrivateDocument::EmailRevert,
        PrivateDocument::MfaBackupCodes,
        PrivateDocument::PackInstallation,
        PrivateDocument::AuthorizedIp,
        PrivateDocument::Connection,
        PrivateDocument::PushSubscription,
        PrivateDocument::ContactChange,
    ];

    /// The number backends store for this kind.
    pub fn code(self) -> i64 {
        match self {
            PrivateDocument::Settings => 1,
            PrivateDocument::GuildSettings => 2,
            PrivateDocument::Note => 3,
            PrivateDocument::PinnedDms => 4,
            PrivateDocument::Mention => 5,
            PrivateDocument::SavedMessage => 6,
            PrivateDocument::ScheduledMessage => 7,
            PrivateDocument::FavoriteMeme => 8,
            PrivateDocument::EmailChangeTicket => 9,
            PrivateDocument::EmailChangeToken => 10,
            PrivateDocument::PasswordChangeTicket => 11,
            PrivateDocument::EmailRevert => 12,
            PrivateDocument::MfaBackupCodes => 13,
            PrivateDocument::PackInstallation => 14,
            PrivateDocument::AuthorizedIp => 15,
            PrivateDocument::Connection => 16,
            PrivateDocument::PushSubscription => 17,
            PrivateDocument::AdminApiKey => 18,
            PrivateDocument::InstanceBan => 19,
            PrivateDocument::InstanceConfig => 20,
            PrivateDocument::LimitConfig => 21,
            PrivateDocument::AdminApiKeyUse => 22,
            PrivateDocument::VoiceRegions => 23,
            PrivateDocument::SnowflakeReservation => 24,
            PrivateDocument::ContactChange => 25,
            PrivateDocument::SystemDmJob => 26,
        }
    }
}

/// Per-user documents: settings, per-guild settings, notes, pinned DMs. The domain gives each a
/// kind and a key and keeps its content as JSON text, which backends store as it is.
#[async_trait]
pub trait PrivateDocumentRepository: Send + Sync {
    /// Stores (replaces) one document; `None` deletes it.
    async fn put_private_document(
        &self,
        user: UserId,
        kind: PrivateDocument,
        key: u64,
        data: Option<&str>,
    ) -> PortResult<()>;
    /// One document, if stored.
    async fn get_private_document(
        &self,
        user: UserId,
        kind: PrivateDocument,
        key: u64,
    ) -> PortResult<Option<String>>;
    /// Every document of one kind the user has, by ascending key.
    async fn list_private_documents(
        &self,
        user: UserId,
        kind: PrivateDocument,
    ) -> PortResult<Vec<(u64, String)>>;
    /// [`list_private_documents`](Self::list_private_documents) for several users at once: each
    /// document of one kind that any of `users` has, as `(user, key, data)`, by user and then by
    /// ascending key (users named twice count once).
    async fn list_private_documents_of(
        &self,
        users: &[UserId],
        kind: PrivateDocument,
    ) -> PortResult<Vec<(UserId, u64, String)>>;
}

/// Guild audit logs.
#[async_trait]
pub trait AuditLogRepository: Send + Sync {
    /// Records an entry.
    async fn add_audit_entry(&self, entry: &AuditEntry) -> PortResult<()>;
    /// A guild's entries matching `query`, newest first.
    async fn list_audit_entries(
        &self,
        guild: GuildId,
        query: &AuditQuery,
    ) -> PortResult<Vec<AuditEntry>>;
    /// Forgets every guild's entries older than `before` (retention); how many went.
    async fn delete_audit_entries_before(&self, before: AuditLogId) -> PortResult<u64>;
}

/// The admin audit log: what the instance's staff did (not a guild's audit log, which is
/// [`AuditLogRepository`]'s). Entries are never changed or removed.
#[async_trait]
pub trait AdminAuditLogRepository: Send + Sync {
    /// Records an entry.
    async fn add_admin_audit_entry(&self, entry: &AdminAuditEntry) -> PortResult<()>;
    /// The entries matching `query`, by ID (newest first unless `query.oldest_first`), skipping
    /// `query.offset` and at most `query.limit`; with how many match in all.
    async fn search_admin_audit_entries(
        &self,
        query: &AdminAuditQuery,
    ) -> PortResult<(Vec<AdminAuditEntry>, u64)>;
}

/// A guild's custom emojis and stickers. Deleting a guild deletes its expressions.
#[async_trait]
pub trait ExpressionRepository: Send + Sync {
    /// Stores (inserts or replaces) one.
    async fn put_expression(&self, expression: &Expression) -> PortResult<()>;
    /// One, by ID, from any guild.
    async fn get_expression(&self, id: ExpressionId) -> PortResult<Option<Expression>>;
    /// Several, by ID, from any guild; unknown IDs are skipped, order unspecified.
    async fn get_expressions(&self, ids: &[ExpressionId]) -> PortResult<Vec<Expression>>;
    /// A guild's expressions of one kind, by ascending ID.
    async fn list_guild_expressions(
        &self,
        guild: GuildId,
        kind: ExpressionKind,
    ) -> PortResult<Vec<Expression>>;
    /// Deletes one; whether it existed.
    async fn delete_expression(&self, id: ExpressionId) -> PortResult<bool>;
}

/// Users' emoji and sticker packs. A pack's emojis and stickers are expressions stored under
/// [`PackId::expression_owner`]; deleting the pack deletes them and its invites.
#[async_trait]
pub trait PackRepository: Send + Sync {
    /// Stores (inserts or replaces) one.
    async fn put_pack(&self, pack: &Pack) -> PortResult<()>;
    /// One, by ID.
    async fn get_pack(&self, id: PackId) -> PortResult<Option<Pack>>;
    /// Several, by ID; unknown IDs are skipped, order unspecified.
    async fn get_packs(&self, ids: &[PackId]) -> PortResult<Vec<Pack>>;
    /// The packs a user made, of both kinds, by ascending ID.
    async fn list_user_packs(&self, creator: UserId) -> PortResult<Vec<Pack>>;
    /// Deletes one with its expressions and invites; whether it existed.
    async fn delete_pack(&self, id: PackId) -> PortResult<bool>;
}

/// Reports filed with the instance's staff.
#[async_trait]
pub trait ReportRepository: Send + Sync {
    /// Stores (inserts or replaces) one.
    async fn put_report(&self, report: &Report) -> PortResult<()>;
    /// One, by ID.
    async fn get_report(&self, id: ReportId) -> PortResult<Option<Report>>;
    /// Up to `limit` reports older than `before` (all when `None`), newest first; only those with
    /// `status` when given.
    async fn list_reports(
        &self,
        status: Option<ReportStatus>,
        before: Option<ReportId>,
        limit: u32,
    ) -> PortResult<Vec<Report>>;
}

/// OAuth2 credentials (authorization codes, access and refresh tokens), keyed by the SHA-256 of the
/// token. A credential past its `expires_at` is never returned; it lingers until
/// [`delete_expired_oauth2_tokens`](Self::delete_expired_oauth2_tokens) removes it.
#[async_trait]
pub trait OAuth2TokenRepository: Send + Sync {
    /// Stores a credential under its `token_hash` (replacing one with the same hash).
    async fn put_oauth2_token(&self, token: &OAuth2Token) -> PortResult<()>;
    /// The credential with this hash if it has this kind and has not expired at `now`.
    async fn get_oauth2_token(
        &self,
        kind: OAuth2TokenKind,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> PortResult<Option<OAuth2Token>>;
    /// Consumes a credential (a code at its exchange, a refresh token at its rotation): returns it
    /// and deletes it if it has this kind and has not expired at `now`. Of two takes of one token,
    /// concurrent or not, at most one returns it. A take with another kind returns `None` and leaves
    /// the token; an expired one of this kind is deleted and not returned.
    async fn take_oauth2_token(
        &self,
        kind: OAuth2TokenKind,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> PortResult<Option<OAuth2Token>>;
    /// Every unexpired credential `user` has given, of every kind and application, in any order.
    async fn list_user_oauth2_tokens(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> PortResult<Vec<OAuth2Token>>;
    /// Revokes a grant: deletes every credential `user` gave `application`; returns how many.
    async fn delete_oauth2_grant(
        &self,
        user: UserId,
        application: ApplicationId,
    ) -> PortResult<u64>;
    /// Deletes every credential `user` gave (account erasure); returns how many.
    async fn delete_user_oauth2_tokens(&self, user: UserId) -> PortResult<u64>;
    /// Deletes every credential given to `application` (its deletion); returns how many.
    async fn delete_application_oauth2_tokens(&self, application: ApplicationId)
    -> PortResult<u64>;
    /// Deletes every credential expired at `now`; returns how many.
    async fn delete_expired_oauth2_tokens(&self, now: Timestamp) -> PortResult<u64>;
}

/// Single sign-on identities: which account an OpenID provider's person (issuer and subject)
/// signs in to. An identity is linked to one account at most.
#[async_trait]
pub trait SsoIdentityRepository: Send + Sync {
    /// Links the identity to `user`; fails with the `sso_identities.pk` conflict when the identity
    /// is linked already (to anyone).
    async fn link_sso_identity(&self, issuer: &str, subject: &str, user: UserId) -> PortResult<()>;
    /// The account the identity is linked to, if any.
    async fn find_sso_identity(&self, issuer: &str, subject: &str) -> PortResult<Option<UserId>>;
    /// Unlinks every identity of `user` (account erasure); returns how many.
    async fn delete_user_sso_identities(&self, user: UserId) -> PortResult<u64>;
}

/// Guilds' discovery applications, one per guild (keyed by guild ID).
#[async_trait]
pub trait DiscoveryRepository: Send + Sync {
    /// Stores (inserts or replaces) a guild's application.
    async fn put_discovery_application(&self, application: &DiscoveryApplication)
    -> PortResult<()>;
    /// A guild's application, if it has one.
    async fn get_discovery_application(
        &self,
        guild: GuildId,
    ) -> PortResult<Option<DiscoveryApplication>>;
    /// Deletes a guild's application; whether there was one.
    async fn delete_discovery_application(&self, guild: GuildId) -> PortResult<bool>;
    /// Up to `limit` applications with `status`, by ascending guild ID after `after` (from the
    /// start when `None`).
    async fn list_discovery_applications(
        &self,
        status: DiscoveryStatus,
        after: Option<GuildId>,
        limit: u32,
    ) -> PortResult<Vec<DiscoveryApplication>>;
}

/// Every repository: what a complete storage backend implements.
pub trait Store:
    UserRepository
    + SessionRepository
    + GuildRepository
    + ChannelRepository
    + MessageRepository
    + MemberRepository
    + RoleRepository
    + InviteRepository
    + BanRepository
    + WebhookRepository
    + ApplicationRepository
    + ReadStateRepository
    + RelationshipRepository
    + AccessRepository
    + HistoryRepository
    + ScanRepository
    + PrivateDocumentRepository
    + AuditLogRepository
    + ExpressionRepository
    + PackRepository
    + ReportRepository
    + OAuth2TokenRepository
    + SsoIdentityRepository
    + WebAuthnCredentialRepository
    + AdminAuditLogRepository
    + DiscoveryRepository
    + 'static
{
}

impl<T> Store for T where
    T: UserRepository
        + SessionRepository
        + GuildRepository
        + ChannelRepository
        + MessageRepository
        + MemberRepository
        + RoleRepository
        + InviteRepository
        + BanRepository
        + WebhookRepository
        + ApplicationRepository
        + ReadStateRepository
        + RelationshipRepository
        + AccessRepository
        + HistoryRepository
        + ScanRepository
        + PrivateDocumentRepository
        + AuditLogRepository
        + ExpressionRepository
        + PackRepository
        + ReportRepository
        + OAuth2TokenRepository
        + SsoIdentityRepository
        + WebAuthnCredentialRepository
        + AdminAuditLogRepository
        + DiscoveryRepository
        + 'static
{
}

/// Conflict names used by the contracts above.
pub mod conflict {
    /// Two users with the same (lower-cased) email.
    pub const USER_EMAIL: &str = "users.email";
    /// Two users with the same tag: username (case-insensitive) and discriminator.
    pub const USER_TAG: &str = "users.tag";
    /// Two guilds with the same vanity code.
    pub const GUILD_VANITY: &str = "guilds.vanity_url_code";
    /// Two invites with the same code.
    pub const INVITE_CODE: &str = "invites.code";
    /// The same user added twice to one guild.
    pub const MEMBER: &str = "members.pk";
    /// One OpenID identity (issuer and subject) linked twice.
    pub const SSO_IDENTITY: &str = "sso_identities.pk";
    /// Two WebAuthn credentials with the same credential ID.
    pub const WEBAUTHN_CREDENTIAL: &str = "webauthn_credentials.id";
}

/// Whether an error is the given conflict.
pub fn is_conflict(e: &StoreError, name: &str) -> bool {
    matches!(e, StoreError::Conflict(c) if *c == name)
}
