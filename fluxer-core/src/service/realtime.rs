//! What a real-time host (the gateway) asks of the domain: a session's starting state and the
//! subscription that keeps it current, resuming on another node, the guild state sessions share to
//! decide who sees what, member lists on request, and the events sessions raise themselves
//! (presence, voice states). Every failure is an error, never an empty answer: a host that cannot
//! build a session's view closes it resumably and the client comes back to a complete one.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::{Actor, Fluxer};
use crate::error::{Error, Result};
use crate::id::{ChannelId, GuildId, UserId};
use crate::model::{
    Channel, ChannelResponse, ChannelType, Guild, GuildSnapshot, Member, MemberResponse, ReadState,
    RelationshipType, Role, UserGuildSettings, UserPartial, UserSettings,
};
use crate::permission::Permissions;
use crate::ports::{Dispatch, EventKind, PresenceEntry, Replay, Status, Subscription, Topic};

/// What a new session starts from: everything READY carries.
pub struct SessionStart {
    /// Subscribed to the user and to each of `guild_ids` before anything below was read, so an
    /// event that happened in between is in it rather than lost.
    pub subscription: Box<dyn Subscription>,
    /// The guilds the user is a member of.
    pub guild_ids: Vec<GuildId>,
    /// Their `GUILD_CREATE` payloads, in `guild_ids`' order.
    pub guilds: Vec<GuildSnapshot>,
    /// The user's DMs and group DMs.
    pub private_channels: Vec<ChannelResponse>,
    /// The user's relationships, as `GET /users/@me/relationships` lists them.
    pub relationships: Vec<Value>,
    /// How far the user has read each channel it can still see (last read message, unread
    /// mentions).
    pub read_states: Vec<ReadState>,
    /// The user's settings, folders in line with its guilds.
    pub settings: UserSettings,
    /// The notification settings of each guild the user changed them for.
    pub guild_settings: Vec<UserGuildSettings>,
    /// The user's notes on others.
    pub notes: BTreeMap<UserId, String>,
    /// The DMs pinned to the top, in order.
    pub pinned_dms: Vec<ChannelId>,
    /// The user's saved media (none for bots).
    pub favorite_memes: Vec<super::FavoriteMeme>,
    /// Friends and group-DM companions who are online.
    pub presences: Vec<PresenceEntry>,
    /// Every user the rest mentions (members, relationships, DM recipients, presences), once.
    pub users: Vec<UserPartial>,
}

/// The guild state every session of a node shares to decide who sees what.
#[derive(Debug, Clone)]
pub struct GuildView {
    /// The guild record.
    pub guild: Guild,
    /// Every role, @everyone included.
    pub roles: Vec<Role>,
    /// Every channel of the guild, whoever can view it.
    pub channels: Vec<Channel>,
}

/// A request for a guild's members (the gateway's REQUEST_GUILD_MEMBERS).
#[derive(Debug, Clone, Default)]
pub struct MembersRequest {
    /// The guild; the requesting user must be a member (`UNKNOWN_GUILD`).
    pub guild_id: GuildId,
    /// These members (and `not_found` for the others); otherwise a search by `query`.
    pub user_ids: Option<Vec<UserId>>,
    /// A prefix of the nickname or username; empty with `limit` 0 lists everyone.
    pub query: String,
    /// At most this many (capped at 100); 0 with an empty query means every member.
    pub limit: u32,
}

/// The members found for a [`MembersRequest`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemberList {
    /// The members found, with their users.
    pub members: Vec<MemberResponse>,
    /// Requested IDs that are not members.
    pub not_found: Vec<UserId>,
}

/// Members read per page while searching or listing.
const MEMBER_PAGE: u32 = 1000;

impl Fluxer {
    /// Opens a session for `actor`; guilds with more than `large_threshold` members come large
    /// (first members only, no presences). Any failure fails the whole start: a session never
    /// begins with guilds silently missing.
    pub async fn start_gateway_session(
        &self,
        actor: &Actor,
        capacity: usize,
        large_threshold: u64,
    ) -> Result<SessionStart> {
        let mut subscription = self.inner.ports.events.subscribe(capacity).await?;
        subscription.add_topic(Topic::User(actor.id())).await?;
        let guild_ids = self.store().list_user_guild_ids(actor.id()).await?;
        for g in &guild_ids {
            subscription.add_topic(Topic::Guild(*g)).await?;
        }
        let mut guilds = Vec::with_capacity(guild_ids.len());
        for g in &guild_ids {
            guilds.push(
                self.guild_snapshot_for(*g, actor.id(), large_threshold)
                    .await?,
            );
        }
        let private_channels = self.list_private_channels(actor).await?;
        let relationships = self.list_relationships(actor).await?;
        // Read states of channels the user no longer sees would only be deleted by the client.
        let visible: HashSet<ChannelId> = guilds
            .iter()
            .flat_map(|g| g.channels.iter().map(|c| c.id))
            .chain(private_channels.iter().map(|c| c.id))
            .collect();
        let read_states = self
            .read_states(actor)
            .await?
            .into_iter()
            .filter(|r| visible.contains(&r.channel_id))
            .collect();
        let audience = self.presence_audience(actor.id()).await?;
        let presences: Vec<PresenceEntry> = self
            .presences(&audience)
            .await?
            .into_iter()
            .filter(|p| p.status.public() != Status::Offline)
            .collect();
        let mut user_ids: Vec<UserId> = guilds
            .iter()
            .flat_map(|g| g.members.iter().map(|m| m.user.id))
            .chain(audience.iter().copied())
            .chain(
                relationships
                    .iter()
                    .filter_map(|r| r["id"].as_str().and_then(|id| id.parse().ok())),
            )
            .filter(|id| *id != actor.id())
            .collect();
        user_ids.sort_unstable();
        user_ids.dedup();
        let users = self.user_partials(&user_ids).await?;
        let settings = self.settings_in(actor.id(), &guild_ids).await?;
        Ok(SessionStart {
            subscription,
            guild_ids,
            guilds,
            private_channels,
            relationships,
            read_states,
            settings,
            guild_settings: self.guild_settings_of(actor.id()).await?,
            notes: self.notes_of(actor.id()).await?,
            pinned_dms: self.pinned_dms_of(actor.id()).await?,
            favorite_memes: if actor.is_bot() {
                Vec::new()
            } else {
                self.memes_of(actor.id()).await?
            },
            presences,
            users: user_ids
                .iter()
                .filter_map(|id| users.get(id).cloned())
                .collect(),
        })
    }

    /// Who sees a user's presence outside guilds: friends, and companions in group DMs.
    pub async fn presence_audience(&self, user: UserId) -> Result<Vec<UserId>> {
        let mut out: Vec<UserId> = self
            .store()
            .list_relationships(user)
            .await?
            .into_iter()
            .filter(|r| r.kind == RelationshipType::Friend)
            .map(|r| r.target_id)
            .collect();
        for c in self.store().list_private_channels(user).await? {
            if c.kind == ChannelType::GroupDm {
                out.extend(c.recipient_ids.iter().filter(|u| **u != user));
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Picks up a session's events after bus position `after` on any node: the user's current
    /// guilds and the events of them and of the user since then, with the live subscription that
    /// follows. `None` when the bus cannot replay (no history, or too much was missed).
    pub async fn resume_events(
        &self,
        user: UserId,
        after: u64,
        capacity: usize,
    ) -> Result<Option<(Vec<GuildId>, Replay)>> {
        let guild_ids = self.store().list_user_guild_ids(user).await?;
        let mut topics = vec![Topic::User(user)];
        topics.extend(guild_ids.iter().map(|g| Topic::Guild(*g)));
        let replay = self
            .inner
            .ports
            .events
            .replay(&topics, after, capacity)
            .await?;
        Ok(replay.map(|r| (guild_ids, r)))
    }

    /// The guild, its roles and its channels; `None` when the guild is gone.
    pub async fn guild_view(&self, guild: GuildId) -> Result<Option<GuildView>> {
        let Some(found) = self.store().get_guild(guild).await? else {
            return Ok(None);
        };
        Ok(Some(GuildView {
            guild: found,
            roles: self.store().list_roles(guild).await?,
            channels: self.store().list_guild_channels(guild).await?,
        }))
    }

    /// A user's membership of a guild; `None` when not a member.
    pub async fn membership(&self, guild: GuildId, user: UserId) -> Result<Option<Member>> {
        Ok(self.store().get_member(guild, user).await?)
    }

    /// Members of a guild the user belongs to, by ID or by name prefix. Listing every member needs
    /// MANAGE_GUILD, ownership or a bot account (the privilege upstream reserves for large lists):
    /// `MISSING_PERMISSIONS` otherwise.
    pub async fn request_guild_members(
        &self,
        user: UserId,
        req: &MembersRequest,
    ) -> Result<MemberList> {
        let access = self.guild_access(user, req.guild_id).await?;
        let store = self.store();
        let (members, not_found) = if let Some(ids) = &req.user_ids {
            let members = store.get_members(req.guild_id, ids).await?;
            let not_found = ids
                .iter()
                .filter(|id| !members.iter().any(|m| m.user_id == **id))
                .copied()
                .collect();
            (members, not_found)
        } else {
            let query = req.query.to_lowercase();
            let limit = match req.limit {
                0 if query.is_empty() => usize::MAX,
                0 => 25,
                n => n.min(100) as usize,
            };
            if limit == usize::MAX && !access.permissions.contains(Permissions::MANAGE_GUILD) {
                let is_bot = self
                    .user_partials(&[user])
                    .await?
                    .get(&user)
                    .is_some_and(|u| u.bot == Some(true));
                if !access.is_owner() && !is_bot {
                    return Err(Error::MissingPermissions);
                }
            }
            let mut members = Vec::new();
            let mut after = None;
            while members.len() < limit {
                let page = store.list_members(req.guild_id, after, MEMBER_PAGE).await?;
                let Some(last) = page.last() else { break };
                after = Some(last.user_id);
                let full_page = page.len() == MEMBER_PAGE as usize;
                if query.is_empty() {
                    members.extend(page);
                } else {
                    let ids: Vec<UserId> = page.iter().map(|m| m.user_id).collect();
                    let users = self.user_partials(&ids).await?;
                    members.extend(page.into_iter().filter(|m| {
                        m.nick
                            .as_deref()
                            .is_some_and(|n| n.to_lowercase().starts_with(&query))
                            || users
                                .get(&m.user_id)
                                .is_some_and(|u| u.username.to_lowercase().starts_with(&query))
                    }));
                }
                if !full_page {
                    break;
                }
            }
            members.truncate(limit);
            (members, Vec::new())
        };
        let ids: Vec<UserId> = members.iter().map(|m| m.user_id).collect();
        let users = self.user_partials(&ids).await?;
        let members = members
            .iter()
            .filter_map(|m| users.get(&m.user_id).map(|u| m.response(u.clone())))
            .collect();
        Ok(MemberList { members, not_found })
    }

    /// Tells each of `guilds`, and the user's friends and group-DM companions, about `user`'s
    /// presence; `payload` builds one guild's copy (`None`: the one for friends, without a guild).
    ///
    /// A guild large for every session (more members than the highest `large_threshold`) gets it
    /// on [`Topic::GuildPresence`], which only the sessions showing or following members hear: a
    /// member coming online costs one delivery per interested session, not one per member, and
    /// thousands of members identifying stay linear in their number (as upstream, where a large
    /// guild sends presences only to the sessions subscribed to that member).
    pub async fn publish_presence<P: Serialize>(
        &self,
        user: UserId,
        guilds: impl IntoIterator<Item = GuildId>,
        payload: impl Fn(Option<GuildId>) -> P,
    ) -> Result<()> {
        for guild in guilds {
            let large =
                self.store().count_members(guild).await? > *super::LARGE_THRESHOLD_RANGE.end();
            let topic = if large {
                Topic::GuildPresence(guild)
            } else {
                Topic::Guild(guild)
            };
            self.inner
                .ports
                .events
                .publish(
                    Dispatch::new(EventKind::PresenceUpdate, topic, &payload(Some(guild)))
                        .about_user(user),
                )
                .await?;
        }
        let audience = self.presence_audience(user).await?;
        if !audience.is_empty() {
            let copy = payload(None);
            for friend in audience {
                self.inner
                    .ports
                    .events
                    .publish(
                        Dispatch::new(EventKind::PresenceUpdate, Topic::User(friend), &copy)
                            .about_user(user),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Whether the store answers (for readiness probes).
    pub async fn check_store(&self) -> Result<()> {
        self.store().get_user(UserId::new(0)).await?;
        Ok(())
    }

    /// Whether message search is on.
    pub fn search_enabled(&self) -> bool {
        self.inner.ports.search.is_some()
    }

    /// Makes what was indexed so far searchable (the worker calls it after each indexing batch).
    pub async fn commit_search(&self) -> Result<()> {
        if let Some(search) = &self.inner.ports.search {
            search.commit().await?;
        }
        Ok(())
    }
}
