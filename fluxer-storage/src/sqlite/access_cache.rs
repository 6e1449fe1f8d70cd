//! The answers of [`AccessRepository`](fluxer_core::ports::AccessRepository) kept in memory: every
//! request authenticates and most check a channel's permissions, and a SQLite read transaction costs
//! more than the rest of such a check (the WAL's shared-memory locks are system calls).
//!
//! Exact, not eventually consistent: the writer thread is the only one that changes the database, and
//! it bumps a generation after every commit that wrote a table these answers are read from (users,
//! sessions, guilds, members, roles, channels: anything but the tables listed in
//! [`unread_by_access`]). An entry answers only while the generation it was read at is current, and
//! the bump happens before the write is acknowledged, so a request that follows a write never sees
//! the state before it. A reader takes the generation before it opens its snapshot: a write that
//! commits in between leaves an entry tagged with the older generation, which is never used.
//!
//! Storing a message moves its channel's `last_message_id` without a bump (that would empty the
//! cache on every message); the cache keeps the latest ID per channel instead and answers with it.
//!
//! The cache assumes this process's writer is the only one that changes or deletes those rows;
//! another process that only adds rows (`fluxer-server create-admin` adds a user) leaves every cached
//! answer true.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use fluxer_core::id::{ChannelId, GuildId, MessageId, UserId};
use fluxer_core::model::{AuthSession, Channel, User};
use fluxer_core::ports::GuildStanding;

/// What a map may hold, in entries plus the roles they carry (a guild's roles are in every standing
/// in it); a full map is emptied and fills again from the database. Channels for the newest-message
/// map.
const CAPACITY: usize = 65_536;

/// A channel with the caller's standing in its guild (`None` outside guilds).
pub(super) type ChannelStanding = (Channel, Option<GuildStanding>);

pub(super) struct AccessCache {
    /// Bumped by the writer; shared with it.
    generation: Arc<AtomicU64>,
    sessions: Entries<[u8; 32], Option<(AuthSession, User)>>,
    guilds: Entries<(GuildId, UserId), Option<GuildStanding>>,
    channels: Entries<(ChannelId, UserId), Option<ChannelStanding>>,
    /// The newest message stored through this process, per channel.
    last_messages: Mutex<HashMap<ChannelId, MessageId>>,
}

struct Entries<K, V> {
    map: Mutex<Weighed<K, V>>,
    /// An entry's share of [`CAPACITY`].
    weigh: fn(&V) -> usize,
}

struct Weighed<K, V> {
    entries: HashMap<K, (u64, V)>,
    weight: usize,
}

impl<K: Eq + Hash, V: Clone> Entries<K, V> {
    fn new(weigh: fn(&V) -> usize) -> Self {
        Entries {
            map: Mutex::new(Weighed {
                entries: HashMap::new(),
                weight: 0,
            }),
            weigh,
        }
    }

    fn get(&self, key: &K, generation: u64) -> Option<V> {
        let found = {
            let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            map.entries
                .get(key)
                .filter(|(at, _)| *at == generation)
                .map(|(_, v)| v.clone())
        };
        if let Some(recorder) = fluxer_core::telemetry::recorder() {
            recorder.cache_lookup(fluxer_core::telemetry::CacheKind::Access, found.is_some());
        }
        found
    }

    fn put(&self, key: K, generation: u64, value: V) {
        let weight = (self.weigh)(&value);
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.weight + weight > CAPACITY {
            map.entries.clear();
            map.weight = 0;
        }
        map.weight += weight;
        if let Some((_, old)) = map.entries.insert(key, (generation, value)) {
            map.weight -= (self.weigh)(&old);
        }
    }
}

fn standing_weight(standing: Option<&GuildStanding>) -> usize {
    1 + standing.map_or(0, |s| s.roles.len())
}

impl AccessCache {
    pub(super) fn new(generation: Arc<AtomicU64>) -> AccessCache {
        AccessCache {
            generation,
            sessions: Entries::new(|_| 1),
            guilds: Entries::new(|found| standing_weight(found.as_ref())),
            channels: Entries::new(|found| {
                standing_weight(found.as_ref().and_then(|(_, standing)| standing.as_ref()))
            }),
            last_messages: Mutex::new(HashMap::new()),
        }
    }

    /// The generation a read must be tagged with: taken before its snapshot opens.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(super) fn session(&self, token_hash: &[u8; 32]) -> Option<Option<(AuthSession, User)>> {
        self.sessions.get(token_hash, self.generation())
    }

    pub(super) fn put_session(
        &self,
        token_hash: [u8; 32],
        generation: u64,
        found: Option<(AuthSession, User)>,
    ) {
        self.sessions.put(token_hash, generation, found);
    }

    pub(super) fn guild(&self, guild: GuildId, user: UserId) -> Option<Option<GuildStanding>> {
        self.guilds.get(&(guild, user), self.generation())
    }

    pub(super) fn put_guild(
        &self,
        guild: GuildId,
        user: UserId,
        generation: u64,
        found: Option<GuildStanding>,
    ) {
        self.guilds.put((guild, user), generation, found);
    }

    pub(super) fn channel(
        &self,
        channel: ChannelId,
        user: UserId,
    ) -> Option<Option<ChannelStanding>> {
        let mut found = self.channels.get(&(channel, user), self.generation())?;
        if let Some((ch, _)) = &mut found {
            let last = self
                .last_messages
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&channel)
                .copied();
            if let Some(last) = last {
                ch.last_message_id = Some(ch.last_message_id.map_or(last, |m| m.max(last)));
            }
        }
        Some(found)
    }

    pub(super) fn put_channel(
        &self,
        channel: ChannelId,
        user: UserId,
        generation: u64,
        found: Option<ChannelStanding>,
    ) {
        self.channels.put((channel, user), generation, found);
    }

    /// A message was stored (and committed) in `channel`.
    pub(super) fn message_stored(&self, channel: ChannelId, id: MessageId) {
        let mut last = self
            .last_messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.len() >= CAPACITY && !last.contains_key(&channel) {
            // Forgetting a channel's newest message would let a cached channel answer with an older
            // one: forget the cached channels with it.
            last.clear();
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        let newest = last.entry(channel).or_insert(id);
        *newest = (*newest).max(id);
    }
}

/// Whether a write to `table` leaves every cached access answer true: the tables the access reads
/// never look at. Any other table, or a statement whose table is not recognized, empties the cache.
pub(super) fn unread_by_access(table: &str) -> bool {
    matches!(
        table,
        "messages"
            | "reactions"
            | "reactions_v2"
            | "read_states"
            | "invites"
            | "action_tokens"
            | "webhooks"
            | "applications"
            | "bans"
            | "relationships"
            | "oauth2_tokens"
            | "sso_identities"
            | "webauthn_credentials"
            | "admin_audit_log"
    )
}

/// The table a write statement changes: the name after the first of `INTO`, `UPDATE` or `FROM`.
pub(super) fn written_table(sql: &str) -> Option<&str> {
    let mut words = sql.split_ascii_whitespace();
    while let Some(word) = words.next() {
        if ["INTO", "UPDATE", "FROM"]
            .iter()
            .any(|k| word.eq_ignore_ascii_case(k))
        {
            let name = words.next()?;
            return Some(name.split(['(', ';']).next().unwrap_or(name));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_written_table() {
        let cases = [
            (
                "INSERT INTO messages (channel_id, id) VALUES (?1, ?2)",
                "messages",
            ),
            (
                "INSERT OR REPLACE INTO read_states(user_id) VALUES (1)",
                "read_states",
            ),
            (
                "  UPDATE members SET data = ?3 WHERE guild_id = ?1",
                "members",
            ),
            (
                "DELETE FROM roles WHERE guild_id IN (SELECT id FROM guilds)",
                "roles",
            ),
            ("insert into users (id) values (1)", "users"),
        ];
        for (sql, table) in cases {
            assert_eq!(written_table(sql), Some(table), "{sql}");
        }
        assert_eq!(written_table("VACUUM"), None);
    }

    #[test]
    fn access_tables_are_not_unread() {
        for table in [
            "users",
            "sessions",
            "guilds",
            "members",
            "roles",
            "channels",
            "channel_recipients",
        ] {
            assert!(!unread_by_access(table), "{table}");
        }
        assert!(unread_by_access("messages"));
    }

    #[test]
    fn an_entry_answers_only_in_its_generation() {
        let generation = Arc::new(AtomicU64::new(0));
        let cache = AccessCache::new(generation.clone());
        let (guild, user) = (GuildId::new(1), UserId::new(2));
        let at = cache.generation();
        cache.put_guild(guild, user, at, None);
        assert_eq!(cache.guild(guild, user), Some(None));
        generation.fetch_add(1, Ordering::AcqRel);
        assert_eq!(cache.guild(guild, user), None);
        // A read that began before the bump stays unused after it.
        cache.put_guild(guild, user, at, None);
        assert_eq!(cache.guild(guild, user), None);
    }

    #[test]
    fn a_full_map_starts_over() {
        let cache = AccessCache::new(Arc::new(AtomicU64::new(0)));
        let at = cache.generation();
        for i in 0..CAPACITY as u64 + 10 {
            cache.put_guild(GuildId::new(1), UserId::new(i + 1), at, None);
        }
        let map = cache.guilds.map.lock().unwrap();
        assert_eq!(map.entries.len(), 10);
        assert_eq!(map.weight, 10);
    }
}
