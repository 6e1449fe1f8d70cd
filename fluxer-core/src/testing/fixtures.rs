//! Entities for conformance cases: valid, unique within one [`Fixtures`], with caller-assigned snowflakes
//! from one shared [`SnowflakeGenerator`] (as the services assign them).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::id::{
    ApplicationId, ChannelId, ExpressionId, GuildId, MessageId, PackId, RoleId, Snowflake,
    SnowflakeGenerator, UserId, WebhookId,
};
use crate::model::{
    ActionToken, ActionTokenKind, Application, AuthSession, Ban, Channel, ChannelType, Expression,
    ExpressionKind, Guild, Invite, Member, Message, MessageType, OAuth2Scope, OAuth2Scopes,
    OAuth2Token, OAuth2TokenKind, Pack, ReactionEmoji, Relationship, RelationshipType, Role, User,
    Webhook,
};
use crate::permission::Permissions;
use crate::ports::{PortResult, Store};
use crate::time::Timestamp;

/// A fixed instant for cases that reason about expiry: 2023-11-14T22:13:20Z.
pub const T0: Timestamp = Timestamp::from_unix_ms(1_700_000_000_000);

/// A guild as the services create it: the guild, its @everyone role, two text channels and the owner's
/// membership.
#[derive(Debug, Clone)]
pub struct GuildBundle {
    /// The guild, owned by the bundle's owner, with `general` as its system channel.
    pub guild: Guild,
    /// Its roles: the @everyone role alone, with [`Permissions::DEFAULT`].
    pub roles: Vec<Role>,
    /// Its text channels, `general` (position 0) then `random` (position 1).
    pub channels: Vec<Channel>,
    /// The owner's membership, with no roles.
    pub owner: Member,
}

impl GuildBundle {
    /// Stores the bundle with [`GuildRepository::create_guild`](crate::ports::GuildRepository::create_guild).
    pub async fn create_in(&self, store: &dyn Store) -> PortResult<()> {
        store
            .create_guild(&self.guild, &self.roles, &self.channels, &self.owner)
            .await
    }

    /// The first text channel.
    pub fn channel(&self) -> &Channel {
        &self.channels[0]
    }
}

/// Makes entities. Shareable across tasks (`Arc<Fixtures>`): every ID comes from one generator, so IDs
/// made by concurrent tasks are still unique and ordered by when they were made.
#[derive(Debug)]
pub struct Fixtures {
    ids: Arc<SnowflakeGenerator>,
    seq: AtomicU32,
}

impl Default for Fixtures {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixtures {
    /// Fixtures with their own ID generator (worker 1).
    pub fn new() -> Self {
        Self::with_generator(Arc::new(SnowflakeGenerator::new(1)))
    }

    /// Fixtures that take IDs from `ids`, so they never collide with another user of it.
    pub fn with_generator(ids: Arc<SnowflakeGenerator>) -> Self {
        Fixtures {
            ids,
            seq: AtomicU32::new(1),
        }
    }

    /// The shared ID generator.
    pub fn generator(&self) -> &Arc<SnowflakeGenerator> {
        &self.ids
    }

    /// A fresh snowflake, greater than every one made before by this generator.
    pub fn snowflake(&self) -> Snowflake {
        self.ids.next_at(Timestamp::now())
    }

    /// A number unique within this `Fixtures`, for names, codes and tokens.
    pub fn unique(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// 32 bytes unique within this `Fixtures` (a token hash).
    pub fn token_hash(&self) -> [u8; 32] {
        let mut hash = [0u8; 32];
        hash[..4].copy_from_slice(&self.unique().to_be_bytes());
        hash[31] = 0xa5;
        hash
    }

    /// A person with a unique lower-cased email (`user{n}@example.test`) and tag (`user{n}#0001`).
    pub fn make_user(&self) -> User {
        let n = self.unique();
        User {
            id: UserId(self.snowflake()),
            username: format!("user{n}"),
            discriminator: 1,
            global_name: Some(format!("User {n}")),
            avatar: None,
            banner: None,
            bio: None,
            pronouns: None,
            accent_color: None,
            bot: false,
            system: false,
            flags: 0,
            email: Some(format!("user{n}@example.test")),
            email_verified: true,
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
            totp_secret: None,
            date_of_birth: Some("2000-01-01".to_owned()),
            locale: "en-US".to_owned(),
            password_changed_at: None,
            deleted_at: None,
            deletion_requested_at: None,
            pending_bulk_message_deletion: None,
            email_bounced: false,
            webauthn: false,
            acls: Vec::new(),
            temp_banned_until: None,
            staff_disabled: false,
            pending_review: false,
            traits: Vec::new(),
            suspicious_activity_flags: 0,
        }
    }

    /// A session of `user` with a unique token hash, created and last used at `created_at`.
    pub fn make_session(&self, user: UserId, created_at: Timestamp) -> AuthSession {
        AuthSession {
            token_hash: self.token_hash(),
            user_id: user,
            created_at,
            last_used_at: created_at,
            client_os: Some("Linux".to_owned()),
            client_browser: Some("Firefox".to_owned()),
            client_ip: Some("192.0.2.1".to_owned()),
        }
    }

    /// A one-time token of `kind` for `user` with a unique token hash, expiring at `expires_at`.
    pub fn make_action_token(
        &self,
        kind: ActionTokenKind,
        user: UserId,
        expires_at: Timestamp,
    ) -> ActionToken {
        ActionToken {
            kind,
            token_hash: self.token_hash(),
            user_id: user,
            expires_at,
        }
    }

    /// A guild owned by `owner`, with its @everyone role, channels `general` (position 0) and `random`
    /// (position 1), and the owner's membership.
    pub fn make_guild(&self, owner: UserId) -> GuildBundle {
        let id = GuildId(self.snowflake());
        let general = self.make_text_channel(id, "general", 0);
        let random = self.make_text_channel(id, "random", 1);
        let guild = Guild {
            id,
            name: format!("Guild {}", self.unique()),
            icon: None,
            banner: None,
            splash: None,
            description: None,
            owner_id: owner,
            features: Vec::new(),
            verification_level: 0,
            mfa_level: 0,
            nsfw_level: 0,
            explicit_content_filter: 0,
            default_message_notifications: 0,
            system_channel_id: Some(general.id),
            system_channel_flags: 0,
            rules_channel_id: None,
            afk_channel_id: None,
            afk_timeout: 300,
            vanity_url_code: None,
            disabled_operations: 0,
        };
        let everyone = Role {
            id: id.everyone_role(),
            guild_id: id,
            name: "@everyone".to_owned(),
            color: 0,
            position: 0,
            hoist: false,
            mentionable: false,
            permissions: Permissions::DEFAULT,
            unicode_emoji: None,
            hoist_position: None,
        };
        GuildBundle {
            guild,
            roles: vec![everyone],
            channels: vec![general, random],
            owner: self.make_member(id, owner),
        }
    }

    /// A text channel of `guild` named `name` at `position`, with a fresh ID and no overwrites.
    pub fn make_text_channel(&self, guild: GuildId, name: &str, position: i32) -> Channel {
        Channel {
            guild_id: Some(guild),
            name: Some(name.to_owned()),
            position,
            ..self.make_channel(ChannelType::GuildText)
        }
    }

    /// A 1:1 DM between `a` and `b`.
    pub fn make_dm(&self, a: UserId, b: UserId) -> Channel {
        Channel {
            recipient_ids: vec![a, b],
            ..self.make_channel(ChannelType::Dm)
        }
    }

    /// A group DM owned by `owner` with `owner` and `others` as recipients.
    pub fn make_group_dm(&self, owner: UserId, others: &[UserId]) -> Channel {
        let mut recipients = vec![owner];
        recipients.extend_from_slice(others);
        Channel {
            name: Some("group".to_owned()),
            owner_id: Some(owner),
            recipient_ids: recipients,
            ..self.make_channel(ChannelType::GroupDm)
        }
    }

    /// A channel of `kind` with a fresh ID and every optional field empty.
    fn make_channel(&self, kind: ChannelType) -> Channel {
        Channel {
            id: ChannelId(self.snowflake()),
            kind,
            guild_id: None,
            name: None,
            topic: None,
            icon: None,
            url: None,
            parent_id: None,
            position: 0,
            nsfw: false,
            rate_limit_per_user: 0,
            bitrate: None,
            user_limit: None,
            rtc_region: None,
            owner_id: None,
            recipient_ids: Vec::new(),
            permission_overwrites: Vec::new(),
            last_message_id: None,
            last_pin_timestamp: None,
            nicks: BTreeMap::new(),
        }
    }

    /// A message in `channel` by `author`, with a fresh ID (so later messages have greater IDs).
    pub fn make_message(&self, channel: &Channel, author: UserId) -> Message {
        let id = MessageId(self.snowflake());
        Message {
            id,
            channel_id: channel.id,
            guild_id: channel.guild_id,
            author_id: author,
            webhook_id: None,
            webhook_name: None,
            webhook_avatar: None,
            kind: MessageType::Default,
            flags: 0,
            content: format!("message {}", id.get()),
            edited_timestamp: None,
            pinned_at: None,
            mention_everyone: false,
            mention_ids: Vec::new(),
            mention_role_ids: Vec::new(),
            attachments: Vec::new(),
            embeds: Vec::new(),
            message_reference: None,
            nonce: None,
            tts: false,
            stickers: Vec::new(),
        }
    }

    /// `user`'s membership in `guild`: no nickname, no roles, joined now.
    pub fn make_member(&self, guild: GuildId, user: UserId) -> Member {
        Member {
            guild_id: guild,
            user_id: user,
            nick: None,
            avatar: None,
            roles: Vec::new(),
            joined_at: Timestamp::now(),
            mute: false,
            deaf: false,
            communication_disabled_until: None,
        }
    }

    /// A mentionable role of `guild` at `position`, with a fresh ID, a unique name and
    /// [`Permissions::DEFAULT`].
    pub fn make_role(&self, guild: GuildId, position: i32) -> Role {
        Role {
            id: RoleId(self.snowflake()),
            guild_id: guild,
            name: format!("role {}", self.unique()),
            color: 0x00ff_8800,
            position,
            hoist: false,
            mentionable: true,
            permissions: Permissions::DEFAULT,
            unicode_emoji: None,
            hoist_position: None,
        }
    }

    /// An invite to `channel` with a unique code, no expiry and no use limit, created at [`T0`].
    pub fn make_invite(&self, channel: &Channel) -> Invite {
        Invite {
            code: format!("inv{}", self.unique()),
            guild_id: channel.guild_id,
            channel_id: Some(channel.id),
            pack_id: None,
            inviter_id: None,
            uses: 0,
            max_uses: 0,
            max_age: 0,
            temporary: false,
            created_at: T0,
            vanity: false,
        }
    }

    /// A pack of `kind` made by `creator` at [`T0`], with a unique name and a description.
    pub fn make_pack(&self, creator: UserId, kind: ExpressionKind) -> Pack {
        Pack {
            id: PackId(self.snowflake()),
            kind,
            creator_id: creator,
            name: format!("pack{}", self.unique()),
            description: Some("a pack".to_owned()),
            created_at: T0,
            updated_at: T0,
        }
    }

    /// An invite to `pack` by its creator, with a unique code, no expiry and no use limit.
    pub fn make_pack_invite(&self, pack: &Pack) -> Invite {
        Invite {
            code: format!("pk{}", self.unique()),
            guild_id: None,
            channel_id: None,
            pack_id: Some(pack.id),
            inviter_id: Some(pack.creator_id),
            uses: 0,
            max_uses: 0,
            max_age: 0,
            temporary: false,
            created_at: T0,
            vanity: false,
        }
    }

    /// An expression of `kind` uploaded by `creator`, owned by `owner` (a guild, or a pack's
    /// expression owner).
    pub fn make_expression(
        &self,
        owner: GuildId,
        kind: ExpressionKind,
        creator: UserId,
    ) -> Expression {
        Expression {
            id: ExpressionId(self.snowflake()),
            guild_id: owner,
            kind,
            name: format!("expr{}", self.unique()),
            creator_id: creator,
            animated: false,
            content_type: "image/png".to_owned(),
            description: None,
            tags: vec![],
        }
    }

    /// A permanent ban of `user` from `guild` by `moderator`, with a reason, made at [`T0`].
    pub fn make_ban(&self, guild: GuildId, user: UserId, moderator: UserId) -> Ban {
        Ban {
            guild_id: guild,
            user_id: user,
            reason: Some("spam".to_owned()),
            moderator_id: moderator,
            created_at: T0,
            expires_at: None,
        }
    }

    /// A webhook in a guild channel.
    pub fn make_webhook(&self, channel: &Channel, creator: UserId) -> Webhook {
        Webhook {
            id: WebhookId(self.snowflake()),
            guild_id: channel.guild_id.unwrap_or_default(),
            channel_id: channel.id,
            creator_id: creator,
            name: format!("hook {}", self.unique()),
            avatar: None,
            token: format!("token{}", self.unique()),
        }
    }

    /// A public bot application of `owner`: its bot user shares the application's ID and it has a
    /// unique bot token hash and one redirect URI.
    pub fn make_application(&self, owner: UserId) -> Application {
        let id = ApplicationId(self.snowflake());
        Application {
            id,
            name: format!("app {}", self.unique()),
            description: String::new(),
            owner_id: owner,
            bot_user_id: Some(UserId(id.0)),
            bot_token_hash: Some(self.token_hash()),
            bot_public: true,
            bot_require_code_grant: false,
            redirect_uris: vec!["https://example.test/callback".to_owned()],
            client_secret_hash: Some(self.token_hash()),
        }
    }

    /// An OAuth2 credential of `kind` that `user` gave `application` (scopes `identify email`), with
    /// a unique token hash, issued at [`T0`] and expiring at `expires_at`; a code carries a redirect
    /// URI and a PKCE challenge.
    pub fn make_oauth2_token(
        &self,
        kind: OAuth2TokenKind,
        user: UserId,
        application: ApplicationId,
        expires_at: Timestamp,
    ) -> OAuth2Token {
        let code = kind == OAuth2TokenKind::AuthorizationCode;
        OAuth2Token {
            token_hash: self.token_hash(),
            kind,
            application_id: application,
            user_id: user,
            scopes: OAuth2Scopes::from_iter([OAuth2Scope::Identify, OAuth2Scope::Email]),
            created_at: T0,
            expires_at,
            redirect_uri: code.then(|| "https://example.test/callback".to_owned()),
            code_challenge: code.then(|| "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        }
    }

    /// `user`'s relationship of `kind` with `target`, since [`T0`], without a nickname.
    pub fn make_relationship(
        &self,
        user: UserId,
        target: UserId,
        kind: RelationshipType,
    ) -> Relationship {
        Relationship {
            user_id: user,
            target_id: target,
            kind,
            nickname: None,
            since: T0,
        }
    }
}

impl Fixtures {
    /// `n` users, stored, by ascending ID.
    pub async fn create_users(&self, store: &dyn Store, n: usize) -> Vec<User> {
        let mut users = Vec::with_capacity(n);
        for _ in 0..n {
            let user = self.make_user();
            store.create_user(&user).await.unwrap();
            users.push(user);
        }
        users
    }

    /// A stored guild and its stored owner.
    pub async fn create_guild(&self, store: &dyn Store) -> (User, GuildBundle) {
        let owner = self.make_user();
        store.create_user(&owner).await.unwrap();
        let guild = self.make_guild(owner.id);
        guild.create_in(store).await.unwrap();
        (owner, guild)
    }
}

/// A unicode reaction emoji.
pub fn unicode_emoji(name: &str) -> ReactionEmoji {
    ReactionEmoji {
        id: None,
        name: name.to_owned(),
        animated: None,
    }
}

/// A custom reaction emoji (its key is its ID).
pub fn custom_emoji(id: u64, name: &str) -> ReactionEmoji {
    ReactionEmoji {
        id: Some(crate::id::EmojiId::new(id)),
        name: name.to_owned(),
        animated: None,
    }
}
