//! Who is acting, and what they may do where.

use crate::error::{Error, Result, Unknown};
use crate::id::{GuildId, RoleId, UserId};
use crate::model::{Channel, Guild, Member, OAuth2Scope, Role, User};
use crate::permission::{MemberContext, Permissions, channel_permissions, guild_permissions};
use crate::ports::GuildStanding;
use crate::time::Timestamp;

use super::Fluxer;
use super::oauth2::OAuth2Bearer;

/// An authenticated caller: a person on a session, a bot, or a person through an application's
/// OAuth2 access token (limited to its scopes).
#[derive(Debug, Clone)]
pub struct Actor {
    /// The caller's user record (bots included: `user.bot` is set).
    pub user: User,
    /// The session token's hash, for session-scoped actions (logout). `None` for bots.
    pub session: Option<[u8; 32]>,
    /// Why the caller does what it does (`X-Audit-Log-Reason`), recorded in guild audit logs.
    pub reason: Option<String>,
    /// Set when the caller authenticated with an OAuth2 access token (`Authorization: Bearer`):
    /// the application acts for the user within the token's scopes.
    pub oauth2: Option<OAuth2Bearer>,
}

impl Actor {
    /// The caller's user ID.
    pub fn id(&self) -> UserId {
        self.user.id
    }

    /// Whether the caller is a bot user (authenticated with `Bot <token>`).
    pub fn is_bot(&self) -> bool {
        self.user.bot
    }

    /// Whether the caller acts through an OAuth2 access token.
    pub fn is_oauth2(&self) -> bool {
        self.oauth2.is_some()
    }

    /// Whether the caller may reach what `scope` guards: always on a session or as a bot; through
    /// an OAuth2 token, only when the token carries the scope.
    pub fn allows(&self, scope: OAuth2Scope) -> bool {
        self.oauth2
            .as_ref()
            .is_none_or(|bearer| bearer.scopes.contains(scope))
    }

    /// Fails with 403 `MISSING_OAUTH_SCOPE` when the caller acts through an OAuth2 token without
    /// `scope`; sessions and bots pass.
    pub fn require_scope(&self, scope: OAuth2Scope) -> Result<()> {
        if self.allows(scope) {
            Ok(())
        } else {
            Err(Error::MissingOAuthScope(scope))
        }
    }

    /// Refuses bots on a route for people (403 `ACCESS_DENIED`, as upstream), saying `why`.
    pub fn require_person(&self, why: &str) -> Result<()> {
        if self.is_bot() {
            return Err(Error::forbidden("ACCESS_DENIED", why));
        }
        Ok(())
    }
}

/// A member's standing in a guild: the guild, the membership, all roles, and guild-level permissions.
#[derive(Debug, Clone)]
pub struct GuildAccess {
    /// The guild.
    pub guild: Guild,
    /// The caller's membership in it.
    pub member: Member,
    /// Every role of the guild (including @everyone), sorted by position.
    pub roles: Vec<Role>,
    /// The caller's guild-wide permissions: everything for the owner and administrators, only the
    /// timeout-allowed ones while timed out.
    pub permissions: Permissions,
    pub(crate) now: Timestamp,
}

impl GuildAccess {
    /// Whether the caller owns the guild.
    pub fn is_owner(&self) -> bool {
        self.guild.owner_id == self.member.user_id
    }

    fn context<'a>(&self, member_roles: &'a [(RoleId, Permissions)]) -> MemberContext<'a> {
        MemberContext {
            user_id: self.member.user_id,
            owner_id: self.guild.owner_id,
            everyone: self.everyone_permissions(),
            roles: member_roles,
            timed_out: self.member.is_timed_out(self.now),
        }
    }

    fn everyone_permissions(&self) -> Permissions {
        let everyone = self.guild.id.everyone_role();
        self.roles
            .iter()
            .find(|r| r.id == everyone)
            .map(|r| r.permissions)
            .unwrap_or(Permissions::DEFAULT)
    }

    fn member_roles(&self, member: &Member) -> Vec<(RoleId, Permissions)> {
        self.roles
            .iter()
            .filter(|r| member.roles.contains(&r.id))
            .map(|r| (r.id, r.permissions))
            .collect()
    }

    /// The member's permissions in one of this guild's channels.
    pub fn channel_permissions(&self, channel: &Channel) -> Permissions {
        let roles = self.member_roles(&self.member);
        channel_permissions(
            &self.context(&roles),
            self.guild.id.everyone_role(),
            &channel.permission_overwrites,
        )
    }

    /// Another member's permissions in a channel of this guild (for event delivery, mentions).
    pub fn permissions_of(&self, member: &Member, channel: Option<&Channel>) -> Permissions {
        let roles = self.member_roles(member);
        let ctx = MemberContext {
            user_id: member.user_id,
            timed_out: member.is_timed_out(self.now),
            ..self.context(&roles)
        };
        match channel {
            Some(c) => channel_permissions(
                &ctx,
                self.guild.id.everyone_role(),
                &c.permission_overwrites,
            ),
            None => guild_permissions(&ctx),
        }
    }

    /// Fails with `MISSING_PERMISSIONS` unless every permission in `needed` is held guild-wide.
    pub fn require(&self, needed: Permissions) -> Result<()> {
        if self.permissions.contains(needed) {
            Ok(())
        } else {
            Err(Error::MissingPermissions)
        }
    }

    /// The position of the member's highest role (the owner outranks everyone).
    pub fn top_position(&self) -> i32 {
        if self.is_owner() {
            return i32::MAX;
        }
        self.position_of(&self.member)
    }

    /// The position of a member's highest role.
    pub fn position_of(&self, member: &Member) -> i32 {
        if member.user_id == self.guild.owner_id {
            return i32::MAX;
        }
        self.roles
            .iter()
            .filter(|r| member.roles.contains(&r.id))
            .map(|r| r.position)
            .max()
            .unwrap_or(0)
    }

    /// Fails unless the acting member outranks `target` (role hierarchy for kicks, bans, edits).
    pub fn require_outranks(&self, target: &Member) -> Result<()> {
        if target.user_id == self.guild.owner_id
            || (!self.is_owner() && self.top_position() <= self.position_of(target))
        {
            return Err(Error::MissingPermissions);
        }
        Ok(())
    }

    /// Fails unless the acting member may manage a role at `position` (strictly below its top role).
    pub fn require_role_below(&self, position: i32) -> Result<()> {
        if self.is_owner() || self.top_position() > position {
            Ok(())
        } else {
            Err(Error::MissingPermissions)
        }
    }
}

/// A member's permissions in one of a guild's channels, from the guild's roles (all of them, @everyone
/// included) and the member record: the computation behind [`GuildAccess::channel_permissions`] for callers
/// that cache guild state apart from members (the gateway shares one guild state between sessions).
pub fn member_channel_permissions(
    guild: &Guild,
    roles: &[Role],
    member: &Member,
    channel: &Channel,
    now: Timestamp,
) -> Permissions {
    let everyone = roles
        .iter()
        .find(|r| r.id == guild.id.everyone_role())
        .map_or(Permissions::DEFAULT, |r| r.permissions);
    let member_roles: Vec<(RoleId, Permissions)> = roles
        .iter()
        .filter(|r| member.roles.contains(&r.id))
        .map(|r| (r.id, r.permissions))
        .collect();
    let ctx = MemberContext {
        user_id: member.user_id,
        owner_id: guild.owner_id,
        everyone,
        roles: &member_roles,
        timed_out: member.is_timed_out(now),
    };
    channel_permissions(
        &ctx,
        guild.id.everyone_role(),
        &channel.permission_overwrites,
    )
}

/// A caller's standing in a channel.
#[derive(Debug, Clone)]
pub struct ChannelAccess {
    /// The channel.
    pub channel: Channel,
    /// Present for guild channels.
    pub guild: Option<GuildAccess>,
    /// The caller's permissions in the channel, overwrites applied. In a private channel: the fixed
    /// recipient set, plus `MANAGE_CHANNELS` and `KICK_MEMBERS` for the group's owner.
    pub permissions: Permissions,
}

impl ChannelAccess {
    /// Fails with `MISSING_PERMISSIONS` unless every permission in `needed` is held in this
    /// channel.
    pub fn require(&self, needed: Permissions) -> Result<()> {
        if self.permissions.contains(needed) {
            Ok(())
        } else {
            Err(Error::MissingPermissions)
        }
    }

    /// The channel's guild; `None` for DMs and group DMs.
    pub fn guild_id(&self) -> Option<GuildId> {
        self.channel.guild_id
    }
}

/// What a recipient may do in a private channel.
const PRIVATE_CHANNEL_PERMISSIONS: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::SEND_MESSAGES)
    .union(Permissions::READ_MESSAGE_HISTORY)
    .union(Permissions::ADD_REACTIONS)
    .union(Permissions::ATTACH_FILES)
    .union(Permissions::EMBED_LINKS)
    .union(Permissions::USE_EXTERNAL_EMOJIS)
    .union(Permissions::PIN_MESSAGES)
    .union(Permissions::CONNECT)
    .union(Permissions::SPEAK)
    .union(Permissions::STREAM);

impl Fluxer {
    /// The caller's standing in a guild; `UNKNOWN_GUILD` when it does not exist or the caller is not a member.
    pub async fn guild_access(&self, user: UserId, guild_id: GuildId) -> Result<GuildAccess> {
        let standing = self
            .store()
            .get_guild_standing(guild_id, user)
            .await?
            .ok_or(Error::Unknown(Unknown::Guild))?;
        Ok(self.access_from(standing))
    }

    fn access_from(&self, standing: GuildStanding) -> GuildAccess {
        let mut access = GuildAccess {
            guild: standing.guild,
            member: standing.member,
            roles: standing.roles,
            permissions: Permissions::empty(),
            now: self.now(),
        };
        let member_roles = access.member_roles(&access.member);
        access.permissions = guild_permissions(&access.context(&member_roles));
        access
    }

    /// The caller's standing in a channel: `UNKNOWN_CHANNEL` when it does not exist or the caller is
    /// outside it, `MISSING_PERMISSIONS` when the caller is a member who cannot view it (as upstream).
    pub async fn channel_access(
        &self,
        user: UserId,
        channel_id: crate::id::ChannelId,
    ) -> Result<ChannelAccess> {
        let (channel, standing) = self
            .store()
            .get_channel_standing(channel_id, user)
            .await?
            .ok_or(Error::Unknown(Unknown::Channel))?;
        match channel.guild_id {
            Some(_) => {
                let guild = self.access_from(standing.ok_or(Error::Unknown(Unknown::Channel))?);
                let permissions = guild.channel_permissions(&channel);
                // Upstream answers a channel the member cannot view with MISSING_PERMISSIONS.
                if !permissions.contains(Permissions::VIEW_CHANNEL) {
                    return Err(Error::MissingPermissions);
                }
                Ok(ChannelAccess {
                    channel,
                    guild: Some(guild),
                    permissions,
                })
            }
            None => {
                if !channel.recipient_ids.contains(&user) {
                    return Err(Error::Unknown(Unknown::Channel));
                }
                let mut permissions = PRIVATE_CHANNEL_PERMISSIONS;
                if channel.owner_id == Some(user) {
                    permissions |= Permissions::MANAGE_CHANNELS | Permissions::KICK_MEMBERS;
                }
                Ok(ChannelAccess {
                    channel,
                    guild: None,
                    permissions,
                })
            }
        }
    }
}
