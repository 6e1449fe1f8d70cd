//! Permissions: upstream Fluxer's bit values and the full computation, as pure functions.
//!
//! Order of evaluation (the same as Discord's, which Fluxer follows):
//! 1. the guild owner has every permission;
//! 2. base = @everyone role's permissions | every role of the member;
//! 3. ADMINISTRATOR in base grants every permission and skips overwrites;
//! 4. in a channel: the @everyone overwrite (deny, then allow), then all of the member's role overwrites
//!    together (deny, then allow), then the member's own overwrite (deny, then allow);
//! 5. without VIEW_CHANNEL nothing else in the channel is granted; without SEND_MESSAGES the permissions
//!    that only make sense when sending are dropped;
//! 6. a timed-out member keeps only VIEW_CHANNEL and READ_MESSAGE_HISTORY.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::id::{RoleId, Snowflake, UserId};

bitflags::bitflags! {
    /// A set of permissions. Serialized as a decimal string (it does not fit a JavaScript number).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Permissions: u64 {
        /// Create invites to a channel.
        const CREATE_INSTANT_INVITE = 1 << 0;
        /// Remove members from the guild (a group DM's owner holds it there too).
        const KICK_MEMBERS = 1 << 1;
        /// Ban and unban members.
        const BAN_MEMBERS = 1 << 2;
        /// Every permission, in every channel: overwrites do not apply.
        const ADMINISTRATOR = 1 << 3;
        /// Create, edit, reorder and delete channels, and manage their invites.
        const MANAGE_CHANNELS = 1 << 4;
        /// Edit the guild's settings (vanity URL included) and see all its invites.
        const MANAGE_GUILD = 1 << 5;
        /// Add new reactions to messages.
        const ADD_REACTIONS = 1 << 6;
        /// Read the guild's audit log.
        const VIEW_AUDIT_LOG = 1 << 7;
        /// Be heard over others in voice channels.
        const PRIORITY_SPEAKER = 1 << 8;
        /// Share video or the screen in voice channels.
        const STREAM = 1 << 9;
        /// See a channel at all; without it nothing else in the channel is granted.
        const VIEW_CHANNEL = 1 << 10;
        /// Post messages; without it the permissions that only matter when sending are dropped.
        const SEND_MESSAGES = 1 << 11;
        /// Send text-to-speech messages.
        const SEND_TTS_MESSAGES = 1 << 12;
        /// Delete others' messages, remove others' reactions, bulk delete and pin; exempts from
        /// slowmode.
        const MANAGE_MESSAGES = 1 << 13;
        /// Have links in one's messages embedded.
        const EMBED_LINKS = 1 << 14;
        /// Upload files with messages.
        const ATTACH_FILES = 1 << 15;
        /// Read a channel's stored messages: history, single messages, pins, search.
        const READ_MESSAGE_HISTORY = 1 << 16;
        /// Mention `@everyone` and `@here`, and roles that are not mentionable.
        const MENTION_EVERYONE = 1 << 17;
        /// Use custom emojis from other guilds.
        const USE_EXTERNAL_EMOJIS = 1 << 18;
        /// Join voice channels.
        const CONNECT = 1 << 20;
        /// Talk in voice channels.
        const SPEAK = 1 << 21;
        /// Server-mute members in voice.
        const MUTE_MEMBERS = 1 << 22;
        /// Server-deafen members in voice.
        const DEAFEN_MEMBERS = 1 << 23;
        /// Move members between voice channels.
        const MOVE_MEMBERS = 1 << 24;
        /// Talk by voice activity rather than push-to-talk.
        const USE_VAD = 1 << 25;
        /// Change one's own nickname.
        const CHANGE_NICKNAME = 1 << 26;
        /// Change other members' nicknames.
        const MANAGE_NICKNAMES = 1 << 27;
        /// Create, edit and assign roles below one's highest, and edit channel overwrites.
        const MANAGE_ROLES = 1 << 28;
        /// Create, edit and delete webhooks.
        const MANAGE_WEBHOOKS = 1 << 29;
        /// Edit and delete the guild's custom emojis and stickers.
        const MANAGE_EXPRESSIONS = 1 << 30;
        /// Use stickers from other guilds.
        const USE_EXTERNAL_STICKERS = 1 << 37;
        /// Time members out.
        const MODERATE_MEMBERS = 1 << 40;
        /// Upload custom emojis and stickers.
        const CREATE_EXPRESSIONS = 1 << 43;
        /// Pin and unpin messages.
        const PIN_MESSAGES = 1 << 51;
        /// Send without waiting out the channel's slowmode.
        const BYPASS_SLOWMODE = 1 << 52;
        /// Change a voice channel's RTC region.
        const UPDATE_RTC_REGION = 1 << 53;
    }
}

impl Permissions {
    /// What a new guild's @everyone role gets (upstream's `DEFAULT_PERMISSIONS`).
    pub const DEFAULT: Permissions = Permissions::CREATE_INSTANT_INVITE
        .union(Permissions::ADD_REACTIONS)
        .union(Permissions::STREAM)
        .union(Permissions::VIEW_CHANNEL)
        .union(Permissions::SEND_MESSAGES)
        .union(Permissions::EMBED_LINKS)
        .union(Permissions::ATTACH_FILES)
        .union(Permissions::READ_MESSAGE_HISTORY)
        .union(Permissions::USE_EXTERNAL_EMOJIS)
        .union(Permissions::CONNECT)
        .union(Permissions::SPEAK)
        .union(Permissions::USE_VAD)
        .union(Permissions::CHANGE_NICKNAME)
        .union(Permissions::USE_EXTERNAL_STICKERS)
        .union(Permissions::CREATE_EXPRESSIONS);

    /// The permissions that only matter when one can send messages.
    const SEND_DEPENDENT: Permissions = Permissions::SEND_TTS_MESSAGES
        .union(Permissions::MENTION_EVERYONE)
        .union(Permissions::EMBED_LINKS)
        .union(Permissions::ATTACH_FILES);

    /// What a timed-out member keeps.
    const TIMEOUT_ALLOWED: Permissions =
        Permissions::VIEW_CHANNEL.union(Permissions::READ_MESSAGE_HISTORY);

    /// Parses a permission set, dropping bits that are not defined (as upstream does).
    pub fn from_raw(raw: u64) -> Self {
        Permissions::from_bits_truncate(raw)
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        bitflags::parser::to_writer(self, &mut *f)?;
        write!(f, " ({})", self.bits())
    }
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.bits())
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PermissionsVisitor;
        impl Visitor<'_> for PermissionsVisitor {
            type Value = Permissions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a permission bitfield as a decimal string or integer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Permissions, E> {
                Ok(Permissions::from_raw(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Permissions, E> {
                u64::try_from(v)
                    .map(Permissions::from_raw)
                    .map_err(|_| E::custom("permissions must not be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Permissions, E> {
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(E::custom("permissions must be a decimal integer"));
                }
                v.parse::<u64>()
                    .map(Permissions::from_raw)
                    .map_err(|_| E::custom("permissions out of range"))
            }
        }
        deserializer.deserialize_any(PermissionsVisitor)
    }
}

/// Whether an overwrite targets a role or a member. Serialized as 0 / 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverwriteType {
    /// The overwrite's `id` is a role ID (the guild's ID for @everyone).
    Role,
    /// The overwrite's `id` is a user ID.
    Member,
}

impl Serialize for OverwriteType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(match self {
            OverwriteType::Role => 0,
            OverwriteType::Member => 1,
        })
    }
}

impl<'de> Deserialize<'de> for OverwriteType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Number(n) if n.as_u64() == Some(0) => Ok(OverwriteType::Role),
            serde_json::Value::Number(n) if n.as_u64() == Some(1) => Ok(OverwriteType::Member),
            serde_json::Value::String(s) if s == "0" || s == "role" => Ok(OverwriteType::Role),
            serde_json::Value::String(s) if s == "1" || s == "member" => Ok(OverwriteType::Member),
            _ => Err(de::Error::custom(
                "overwrite type must be 0 (role) or 1 (member)",
            )),
        }
    }
}

/// A channel's permission overwrite for one role or member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionOverwrite {
    /// The role or user it applies to, as `kind` says.
    pub id: Snowflake,
    /// Whether `id` is a role or a member.
    #[serde(rename = "type")]
    pub kind: OverwriteType,
    /// Permissions it grants.
    pub allow: Permissions,
    /// Permissions it takes away; applied before `allow` at the same level.
    pub deny: Permissions,
}

/// Everything about a member that the computation needs, borrowed from the caller's data.
#[derive(Debug, Clone, Copy)]
pub struct MemberContext<'a> {
    /// The member.
    pub user_id: UserId,
    /// The guild owner's ID.
    pub owner_id: UserId,
    /// The @everyone role's permissions.
    pub everyone: Permissions,
    /// The member's roles (excluding @everyone) with their permissions.
    pub roles: &'a [(RoleId, Permissions)],
    /// Whether the member is timed out right now.
    pub timed_out: bool,
}

/// The member's guild-level permissions (steps 1–3, and 6 for non-administrators).
pub fn guild_permissions(member: &MemberContext<'_>) -> Permissions {
    if member.user_id == member.owner_id {
        return Permissions::all();
    }
    let base = member
        .roles
        .iter()
        .fold(member.everyone, |acc, (_, perms)| acc | *perms);
    if base.contains(Permissions::ADMINISTRATOR) {
        return Permissions::all();
    }
    if member.timed_out {
        return base & Permissions::TIMEOUT_ALLOWED;
    }
    base
}

/// The member's permissions in a channel with the given overwrites. `everyone_role` is the guild's
/// @everyone role ID (the guild's ID).
pub fn channel_permissions(
    member: &MemberContext<'_>,
    everyone_role: RoleId,
    overwrites: &[PermissionOverwrite],
) -> Permissions {
    let base = guild_permissions(member);
    if base.contains(Permissions::ADMINISTRATOR) {
        return Permissions::all();
    }
    let mut perms = base;

    if let Some(o) = overwrites
        .iter()
        .find(|o| o.kind == OverwriteType::Role && o.id == everyone_role.0)
    {
        perms = (perms - o.deny) | o.allow;
    }

    let (mut allow, mut deny) = (Permissions::empty(), Permissions::empty());
    for o in overwrites.iter().filter(|o| o.kind == OverwriteType::Role) {
        if member.roles.iter().any(|(id, _)| id.0 == o.id) {
            allow |= o.allow;
            deny |= o.deny;
        }
    }
    perms = (perms - deny) | allow;

    if let Some(o) = overwrites
        .iter()
        .find(|o| o.kind == OverwriteType::Member && o.id == member.user_id.0)
    {
        perms = (perms - o.deny) | o.allow;
    }

    if member.timed_out {
        perms &= Permissions::TIMEOUT_ALLOWED;
    }
    if !perms.contains(Permissions::VIEW_CHANNEL) {
        return Permissions::empty();
    }
    if !perms.contains(Permissions::SEND_MESSAGES) {
        perms -= Permissions::SEND_DEPENDENT;
    }
    perms
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: UserId = UserId::new(1);
    const ALICE: UserId = UserId::new(2);
    const EVERYONE: RoleId = RoleId::new(100);
    const MODS: RoleId = RoleId::new(101);
    const MUTED: RoleId = RoleId::new(102);

    fn member(roles: &[(RoleId, Permissions)]) -> MemberContext<'_> {
        MemberContext {
            user_id: ALICE,
            owner_id: OWNER,
            everyone: Permissions::DEFAULT,
            roles,
            timed_out: false,
        }
    }

    fn role_ow(id: RoleId, allow: Permissions, deny: Permissions) -> PermissionOverwrite {
        PermissionOverwrite {
            id: id.0,
            kind: OverwriteType::Role,
            allow,
            deny,
        }
    }

    fn member_ow(id: UserId, allow: Permissions, deny: Permissions) -> PermissionOverwrite {
        PermissionOverwrite {
            id: id.0,
            kind: OverwriteType::Member,
            allow,
            deny,
        }
    }

    #[test]
    fn bit_values_match_upstream() {
        assert_eq!(Permissions::ADMINISTRATOR.bits(), 8);
        assert_eq!(Permissions::VIEW_CHANNEL.bits(), 1024);
        assert_eq!(Permissions::SEND_MESSAGES.bits(), 2048);
        assert_eq!(Permissions::MODERATE_MEMBERS.bits(), 1 << 40);
        assert_eq!(Permissions::PIN_MESSAGES.bits(), 1 << 51);
        assert_eq!(Permissions::UPDATE_RTC_REGION.bits(), 1 << 53);
        assert!(Permissions::DEFAULT.contains(Permissions::CREATE_EXPRESSIONS));
        assert!(!Permissions::DEFAULT.contains(Permissions::MANAGE_MESSAGES));
    }

    #[test]
    fn default_bits_are_the_listed_ones() {
        let listed = (1u64 << 0)
            | (1 << 6)
            | (1 << 9)
            | (1 << 10)
            | (1 << 11)
            | (1 << 14)
            | (1 << 15)
            | (1 << 16)
            | (1 << 18)
            | (1 << 20)
            | (1 << 21)
            | (1 << 25)
            | (1 << 26)
            | (1 << 37)
            | (1 << 43);
        assert_eq!(Permissions::DEFAULT.bits(), listed);
    }

    #[test]
    fn serializes_as_decimal_string_and_parses_both_forms() {
        let p = Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES;
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"3072\"");
        assert_eq!(serde_json::from_str::<Permissions>("\"3072\"").unwrap(), p);
        assert_eq!(serde_json::from_str::<Permissions>("3072").unwrap(), p);
        // Undefined bits (19) are dropped, not an error.
        assert_eq!(
            serde_json::from_str::<Permissions>(&(1u64 << 19).to_string()).unwrap(),
            Permissions::empty()
        );
        assert!(serde_json::from_str::<Permissions>("\"-1\"").is_err());
        assert!(serde_json::from_str::<Permissions>("\"abc\"").is_err());
        assert!(serde_json::from_str::<Permissions>("-1").is_err());
    }

    #[test]
    fn owner_has_everything_even_with_nothing_and_denies() {
        let ctx = MemberContext {
            user_id: OWNER,
            owner_id: OWNER,
            everyone: Permissions::empty(),
            roles: &[],
            timed_out: false,
        };
        assert_eq!(guild_permissions(&ctx), Permissions::all());
        let deny_all = [member_ow(OWNER, Permissions::empty(), Permissions::all())];
        assert_eq!(
            channel_permissions(&ctx, EVERYONE, &deny_all),
            Permissions::all()
        );
    }

    #[test]
    fn base_is_everyone_or_roles() {
        let roles = [(
            MODS,
            Permissions::MANAGE_MESSAGES | Permissions::KICK_MEMBERS,
        )];
        let p = guild_permissions(&member(&roles));
        assert_eq!(
            p,
            Permissions::DEFAULT | Permissions::MANAGE_MESSAGES | Permissions::KICK_MEMBERS
        );
        assert_eq!(guild_permissions(&member(&[])), Permissions::DEFAULT);
    }

    #[test]
    fn administrator_grants_all_and_ignores_overwrites() {
        let roles = [(MODS, Permissions::ADMINISTRATOR)];
        let ctx = member(&roles);
        assert_eq!(guild_permissions(&ctx), Permissions::all());
        let ows = [
            role_ow(EVERYONE, Permissions::empty(), Permissions::all()),
            member_ow(ALICE, Permissions::empty(), Permissions::VIEW_CHANNEL),
        ];
        assert_eq!(
            channel_permissions(&ctx, EVERYONE, &ows),
            Permissions::all()
        );
    }

    #[test]
    fn administrator_on_everyone_role_grants_all() {
        let ctx = MemberContext {
            everyone: Permissions::ADMINISTRATOR,
            ..member(&[])
        };
        assert_eq!(guild_permissions(&ctx), Permissions::all());
    }

    #[test]
    fn everyone_overwrite_applies_deny_then_allow() {
        let ows = [role_ow(
            EVERYONE,
            Permissions::MANAGE_MESSAGES,
            Permissions::SEND_MESSAGES | Permissions::MANAGE_MESSAGES,
        )];
        let p = channel_permissions(&member(&[]), EVERYONE, &ows);
        assert!(!p.contains(Permissions::SEND_MESSAGES));
        // Allow wins over deny within one overwrite.
        assert!(p.contains(Permissions::MANAGE_MESSAGES));
    }

    #[test]
    fn role_overwrites_combine_and_allow_beats_other_roles_deny() {
        let roles = [(MODS, Permissions::empty()), (MUTED, Permissions::empty())];
        let ows = [
            role_ow(EVERYONE, Permissions::empty(), Permissions::SEND_MESSAGES),
            role_ow(
                MUTED,
                Permissions::empty(),
                Permissions::SEND_MESSAGES | Permissions::ADD_REACTIONS,
            ),
            role_ow(MODS, Permissions::SEND_MESSAGES, Permissions::empty()),
        ];
        let p = channel_permissions(&member(&roles), EVERYONE, &ows);
        assert!(
            p.contains(Permissions::SEND_MESSAGES),
            "a role allow beats another role's deny"
        );
        assert!(!p.contains(Permissions::ADD_REACTIONS));
    }

    #[test]
    fn role_overwrite_beats_everyone_overwrite() {
        let roles = [(MODS, Permissions::empty())];
        let ows = [
            role_ow(EVERYONE, Permissions::empty(), Permissions::SEND_MESSAGES),
            role_ow(MODS, Permissions::SEND_MESSAGES, Permissions::empty()),
        ];
        assert!(
            channel_permissions(&member(&roles), EVERYONE, &ows)
                .contains(Permissions::SEND_MESSAGES)
        );
        // Without the role the @everyone deny holds.
        assert!(
            !channel_permissions(&member(&[]), EVERYONE, &ows).contains(Permissions::SEND_MESSAGES)
        );
    }

    #[test]
    fn member_overwrite_beats_role_overwrites() {
        let roles = [(MODS, Permissions::empty())];
        let ows = [
            role_ow(MODS, Permissions::SEND_MESSAGES, Permissions::empty()),
            member_ow(ALICE, Permissions::empty(), Permissions::SEND_MESSAGES),
        ];
        assert!(
            !channel_permissions(&member(&roles), EVERYONE, &ows)
                .contains(Permissions::SEND_MESSAGES)
        );
        let ows = [
            role_ow(EVERYONE, Permissions::empty(), Permissions::SEND_MESSAGES),
            member_ow(ALICE, Permissions::SEND_MESSAGES, Permissions::empty()),
        ];
        assert!(
            channel_permissions(&member(&[]), EVERYONE, &ows).contains(Permissions::SEND_MESSAGES)
        );
    }

    #[test]
    fn overwrites_of_other_members_and_roles_are_ignored() {
        let ows = [
            role_ow(MODS, Permissions::empty(), Permissions::all()),
            member_ow(OWNER, Permissions::empty(), Permissions::all()),
        ];
        assert_eq!(
            channel_permissions(&member(&[]), EVERYONE, &ows),
            Permissions::DEFAULT
        );
    }

    #[test]
    fn no_view_channel_means_nothing() {
        let ows = [role_ow(
            EVERYONE,
            Permissions::empty(),
            Permissions::VIEW_CHANNEL,
        )];
        assert_eq!(
            channel_permissions(&member(&[]), EVERYONE, &ows),
            Permissions::empty()
        );
    }

    #[test]
    fn no_send_messages_drops_dependent_permissions() {
        let roles = [(MODS, Permissions::MENTION_EVERYONE)];
        let ows = [role_ow(
            EVERYONE,
            Permissions::empty(),
            Permissions::SEND_MESSAGES,
        )];
        let p = channel_permissions(&member(&roles), EVERYONE, &ows);
        assert!(p.contains(
            Permissions::VIEW_CHANNEL
                | Permissions::READ_MESSAGE_HISTORY
                | Permissions::ADD_REACTIONS
        ));
        assert!(!p.intersects(
            Permissions::MENTION_EVERYONE | Permissions::ATTACH_FILES | Permissions::EMBED_LINKS
        ));
    }

    #[test]
    fn timed_out_member_can_only_read() {
        let roles = [(MODS, Permissions::MANAGE_MESSAGES)];
        let ctx = MemberContext {
            timed_out: true,
            ..member(&roles)
        };
        assert_eq!(
            guild_permissions(&ctx),
            Permissions::VIEW_CHANNEL | Permissions::READ_MESSAGE_HISTORY
        );
        let ows = [member_ow(
            ALICE,
            Permissions::SEND_MESSAGES,
            Permissions::empty(),
        )];
        assert_eq!(
            channel_permissions(&ctx, EVERYONE, &ows),
            Permissions::VIEW_CHANNEL | Permissions::READ_MESSAGE_HISTORY
        );
    }

    #[test]
    fn timed_out_administrator_keeps_everything() {
        let roles = [(MODS, Permissions::ADMINISTRATOR)];
        let ctx = MemberContext {
            timed_out: true,
            ..member(&roles)
        };
        assert_eq!(guild_permissions(&ctx), Permissions::all());
    }

    #[test]
    fn exhaustive_single_bit_overwrite_layers() {
        // For every defined permission bit and every combination of the three layers (each of
        // none/allow/deny), the result follows "last layer that mentions the bit wins".
        let roles = [(MODS, Permissions::empty())];
        let ctx = MemberContext {
            everyone: Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES,
            ..member(&roles)
        };
        for bit in Permissions::all().iter() {
            if bit == Permissions::ADMINISTRATOR
                || bit == Permissions::VIEW_CHANNEL
                || bit == Permissions::SEND_MESSAGES
            {
                continue;
            }
            for layers in 0..27u32 {
                let states = [layers % 3, (layers / 3) % 3, layers / 9];
                let make = |state: u32| match state {
                    1 => (bit, Permissions::empty()),
                    2 => (Permissions::empty(), bit),
                    _ => (Permissions::empty(), Permissions::empty()),
                };
                let (ea, ed) = make(states[0]);
                let (ra, rd) = make(states[1]);
                let (ma, md) = make(states[2]);
                let ows = [
                    role_ow(EVERYONE, ea, ed),
                    role_ow(MODS, ra, rd),
                    member_ow(ALICE, ma, md),
                ];
                let expected = states
                    .iter()
                    .rev()
                    .find(|s| **s != 0)
                    .map(|s| *s == 1)
                    .unwrap_or(false);
                let got = channel_permissions(&ctx, EVERYONE, &ows).contains(bit);
                assert_eq!(got, expected, "bit {bit:?} layers {states:?}");
            }
        }
    }
}
