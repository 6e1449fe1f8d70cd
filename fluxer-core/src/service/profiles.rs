//! What users see of each other beyond the partial user: profiles with mutual guilds and friends,
//! whether a tag is taken, and the nicknames users give their friends.

use serde::Serialize;

use super::{Actor, Fluxer};
use crate::error::{Error, Result, Unknown};
use crate::id::{GuildId, UserId};
use crate::model::{ChannelType, MemberResponse, Relationship, RelationshipType, UserPartial};
use crate::ports::{Dispatch, EventKind, Topic};
use crate::validation::Validator;

/// `GET /users/{id}/profile`.
#[derive(Debug, Clone, Serialize)]
pub struct UserProfile {
    /// The user.
    pub user: UserPartial,
    /// Their profile.
    pub user_profile: ProfileFields,
    /// Their membership of the guild asked about; omitted when not a member or not asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guild_member: Option<MemberResponse>,
    /// Their profile in that guild (no per-guild profiles yet: the empty profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guild_member_profile: Option<ProfileFields>,
    /// Friends in common, newest first; only when asked and about someone else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutual_friends: Option<Vec<UserPartial>>,
    /// Guilds in common with the nickname there; only when asked and about someone else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutual_guilds: Option<Vec<MutualGuild>>,
    /// Their verified connections the caller may see (all of them on one's own profile), by
    /// sort order.
    pub connected_accounts: Vec<super::Connection>,
}

/// The profile fields of a user (or of a member in one guild).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProfileFields {
    /// Profile text.
    pub bio: Option<String>,
    /// Pronouns.
    pub pronouns: Option<String>,
    /// Banner image hash.
    pub banner: Option<String>,
    /// Banner colour (RGB).
    pub banner_color: Option<u32>,
    /// Accent colour (RGB).
    pub accent_color: Option<u32>,
}

/// A guild two users share.
#[derive(Debug, Clone, Serialize)]
pub struct MutualGuild {
    /// The guild.
    pub id: GuildId,
    /// The profile's user's nickname there.
    pub nick: Option<String>,
}

/// What `GET /users/{id}/profile` should include.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProfileQuery {
    /// The guild whose membership to include.
    pub guild_id: Option<GuildId>,
    /// Include friends in common.
    pub with_mutual_friends: bool,
    /// Include guilds in common.
    pub with_mutual_guilds: bool,
}

impl Fluxer {
    /// A user's profile. Someone else's needs a reason to see it: being friends, their pending
    /// request, a guild or a group DM in common (`MISSING_ACCESS` otherwise); bots' are public.
    pub async fn user_profile(
        &self,
        actor: &Actor,
        target: UserId,
        query: ProfileQuery,
    ) -> Result<UserProfile> {
        let user = self
            .store()
            .get_user(target)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or(Error::Unknown(Unknown::User))?;
        let me = actor.id();
        let myself = target == me;
        let (my_guilds, their_guilds) = (
            self.store().list_user_guild_ids(me).await?,
            self.store().list_user_guild_ids(target).await?,
        );
        let shared: Vec<GuildId> = my_guilds
            .iter()
            .filter(|g| their_guilds.contains(g))
            .copied()
            .collect();
        if !myself && !user.bot && shared.is_empty() {
            let related = self
                .store()
                .get_relationship(me, target)
                .await?
                .is_some_and(|r| {
                    matches!(
                        r.kind,
                        RelationshipType::Friend | RelationshipType::Incoming
                    )
                });
            let group_dm =
                || async {
                    Ok::<bool, Error>(self.store().list_private_channels(me).await?.iter().any(
                        |c| c.kind == ChannelType::GroupDm && c.recipient_ids.contains(&target),
                    ))
                };
            if !related && !group_dm().await? {
                return Err(Error::MissingAccess);
            }
        }
        let guild_member = match query.guild_id {
            Some(g) if shared.contains(&g) || (myself && my_guilds.contains(&g)) => self
                .store()
                .get_member(g, target)
                .await?
                .map(|m| m.response(user.partial())),
            _ => None,
        };
        let mutual_friends = if query.with_mutual_friends && !myself {
            let friends = |rels: Vec<Relationship>| -> Vec<UserId> {
                rels.into_iter()
                    .filter(|r| r.kind == RelationshipType::Friend)
                    .map(|r| r.target_id)
                    .collect()
            };
            let mine = friends(self.store().list_relationships(me).await?);
            let mut common: Vec<UserId> = friends(self.store().list_relationships(target).await?)
                .into_iter()
                .filter(|f| mine.contains(f))
                .collect();
            common.sort_unstable_by(|a, b| b.cmp(a));
            let users = self.user_partials(&common).await?;
            Some(
                common
                    .iter()
                    .filter_map(|id| users.get(id).cloned())
                    .collect(),
            )
        } else {
            None
        };
        let mutual_guilds = if query.with_mutual_guilds && !myself {
            let mut out = Vec::with_capacity(shared.len());
            for g in &shared {
                let nick = self
                    .store()
                    .get_member(*g, target)
                    .await?
                    .and_then(|m| m.nick);
                out.push(MutualGuild { id: *g, nick });
            }
            Some(out)
        } else {
            None
        };
        let connected_accounts = self
            .visible_connections(me, target, !shared.is_empty())
            .await?;
        Ok(UserProfile {
            guild_member_profile: guild_member.as_ref().map(|_| ProfileFields::default()),
            guild_member,
            user_profile: ProfileFields {
                bio: user.bio.clone(),
                pronouns: user.pronouns.clone(),
                banner: user.banner.clone(),
                banner_color: None,
                accent_color: user.accent_color,
            },
            user: user.partial(),
            mutual_friends,
            mutual_guilds,
            connected_accounts,
        })
    }

    /// `GET /users/check-tag`: whether `username#discriminator` belongs to someone else.
    pub async fn tag_taken(
        &self,
        actor: &Actor,
        username: &str,
        discriminator: u16,
    ) -> Result<bool> {
        Ok(self
            .store()
            .find_user_by_tag(username, discriminator)
            .await?
            .is_some_and(|u| u.id != actor.id()))
    }

    /// `PATCH /users/@me/relationships/{id}`: the nickname the user gives a friend (0 to 256
    /// characters, `None` or empty to clear). Dispatches `RELATIONSHIP_UPDATE`.
    pub async fn set_friend_nickname(
        &self,
        actor: &Actor,
        target: UserId,
        nickname: Option<String>,
    ) -> Result<serde_json::Value> {
        let mut v = Validator::new();
        v.opt_length("nickname", nickname.as_deref(), 0, 256);
        v.finish()?;
        let mut rel = self
            .store()
            .get_relationship(actor.id(), target)
            .await?
            .filter(|r| r.kind == RelationshipType::Friend)
            .ok_or(Error::Unknown(Unknown::User))?;
        rel.nickname = nickname.filter(|n| !n.trim().is_empty());
        self.store().put_relationship(&rel).await?;
        let users = self.user_partials(&[target]).await?;
        let payload = super::users::relationship_json(&rel, users.get(&target));
        self.emit(Dispatch::new(
            EventKind::RelationshipUpdate,
            Topic::User(actor.id()),
            &payload,
        ))
        .await;
        Ok(payload)
    }
}
