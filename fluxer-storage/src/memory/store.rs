//! A complete storage backend in memory: every repository over plain maps behind one lock. For tests,
//! examples and ephemeral instances; nothing survives the process.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::RwLock;

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::id::{ApplicationId, ChannelId, GuildId, MessageId, RoleId, UserId, WebhookId};
use fluxer_core::model::{
    ActionToken, ActionTokenKind, Application, AuthSession, Ban, Channel, ChannelType, Guild, Invite, Member, Message,
    ReactionCount, ReactionEmoji, ReadState, Relationship, Role, User, Webhook,
};
use fluxer_core::ports::{
    ApplicationRepository, BanRepository, ChannelRepository, GuildRepository, InviteRepository, MemberRepository,
    MessagePage, MessageRepository, PortResult, ReadStateRepository, RelationshipRepository, RoleRepository,
    SessionRepository, UserRepository, WebhookRepository, conflict,
};
use fluxer_core::time::Timestamp;

struct ReactionGroup {
    key: String,
    emoji: ReactionEmoji,
    users: Vec<UserId>,
}

#[derive(Default)]
struct Data {
    users: HashMap<UserId, User>,
    emails: HashMap<String, UserId>,
    tags: HashMap<(String, u16), UserId>,
    sessions: HashMap<[u8; 32], AuthSession>,
    action_tokens: HashMap<[u8; 32], ActionToken>,
    guilds: HashMap<GuildId, Guild>,
    vanity: HashMap<String, GuildId>,
    channels: HashMap<ChannelId, Channel>,
    messages: HashMap<ChannelId, BTreeMap<MessageId, Message>>,
    reactions: HashMap<MessageId, Vec<ReactionGroup>>,
    members: HashMap<GuildId, BTreeMap<UserId, Member>>,
    user_guilds: HashMap<UserId, BTreeSet<GuildId>>,
    roles: HashMap<GuildId, BTreeMap<RoleId, Role>>,
    invites: HashMap<String, Invite>,
    bans: HashMap<GuildId, BTreeMap<UserId, Ban>>,
    webhooks: HashMap<WebhookId, Webhook>,
    applications: HashMap<ApplicationId, Application>,
    read_states: HashMap<UserId, HashMap<ChannelId, ReadState>>,
    relationships: HashMap<UserId, BTreeMap<UserId, Relationship>>,
}

/// Every repository in memory.
#[derive(Default)]
pub struct MemoryStore {
    data: RwLock<Data>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn read<T>(&self, f: impl FnOnce(&Data) -> T) -> T {
        f(&self.data.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn write<T>(&self, f: impl FnOnce(&mut Data) -> T) -> T {
        f(&mut self.data.write().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Data {
    fn check_user_unique(&self, user: &User) -> PortResult<()> {
        if let Some(email) = &user.email
            && self.emails.get(&email.to_lowercase()).is_some_and(|id| *id != user.id)
        {
            return Err(StoreError::Conflict(conflict::USER_EMAIL));
        }
        if self
            .tags
            .get(&(user.username.to_lowercase(), user.discriminator))
            .is_some_and(|id| *id != user.id)
        {
            return Err(StoreError::Conflict(conflict::USER_TAG));
        }
        Ok(())
    }

    fn index_user(&mut self, user: &User, old: Option<&User>) {
        if let Some(old) = old {
            if let Some(e) = &old.email {
                self.emails.remove(&e.to_lowercase());
            }
            self.tags.remove(&(old.username.to_lowercase(), old.discriminator));
        }
        if let Some(e) = &user.email {
            self.emails.insert(e.to_lowercase(), user.id);
        }
        self.tags.insert((user.username.to_lowercase(), user.discriminator), user.id);
    }

    fn with_last_message(&self, mut channel: Channel) -> Channel {
        if let Some(last) = self.messages.get(&channel.id).and_then(|m| m.keys().next_back()) {
            channel.last_message_id = Some(channel.last_message_id.map_or(*last, |l| l.max(*last)));
        }
        channel
    }

    fn delete_channel_cascade(&mut self, id: ChannelId) {
        self.channels.remove(&id);
        if let Some(messages) = self.messages.remove(&id) {
            for m in messages.keys() {
                self.reactions.remove(m);
            }
        }
        self.invites.retain(|_, i| i.channel_id != id || i.vanity);
        self.webhooks.retain(|_, w| w.channel_id != id);
        for states in self.read_states.values_mut() {
            states.remove(&id);
        }
    }
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn create_user(&self, user: &User) -> PortResult<()> {
        self.write(|d| {
            if d.users.contains_key(&user.id) {
                return Err(StoreError::Backend(format!("user {} exists", user.id)));
            }
            d.check_user_unique(user)?;
            d.index_user(user, None);
            d.users.insert(user.id, user.clone());
            Ok(())
        })
    }

    async fn update_user(&self, user: &User) -> PortResult<()> {
        self.write(|d| {
            let old = d.users.get(&user.id).cloned().ok_or(StoreError::NotFound)?;
            d.check_user_unique(user)?;
            d.index_user(user, Some(&old));
            d.users.insert(user.id, user.clone());
            Ok(())
        })
    }

    async fn get_user(&self, id: UserId) -> PortResult<Option<User>> {
        Ok(self.read(|d| d.users.get(&id).cloned()))
    }

    async fn get_users(&self, ids: &[UserId]) -> PortResult<Vec<User>> {
        Ok(self.read(|d| ids.iter().filter_map(|id| d.users.get(id).cloned()).collect()))
    }

    async fn find_user_by_email(&self, email: &str) -> PortResult<Option<User>> {
        Ok(self.read(|d| d.emails.get(&email.to_lowercase()).and_then(|id| d.users.get(id).cloned())))
    }

    async fn find_user_by_tag(&self, username: &str, discriminator: u16) -> PortResult<Option<User>> {
        Ok(self.read(|d| {
            d.tags
                .get(&(username.to_lowercase(), discriminator))
                .and_then(|id| d.users.get(id).cloned())
        }))
    }
}

#[async_trait]
impl SessionRepository for MemoryStore {
    async fn create_session(&self, session: &AuthSession) -> PortResult<()> {
        self.write(|d| d.sessions.insert(session.token_hash, session.clone()));
        Ok(())
    }

    async fn get_session(&self, token_hash: &[u8; 32]) -> PortResult<Option<AuthSession>> {
        Ok(self.read(|d| d.sessions.get(token_hash).cloned()))
    }

    async fn touch_session(&self, token_hash: &[u8; 32], at: Timestamp) -> PortResult<()> {
        self.write(|d| {
            if let Some(s) = d.sessions.get_mut(token_hash) {
                s.last_used_at = at;
            }
        });
        Ok(())
    }

    async fn list_sessions(&self, user: UserId) -> PortResult<Vec<AuthSession>> {
        let mut list: Vec<AuthSession> = self.read(|d| d.sessions.values().filter(|s| s.user_id == user).cloned().collect());
        list.sort_by_key(|s| (s.created_at, s.token_hash));
        Ok(list)
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> PortResult<bool> {
        Ok(self.write(|d| d.sessions.remove(token_hash).is_some()))
    }

    async fn delete_user_sessions(&self, user: UserId) -> PortResult<u64> {
        Ok(self.write(|d| {
            let before = d.sessions.len();
            d.sessions.retain(|_, s| s.user_id != user);
            (before - d.sessions.len()) as u64
        }))
    }

    async fn create_action_token(&self, token: &ActionToken) -> PortResult<()> {
        self.write(|d| d.action_tokens.insert(token.token_hash, token.clone()));
        Ok(())
    }

    async fn take_action_token(&self, kind: ActionTokenKind, token_hash: &[u8; 32], now: Timestamp) -> PortResult<Option<ActionToken>> {
        Ok(self.write(|d| {
            let ok = d.action_tokens.get(token_hash).is_some_and(|t| t.kind == kind);
            if !ok {
                return None;
            }
            d.action_tokens.remove(token_hash).filter(|t| t.expires_at > now)
        }))
    }
}

#[async_trait]
impl GuildRepository for MemoryStore {
    async fn create_guild(&self, guild: &Guild, roles: &[Role], channels: &[Channel], owner: &Member) -> PortResult<()> {
        self.write(|d| {
            if let Some(code) = &guild.vanity_url_code
                && d.vanity.contains_key(code)
            {
                return Err(StoreError::Conflict(conflict::GUILD_VANITY));
            }
            if let Some(code) = &guild.vanity_url_code {
                d.vanity.insert(code.clone(), guild.id);
            }
            d.guilds.insert(guild.id, guild.clone());
            let r = d.roles.entry(guild.id).or_default();
            for role in roles {
                r.insert(role.id, role.clone());
            }
            for c in channels {
                d.channels.insert(c.id, c.clone());
            }
            d.members.entry(guild.id).or_default().insert(owner.user_id, owner.clone());
            d.user_guilds.entry(owner.user_id).or_default().insert(guild.id);
            Ok(())
        })
    }

    async fn update_guild(&self, guild: &Guild) -> PortResult<()> {
        self.write(|d| {
            let old = d.guilds.get(&guild.id).cloned().ok_or(StoreError::NotFound)?;
            if let Some(code) = &guild.vanity_url_code
                && d.vanity.get(code).is_some_and(|g| *g != guild.id)
            {
                return Err(StoreError::Conflict(conflict::GUILD_VANITY));
            }
            if let Some(code) = &old.vanity_url_code {
                d.vanity.remove(code);
            }
            if let Some(code) = &guild.vanity_url_code {
                d.vanity.insert(code.clone(), guild.id);
            }
            d.guilds.insert(guild.id, guild.clone());
            Ok(())
        })
    }

    async fn get_guild(&self, id: GuildId) -> PortResult<Option<Guild>> {
        Ok(self.read(|d| d.guilds.get(&id).cloned()))
    }

    async fn get_guilds(&self, ids: &[GuildId]) -> PortResult<Vec<Guild>> {
        Ok(self.read(|d| ids.iter().filter_map(|id| d.guilds.get(id).cloned()).collect()))
    }

    async fn find_guild_by_vanity(&self, code: &str) -> PortResult<Option<Guild>> {
        Ok(self.read(|d| d.vanity.get(code).and_then(|id| d.guilds.get(id).cloned())))
    }

    async fn delete_guild(&self, id: GuildId) -> PortResult<()> {
        self.write(|d| {
            if let Some(g) = d.guilds.remove(&id)
                && let Some(code) = g.vanity_url_code
            {
                d.vanity.remove(&code);
            }
            let channels: Vec<ChannelId> = d.channels.values().filter(|c| c.guild_id == Some(id)).map(|c| c.id).collect();
            for c in channels {
                d.delete_channel_cascade(c);
            }
            d.roles.remove(&id);
            if let Some(members) = d.members.remove(&id) {
                for user in members.keys() {
                    if let Some(set) = d.user_guilds.get_mut(user) {
                        set.remove(&id);
                    }
                }
            }
            d.invites.retain(|_, i| i.guild_id != Some(id));
            d.bans.remove(&id);
            d.webhooks.retain(|_, w| w.guild_id != id);
        });
        Ok(())
    }
}

#[async_trait]
impl ChannelRepository for MemoryStore {
    async fn create_channel(&self, channel: &Channel) -> PortResult<()> {
        self.write(|d| d.channels.insert(channel.id, channel.clone()));
        Ok(())
    }

    async fn update_channel(&self, channel: &Channel) -> PortResult<()> {
        self.write(|d| {
            if !d.channels.contains_key(&channel.id) {
                return Err(StoreError::NotFound);
            }
            d.channels.insert(channel.id, channel.clone());
            Ok(())
        })
    }

    async fn update_channels(&self, channels: &[Channel]) -> PortResult<()> {
        self.write(|d| {
            if channels.iter().any(|c| !d.channels.contains_key(&c.id)) {
                return Err(StoreError::NotFound);
            }
            for c in channels {
                d.channels.insert(c.id, c.clone());
            }
            Ok(())
        })
    }

    async fn get_channel(&self, id: ChannelId) -> PortResult<Option<Channel>> {
        Ok(self.read(|d| d.channels.get(&id).cloned().map(|c| d.with_last_message(c))))
    }

    async fn list_guild_channels(&self, guild: GuildId) -> PortResult<Vec<Channel>> {
        let mut list: Vec<Channel> = self.read(|d| {
            d.channels
                .values()
                .filter(|c| c.guild_id == Some(guild))
                .cloned()
                .map(|c| d.with_last_message(c))
                .collect()
        });
        list.sort_by_key(|c| (c.position, c.id));
        Ok(list)
    }

    async fn delete_channel(&self, id: ChannelId) -> PortResult<()> {
        self.write(|d| d.delete_channel_cascade(id));
        Ok(())
    }

    async fn find_dm_channel(&self, a: UserId, b: UserId) -> PortResult<Option<Channel>> {
        Ok(self.read(|d| {
            d.channels
                .values()
                .find(|c| c.kind == ChannelType::Dm && c.recipient_ids.contains(&a) && c.recipient_ids.contains(&b))
                .cloned()
                .map(|c| d.with_last_message(c))
        }))
    }

    async fn list_private_channels(&self, user: UserId) -> PortResult<Vec<Channel>> {
        let mut list: Vec<Channel> = self.read(|d| {
            d.channels
                .values()
                .filter(|c| c.guild_id.is_none() && c.recipient_ids.contains(&user))
                .cloned()
                .map(|c| d.with_last_message(c))
                .collect()
        });
        list.sort_by_key(|c| c.id);
        Ok(list)
    }
}

fn page(messages: &BTreeMap<MessageId, Message>, page: MessagePage, limit: u32) -> Vec<Message> {
    let limit = limit as usize;
    match page {
        MessagePage::Latest => messages.values().rev().take(limit).cloned().collect(),
        MessagePage::Before(c) => messages.range(..c).rev().take(limit).map(|(_, m)| m.clone()).collect(),
        MessagePage::After(c) => {
            let mut v: Vec<Message> = messages
                .range((Bound::Excluded(c), Bound::Unbounded))
                .take(limit)
                .map(|(_, m)| m.clone())
                .collect();
            v.reverse();
            v
        }
        MessagePage::Around(c) => {
            let mut newer: Vec<Message> = messages
                .range((Bound::Excluded(c), Bound::Unbounded))
                .take(limit / 2)
                .map(|(_, m)| m.clone())
                .collect();
            newer.reverse();
            let older = messages.range(..=c).rev().take(limit - newer.len()).map(|(_, m)| m.clone());
            newer.extend(older);
            newer
        }
    }
}

#[async_trait]
impl MessageRepository for MemoryStore {
    async fn insert_message(&self, message: &Message) -> PortResult<()> {
        self.write(|d| {
            let channel = d.messages.entry(message.channel_id).or_default();
            if channel.contains_key(&message.id) {
                return Err(StoreError::Backend(format!("message {} exists", message.id)));
            }
            channel.insert(message.id, message.clone());
            if let Some(c) = d.channels.get_mut(&message.channel_id) {
                c.last_message_id = Some(c.last_message_id.map_or(message.id, |l| l.max(message.id)));
            }
            Ok(())
        })
    }

    async fn update_message(&self, message: &Message) -> PortResult<()> {
        self.write(|d| {
            let slot = d
                .messages
                .get_mut(&message.channel_id)
                .and_then(|m| m.get_mut(&message.id))
                .ok_or(StoreError::NotFound)?;
            *slot = message.clone();
            Ok(())
        })
    }

    async fn get_message(&self, channel: ChannelId, id: MessageId) -> PortResult<Option<Message>> {
        Ok(self.read(|d| d.messages.get(&channel).and_then(|m| m.get(&id)).cloned()))
    }

    async fn list_messages(&self, channel: ChannelId, p: MessagePage, limit: u32) -> PortResult<Vec<Message>> {
        Ok(self.read(|d| d.messages.get(&channel).map(|m| page(m, p, limit)).unwrap_or_default()))
    }

    async fn delete_message(&self, channel: ChannelId, id: MessageId) -> PortResult<bool> {
        Ok(self.write(|d| {
            let removed = d.messages.get_mut(&channel).and_then(|m| m.remove(&id)).is_some();
            if removed {
                d.reactions.remove(&id);
            }
            removed
        }))
    }

    async fn delete_messages(&self, channel: ChannelId, ids: &[MessageId]) -> PortResult<Vec<MessageId>> {
        Ok(self.write(|d| {
            let mut deleted = Vec::new();
            if let Some(m) = d.messages.get_mut(&channel) {
                for id in ids {
                    if m.remove(id).is_some() && !deleted.contains(id) {
                        deleted.push(*id);
                    }
                }
            }
            for id in &deleted {
                d.reactions.remove(id);
            }
            deleted
        }))
    }

    async fn list_pinned(&self, channel: ChannelId, before: Option<Timestamp>, limit: u32) -> PortResult<Vec<Message>> {
        let mut pins: Vec<Message> = self.read(|d| {
            d.messages
                .get(&channel)
                .map(|m| {
                    m.values()
                        .filter(|m| m.pinned_at.is_some_and(|at| before.is_none_or(|b| at < b)))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        });
        pins.sort_by(|a, b| b.pinned_at.cmp(&a.pinned_at).then(b.id.cmp(&a.id)));
        pins.truncate(limit as usize);
        Ok(pins)
    }

    async fn add_reaction(&self, channel: ChannelId, message: MessageId, emoji: &ReactionEmoji, user: UserId) -> PortResult<bool> {
        Ok(self.write(|d| {
            if d.messages.get(&channel).is_none_or(|m| !m.contains_key(&message)) {
                return false;
            }
            let groups = d.reactions.entry(message).or_default();
            let key = emoji.key();
            match groups.iter_mut().find(|g| g.key == key) {
                Some(g) if g.users.contains(&user) => false,
                Some(g) => {
                    g.users.push(user);
                    true
                }
                None => {
                    groups.push(ReactionGroup {
                        key,
                        emoji: emoji.clone(),
                        users: vec![user],
                    });
                    true
                }
            }
        }))
    }

    async fn remove_reaction(&self, _channel: ChannelId, message: MessageId, emoji_key: &str, user: UserId) -> PortResult<bool> {
        Ok(self.write(|d| {
            let Some(groups) = d.reactions.get_mut(&message) else { return false };
            let Some(g) = groups.iter_mut().find(|g| g.key == emoji_key) else { return false };
            let before = g.users.len();
            g.users.retain(|u| *u != user);
            let removed = g.users.len() != before;
            groups.retain(|g| !g.users.is_empty());
            removed
        }))
    }

    async fn remove_all_reactions(&self, _channel: ChannelId, message: MessageId) -> PortResult<u64> {
        Ok(self.write(|d| d.reactions.remove(&message).map_or(0, |g| g.iter().map(|g| g.users.len() as u64).sum())))
    }

    async fn remove_emoji_reactions(&self, _channel: ChannelId, message: MessageId, emoji_key: &str) -> PortResult<u64> {
        Ok(self.write(|d| {
            let Some(groups) = d.reactions.get_mut(&message) else { return 0 };
            let count = groups.iter().filter(|g| g.key == emoji_key).map(|g| g.users.len() as u64).sum();
            groups.retain(|g| g.key != emoji_key);
            count
        }))
    }

    async fn list_reaction_users(&self, _channel: ChannelId, message: MessageId, emoji_key: &str, after: Option<UserId>, limit: u32) -> PortResult<Vec<UserId>> {
        let mut users: Vec<UserId> = self.read(|d| {
            d.reactions
                .get(&message)
                .and_then(|g| g.iter().find(|g| g.key == emoji_key))
                .map(|g| g.users.clone())
                .unwrap_or_default()
        });
        users.sort_unstable();
        Ok(users.into_iter().filter(|u| after.is_none_or(|a| *u > a)).take(limit as usize).collect())
    }

    async fn reaction_counts(&self, _channel: ChannelId, messages: &[MessageId], viewer: UserId) -> PortResult<Vec<(MessageId, ReactionCount)>> {
        Ok(self.read(|d| {
            let mut out = Vec::new();
            for id in messages {
                if let Some(groups) = d.reactions.get(id) {
                    for g in groups {
                        out.push((
                            *id,
                            ReactionCount {
                                emoji: g.emoji.clone(),
                                count: g.users.len() as u32,
                                me: g.users.contains(&viewer),
                            },
                        ));
                    }
                }
            }
            out
        }))
    }
}

#[async_trait]
impl MemberRepository for MemoryStore {
    async fn add_member(&self, member: &Member) -> PortResult<()> {
        self.write(|d| {
            let members = d.members.entry(member.guild_id).or_default();
            if members.contains_key(&member.user_id) {
                return Err(StoreError::Conflict(conflict::MEMBER));
            }
            members.insert(member.user_id, member.clone());
            d.user_guilds.entry(member.user_id).or_default().insert(member.guild_id);
            Ok(())
        })
    }

    async fn update_member(&self, member: &Member) -> PortResult<()> {
        self.write(|d| {
            let slot = d
                .members
                .get_mut(&member.guild_id)
                .and_then(|m| m.get_mut(&member.user_id))
                .ok_or(StoreError::NotFound)?;
            *slot = member.clone();
            Ok(())
        })
    }

    async fn get_member(&self, guild: GuildId, user: UserId) -> PortResult<Option<Member>> {
        Ok(self.read(|d| d.members.get(&guild).and_then(|m| m.get(&user)).cloned()))
    }

    async fn get_members(&self, guild: GuildId, users: &[UserId]) -> PortResult<Vec<Member>> {
        Ok(self.read(|d| {
            d.members
                .get(&guild)
                .map(|m| users.iter().filter_map(|u| m.get(u).cloned()).collect())
                .unwrap_or_default()
        }))
    }

    async fn list_members(&self, guild: GuildId, after: Option<UserId>, limit: u32) -> PortResult<Vec<Member>> {
        Ok(self.read(|d| {
            d.members
                .get(&guild)
                .map(|m| {
                    let start = after.map_or(Bound::Unbounded, Bound::Excluded);
                    m.range((start, Bound::Unbounded)).take(limit as usize).map(|(_, m)| m.clone()).collect()
                })
                .unwrap_or_default()
        }))
    }

    async fn remove_member(&self, guild: GuildId, user: UserId) -> PortResult<bool> {
        Ok(self.write(|d| {
            let removed = d.members.get_mut(&guild).and_then(|m| m.remove(&user)).is_some();
            if let Some(set) = d.user_guilds.get_mut(&user) {
                set.remove(&guild);
            }
            removed
        }))
    }

    async fn count_members(&self, guild: GuildId) -> PortResult<u64> {
        Ok(self.read(|d| d.members.get(&guild).map_or(0, |m| m.len() as u64)))
    }

    async fn list_user_guild_ids(&self, user: UserId) -> PortResult<Vec<GuildId>> {
        Ok(self.read(|d| d.user_guilds.get(&user).map(|s| s.iter().copied().collect()).unwrap_or_default()))
    }
}

#[async_trait]
impl RoleRepository for MemoryStore {
    async fn create_role(&self, role: &Role) -> PortResult<()> {
        self.write(|d| d.roles.entry(role.guild_id).or_default().insert(role.id, role.clone()));
        Ok(())
    }

    async fn update_roles(&self, roles: &[Role]) -> PortResult<()> {
        self.write(|d| {
            if roles.iter().any(|r| d.roles.get(&r.guild_id).is_none_or(|m| !m.contains_key(&r.id))) {
                return Err(StoreError::NotFound);
            }
            for r in roles {
                d.roles.entry(r.guild_id).or_default().insert(r.id, r.clone());
            }
            Ok(())
        })
    }

    async fn get_role(&self, guild: GuildId, id: RoleId) -> PortResult<Option<Role>> {
        Ok(self.read(|d| d.roles.get(&guild).and_then(|r| r.get(&id)).cloned()))
    }

    async fn list_roles(&self, guild: GuildId) -> PortResult<Vec<Role>> {
        let mut roles: Vec<Role> = self.read(|d| d.roles.get(&guild).map(|r| r.values().cloned().collect()).unwrap_or_default());
        roles.sort_by_key(|r| (r.position, r.id));
        Ok(roles)
    }

    async fn delete_role(&self, guild: GuildId, id: RoleId) -> PortResult<bool> {
        Ok(self.write(|d| {
            let removed = d.roles.get_mut(&guild).and_then(|r| r.remove(&id)).is_some();
            if removed && let Some(members) = d.members.get_mut(&guild) {
                for m in members.values_mut() {
                    m.roles.retain(|r| *r != id);
                }
            }
            removed
        }))
    }
}

#[async_trait]
impl InviteRepository for MemoryStore {
    async fn create_invite(&self, invite: &Invite) -> PortResult<()> {
        self.write(|d| {
            if d.invites.contains_key(&invite.code) {
                return Err(StoreError::Conflict(conflict::INVITE_CODE));
            }
            d.invites.insert(invite.code.clone(), invite.clone());
            Ok(())
        })
    }

    async fn get_invite(&self, code: &str) -> PortResult<Option<Invite>> {
        Ok(self.read(|d| d.invites.get(code).cloned()))
    }

    async fn list_guild_invites(&self, guild: GuildId) -> PortResult<Vec<Invite>> {
        let mut v: Vec<Invite> = self.read(|d| d.invites.values().filter(|i| i.guild_id == Some(guild)).cloned().collect());
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.code.cmp(&b.code)));
        Ok(v)
    }

    async fn list_channel_invites(&self, channel: ChannelId) -> PortResult<Vec<Invite>> {
        let mut v: Vec<Invite> = self.read(|d| d.invites.values().filter(|i| i.channel_id == channel).cloned().collect());
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.code.cmp(&b.code)));
        Ok(v)
    }

    async fn delete_invite(&self, code: &str) -> PortResult<bool> {
        Ok(self.write(|d| d.invites.remove(code).is_some()))
    }

    async fn use_invite(&self, code: &str, now: Timestamp) -> PortResult<Option<Invite>> {
        Ok(self.write(|d| {
            let invite = d.invites.get_mut(code)?;
            if invite.is_expired(now) || invite.is_used_up() {
                return None;
            }
            invite.uses += 1;
            Some(invite.clone())
        }))
    }

    async fn delete_expired_invites(&self, now: Timestamp) -> PortResult<u64> {
        Ok(self.write(|d| {
            let before = d.invites.len();
            d.invites.retain(|_, i| !i.is_expired(now));
            (before - d.invites.len()) as u64
        }))
    }
}

#[async_trait]
impl BanRepository for MemoryStore {
    async fn put_ban(&self, ban: &Ban) -> PortResult<()> {
        self.write(|d| d.bans.entry(ban.guild_id).or_default().insert(ban.user_id, ban.clone()));
        Ok(())
    }

    async fn get_ban(&self, guild: GuildId, user: UserId) -> PortResult<Option<Ban>> {
        Ok(self.read(|d| d.bans.get(&guild).and_then(|b| b.get(&user)).cloned()))
    }

    async fn list_bans(&self, guild: GuildId, after: Option<UserId>, limit: u32) -> PortResult<Vec<Ban>> {
        Ok(self.read(|d| {
            d.bans
                .get(&guild)
                .map(|b| {
                    let start = after.map_or(Bound::Unbounded, Bound::Excluded);
                    b.range((start, Bound::Unbounded)).take(limit as usize).map(|(_, b)| b.clone()).collect()
                })
                .unwrap_or_default()
        }))
    }

    async fn delete_ban(&self, guild: GuildId, user: UserId) -> PortResult<bool> {
        Ok(self.write(|d| d.bans.get_mut(&guild).and_then(|b| b.remove(&user)).is_some()))
    }
}

#[async_trait]
impl WebhookRepository for MemoryStore {
    async fn create_webhook(&self, webhook: &Webhook) -> PortResult<()> {
        self.write(|d| d.webhooks.insert(webhook.id, webhook.clone()));
        Ok(())
    }

    async fn update_webhook(&self, webhook: &Webhook) -> PortResult<()> {
        self.write(|d| {
            let slot = d.webhooks.get_mut(&webhook.id).ok_or(StoreError::NotFound)?;
            *slot = webhook.clone();
            Ok(())
        })
    }

    async fn get_webhook(&self, id: WebhookId) -> PortResult<Option<Webhook>> {
        Ok(self.read(|d| d.webhooks.get(&id).cloned()))
    }

    async fn list_channel_webhooks(&self, channel: ChannelId) -> PortResult<Vec<Webhook>> {
        let mut v: Vec<Webhook> = self.read(|d| d.webhooks.values().filter(|w| w.channel_id == channel).cloned().collect());
        v.sort_by_key(|w| w.id);
        Ok(v)
    }

    async fn list_guild_webhooks(&self, guild: GuildId) -> PortResult<Vec<Webhook>> {
        let mut v: Vec<Webhook> = self.read(|d| d.webhooks.values().filter(|w| w.guild_id == guild).cloned().collect());
        v.sort_by_key(|w| w.id);
        Ok(v)
    }

    async fn delete_webhook(&self, id: WebhookId) -> PortResult<bool> {
        Ok(self.write(|d| d.webhooks.remove(&id).is_some()))
    }
}

#[async_trait]
impl ApplicationRepository for MemoryStore {
    async fn create_application(&self, app: &Application) -> PortResult<()> {
        self.write(|d| d.applications.insert(app.id, app.clone()));
        Ok(())
    }

    async fn update_application(&self, app: &Application) -> PortResult<()> {
        self.write(|d| {
            let slot = d.applications.get_mut(&app.id).ok_or(StoreError::NotFound)?;
            *slot = app.clone();
            Ok(())
        })
    }

    async fn get_application(&self, id: ApplicationId) -> PortResult<Option<Application>> {
        Ok(self.read(|d| d.applications.get(&id).cloned()))
    }

    async fn list_applications(&self, owner: UserId) -> PortResult<Vec<Application>> {
        let mut v: Vec<Application> = self.read(|d| d.applications.values().filter(|a| a.owner_id == owner).cloned().collect());
        v.sort_by_key(|a| a.id);
        Ok(v)
    }

    async fn delete_application(&self, id: ApplicationId) -> PortResult<bool> {
        Ok(self.write(|d| d.applications.remove(&id).is_some()))
    }
}

#[async_trait]
impl ReadStateRepository for MemoryStore {
    async fn put_read_state(&self, state: &ReadState) -> PortResult<()> {
        self.write(|d| d.read_states.entry(state.user_id).or_default().insert(state.channel_id, state.clone()));
        Ok(())
    }

    async fn get_read_state(&self, user: UserId, channel: ChannelId) -> PortResult<Option<ReadState>> {
        Ok(self.read(|d| d.read_states.get(&user).and_then(|m| m.get(&channel)).cloned()))
    }

    async fn list_read_states(&self, user: UserId) -> PortResult<Vec<ReadState>> {
        let mut v: Vec<ReadState> = self.read(|d| d.read_states.get(&user).map(|m| m.values().cloned().collect()).unwrap_or_default());
        v.sort_by_key(|s| s.channel_id);
        Ok(v)
    }

    async fn add_mentions(&self, user: UserId, channel: ChannelId, count: u32) -> PortResult<()> {
        self.write(|d| {
            let state = d.read_states.entry(user).or_default().entry(channel).or_insert(ReadState {
                user_id: user,
                channel_id: channel,
                last_message_id: None,
                mention_count: 0,
                last_pin_timestamp: None,
            });
            state.mention_count = state.mention_count.saturating_add(count);
        });
        Ok(())
    }
}

#[async_trait]
impl RelationshipRepository for MemoryStore {
    async fn put_relationship(&self, relationship: &Relationship) -> PortResult<()> {
        self.write(|d| {
            d.relationships
                .entry(relationship.user_id)
                .or_default()
                .insert(relationship.target_id, relationship.clone())
        });
        Ok(())
    }

    async fn get_relationship(&self, user: UserId, target: UserId) -> PortResult<Option<Relationship>> {
        Ok(self.read(|d| d.relationships.get(&user).and_then(|m| m.get(&target)).cloned()))
    }

    async fn list_relationships(&self, user: UserId) -> PortResult<Vec<Relationship>> {
        Ok(self.read(|d| d.relationships.get(&user).map(|m| m.values().cloned().collect()).unwrap_or_default()))
    }

    async fn delete_relationship(&self, user: UserId, target: UserId) -> PortResult<bool> {
        Ok(self.write(|d| d.relationships.get_mut(&user).and_then(|m| m.remove(&target)).is_some()))
    }
}
