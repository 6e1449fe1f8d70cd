//! A complete storage backend in memory: every repository over plain maps behind one lock. For tests,
//! examples and ephemeral instances; nothing survives the process.
//!
//! No lock is held across an `.await`: every call takes the lock, does its work on the maps and returns.

mod accounts;
mod admin;
mod discovery;
mod guilds;
mod messages;
mod oauth2;
mod packs;
mod reports;
mod sso;
mod webauthn;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::RwLock;

use fluxer_core::StoreError;
use fluxer_core::id::{
    ApplicationId, ChannelId, ExpressionId, GuildId, MessageId, PackId, ReportId, RoleId, UserId,
    WebhookId,
};
use fluxer_core::model::{
    ActionToken, Application, AuditEntry, AuthSession, Ban, Channel, Expression, Guild, Invite,
    Member, Message, OAuth2Token, Pack, ReactionEmoji, ReadState, Relationship, Report, Role, User,
    Webhook,
};
use fluxer_core::ports::{FollowupKind, PortResult, PrivateDocument, conflict};

/// The users who reacted to a message with one emoji, in reaction order. A message's groups are kept in
/// the order of their first (current) reaction.
struct ReactionGroup {
    key: String,
    emoji: ReactionEmoji,
    users: Vec<UserId>,
}

/// Every table, with the secondary indexes (`emails`, `tags`, `vanity`, `user_guilds`,
/// `push_subscribers`) kept in step by the writes that touch them.
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
    documents: HashMap<(UserId, PrivateDocument), BTreeMap<u64, String>>,
    /// Users with at least one push subscription among `documents`: what a new message asks.
    push_subscribers: HashSet<UserId>,
    audit_log: HashMap<GuildId, BTreeMap<u64, AuditEntry>>,
    expressions: BTreeMap<ExpressionId, Expression>,
    packs: BTreeMap<PackId, Pack>,
    reports: BTreeMap<ReportId, Report>,
    oauth2_tokens: HashMap<[u8; 32], OAuth2Token>,
    sso_identities: HashMap<(String, String), UserId>,
    /// By credential ID.
    webauthn_credentials: BTreeMap<String, fluxer_core::model::WebAuthnCredential>,
    /// The admin audit log, by entry ID.
    admin_audit_log: BTreeMap<u64, fluxer_core::model::AdminAuditEntry>,
    discovery: BTreeMap<GuildId, fluxer_core::model::DiscoveryApplication>,
    /// The outbox of new messages' follow-ups: by message and kind, the channel, when each is due
    /// (its lease's end once claimed, in ms) and its claims so far.
    followups: BTreeMap<(MessageId, FollowupKind), (ChannelId, i64, u32)>,
}

/// Every repository in memory.
#[derive(Default)]
pub struct MemoryStore {
    data: RwLock<Data>,
}

impl MemoryStore {
    /// An empty store.
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
            && self
                .emails
                .get(&email.to_lowercase())
                .is_some_and(|id| *id != user.id)
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
            self.tags
                .remove(&(old.username.to_lowercase(), old.discriminator));
        }
        if let Some(e) = &user.email {
            self.emails.insert(e.to_lowercase(), user.id);
        }
        self.tags
            .insert((user.username.to_lowercase(), user.discriminator), user.id);
    }

    /// Stores a channel edit. `last_message_id` only moves forward: an edit made from a copy read before
    /// the latest message must not take it back.
    fn put_channel(&mut self, mut channel: Channel) {
        if let Some(old) = self.channels.get(&channel.id) {
            channel.last_message_id = channel.last_message_id.max(old.last_message_id);
        }
        self.channels.insert(channel.id, channel);
    }

    fn delete_channel_cascade(&mut self, id: ChannelId) {
        self.channels.remove(&id);
        if let Some(messages) = self.messages.remove(&id) {
            for m in messages.keys() {
                self.reactions.remove(m);
            }
        }
        self.invites
            .retain(|_, i| i.channel_id != Some(id) || i.vanity);
        self.webhooks.retain(|_, w| w.channel_id != id);
        for states in self.read_states.values_mut() {
            states.remove(&id);
        }
    }
}

#[async_trait::async_trait]
impl fluxer_core::ports::ScanRepository for MemoryStore {
    async fn scan_ids(
        &self,
        what: fluxer_core::ports::Scan,
        after: u64,
        limit: usize,
    ) -> fluxer_core::ports::PortResult<Vec<u64>> {
        use fluxer_core::ports::Scan;
        let mut ids: Vec<u64> = self.read(|d| match what {
            Scan::Users => d.users.keys().map(|id| id.get()).collect(),
            Scan::Guilds => d.guilds.keys().map(|id| id.get()).collect(),
            Scan::Channels => d.channels.keys().map(|id| id.get()).collect(),
        });
        ids.retain(|id| *id > after);
        ids.sort_unstable();
        ids.truncate(limit);
        Ok(ids)
    }

    async fn count_rows(
        &self,
        what: fluxer_core::ports::Tally,
    ) -> fluxer_core::ports::PortResult<u64> {
        use fluxer_core::ports::Tally;
        Ok(self.read(|d| match what {
            Tally::Users => d.users.len() as u64,
            Tally::Guilds => d.guilds.len() as u64,
            Tally::Messages => d.messages.values().map(|m| m.len() as u64).sum(),
        }))
    }

    async fn count_ids_per_bucket(
        &self,
        what: fluxer_core::ports::Tally,
        from: u64,
        width: u64,
        buckets: usize,
    ) -> fluxer_core::ports::PortResult<Vec<u64>> {
        use fluxer_core::ports::Tally;
        let buckets = buckets.min(fluxer_core::ports::MAX_TALLY_BUCKETS);
        Ok(self.read(|d| match what {
            Tally::Users => {
                Tally::bucket_counts(d.users.keys().map(|id| id.get()), from, width, buckets)
            }
            Tally::Guilds => {
                Tally::bucket_counts(d.guilds.keys().map(|id| id.get()), from, width, buckets)
            }
            Tally::Messages => Tally::bucket_counts(
                d.messages
                    .values()
                    .flat_map(|m| m.keys().map(|id| id.get())),
                from,
                width,
                buckets,
            ),
        }))
    }
}
