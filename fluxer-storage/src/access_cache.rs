//! The answers of [`AccessRepository`](fluxer_core::ports::AccessRepository) kept in memory, with the
//! users a history page names: every request authenticates and most check a channel's permissions,
//! and reading them again costs more than the rest of such a check (a SQLite read transaction's
//! shared-memory locks are system calls; a PostgreSQL statement is a round trip).
//!
//! An entry answers only while the generation it was read at is current. Whoever changes the tables
//! these answers are read from (users, sessions, guilds, members, roles, channels: anything but the
//! tables listed in [`unread_by_access`]) bumps the generation once the change is committed and
//! before it is acknowledged, so a request that follows a write never sees the state before it. A
//! reader takes the generation before it reads: a write that commits in between leaves an entry
//! tagged with the older generation, which is never used.
//!
//! - **SQLite:** the writer thread is the only one that changes the database, and it bumps after
//!   every commit that wrote such a table. Exact.
//! - **PostgreSQL:** a store bumps after its own such writes (exact for them), and tells the other
//!   processes on the database, which bump when told (see the adapter's `listener`). An entry also
//!   expires after a few seconds, which bounds what no process was told of.
//!
//! Storing a message moves its channel's `last_message_id` without a bump (that would empty the
//! cache on every message); the cache keeps the latest ID this process stored per channel instead
//! and answers with it. On PostgreSQL, touching a session (its `last_used_at`) forgets that one
//! session instead of bumping.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fluxer_core::id::{ChannelId, GuildId, MessageId, UserId};
use fluxer_core::model::{AuthSession, Channel, User};
use fluxer_core::ports::GuildStanding;

/// What a map may hold, in entries plus the roles they carry (a guild's roles are in every standing
/// in it); a full map is emptied and fills again from the database. Channels for the newest-message
/// map.
const CAPACITY: usize = 65_536;

/// A channel with the caller's standing in its guild (`None` outside guilds).
pub(crate) type ChannelStanding = (Channel, Option<GuildStanding>);

pub(crate) struct AccessCache {
    /// Bumped by whoever writes what the entries were read from; shared with them.
    generation: Arc<AtomicU64>,
    sessions: Entries<[u8; 32], Option<(AuthSession, User)>>,
    guilds: Entries<(GuildId, UserId), Option<GuildStanding>>,
    channels: Entries<(ChannelId, UserId), Option<ChannelStanding>>,
    /// Users by ID, for the pages of history that name them.
    users: Entries<UserId, Option<User>>,
    /// The newest message stored through this process, per channel.
    last_messages: Mutex<HashMap<ChannelId, MessageId>>,
}

struct Entries<K, V> {
    map: Mutex<Weighed<K, V>>,
    /// An entry's share of [`CAPACITY`].
    weigh: fn(&V) -> usize,
    /// How long an entry answers, when it may go stale unseen.
    max_age: Option<Duration>,
}

struct Weighed<K, V> {
    /// Each value with the generation it was read at and when it was stored.
    entries: HashMap<K, (u64, Instant, V)>,
    weight: usize,
}

impl<K: Eq + Hash, V: Clone> Entries<K, V> {
    fn new(weigh: fn(&V) -> usize, max_age: Option<Duration>) -> Self {
        Entries {
            map: Mutex::new(Weighed {
                entries: HashMap::new(),
                weight: 0,
            }),
            weigh,
            max_age,
        }
    }

    fn get(&self, key: &K, generation: u64) -> Option<V> {
        let found = {
            let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            map.entries
                .get(key)
                .filter(|(at, stored, _)| {
                    *at == generation && self.max_age.is_none_or(|age| stored.elapsed() < age)
                })
                .map(|(_, _, v)| v.clone())
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
        if let Some((_, _, old)) = map.entries.insert(key, (generation, Instant::now(), value)) {
            map.weight -= (self.weigh)(&old);
        }
    }
}

fn standing_weight(standing: Option<&GuildStanding>) -> usize {
    1 + standing.map_or(0, |s| s.roles.len())
}

impl AccessCache {
    /// A cache whose entries answer for as long as `generation` stays where they were read.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn new(generation: Arc<AtomicU64>) -> AccessCache {
        Self::build(generation, None)
    }

    /// A cache whose entries also expire `max_age` after they were read.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn expiring(generation: Arc<AtomicU64>, max_age: Duration) -> AccessCache {
        Self::build(generation, Some(max_age))
    }

    fn build(generation: Arc<AtomicU64>, max_age: Option<Duration>) -> AccessCache {
        AccessCache {
            generation,
            sessions: Entries::new(|_| 1, max_age),
            guilds: Entries::new(|found| standing_weight(found.as_ref()), max_age),
            channels: Entries::new(
                |found| standing_weight(found.as_ref().and_then(|(_, standing)| standing.as_ref())),
                max_age,
            ),
            users: Entries::new(|_| 1, max_age),
            last_messages: Mutex::new(HashMap::new()),
        }
    }

    /// Makes every entry stale: the tables behind them changed, or may have.
    pub(crate) fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The generation a read must be tagged with: taken before its snapshot opens.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn session(&self, token_hash: &[u8; 32]) -> Option<Option<(AuthSession, User)>> {
        self.sessions.get(token_hash, self.generation())
    }

    pub(crate) fn put_session(
        &self,
        token_hash: [u8; 32],
        generation: u64,
        found: Option<(AuthSession, User)>,
    ) {
        self.sessions.put(token_hash, generation, found);
    }

    pub(crate) fn guild(&self, guild: GuildId, user: UserId) -> Option<Option<GuildStanding>> {
        self.guilds.get(&(guild, user), self.generation())
    }

    pub(crate) fn put_guild(
        &self,
        guild: GuildId,
        user: UserId,
        generation: u64,
        found: Option<GuildStanding>,
    ) {
        self.guilds.put((guild, user), generation, found);
    }

    pub(crate) fn channel(
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

    pub(crate) fn put_channel(
        &self,
        channel: ChannelId,
        user: UserId,
        generation: u64,
        found: Option<ChannelStanding>,
    ) {
        self.channels.put((channel, user), generation, found);
    }

    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn user(&self, user: UserId) -> Option<Option<User>> {
        self.users.get(&user, self.generation())
    }

    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn put_user(&self, user: UserId, generation: u64, found: Option<User>) {
        self.users.put(user, generation, found);
    }

    /// Forgets one session's answer.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn forget_session(&self, token_hash: &[u8; 32]) {
        let mut map = self
            .sessions
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, old)) = map.entries.remove(token_hash) {
            map.weight -= (self.sessions.weigh)(&old);
        }
    }

    /// A message was stored (and committed) in `channel`.
    pub(crate) fn message_stored(&self, channel: ChannelId, id: MessageId) {
        let mut last = self
            .last_messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.len() >= CAPACITY && !last.contains_key(&channel) {
            // Forgetting a channel's newest message would let a cached channel answer with an older
            // one: forget the cached channels with it.
            last.clear();
            self.bump();
        }
        let newest = last.entry(channel).or_insert(id);
        *newest = (*newest).max(id);
    }
}

/// Whether a write to `table` leaves every cached access answer true: the tables the access reads
/// never look at. Any other table, or a statement whose table is not recognized, empties the cache.
pub(crate) fn unread_by_access(table: &str) -> bool {
    matches!(
        table,
        "messages"
            | "message_followups"
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
            | "audit_log"
            | "user_documents"
            | "expressions"
            | "packs"
            | "reports"
            | "discovery_applications"
            | "invites_v2"
    )
}

/// [`writes_access`], remembered per statement text on this thread: a store runs the same few
/// dozen statements over and over, and reading one is dearer than looking it up. Statements built
/// at run time (an `IN` list of some length, a page's `LIMIT`) could fill the memory, so it starts
/// over past a couple of thousand.
pub(crate) fn writes_access_remembered(sql: &str) -> bool {
    const MAX_REMEMBERED: usize = 2048;
    thread_local! {
        /// What [`writes_access`] said of each statement text this thread ran.
        static KNOWN: RefCell<HashMap<Box<str>, bool>> = RefCell::new(HashMap::new());
    }
    KNOWN.with_borrow_mut(|known| {
        if let Some(&writes) = known.get(sql) {
            return writes;
        }
        if known.len() >= MAX_REMEMBERED {
            known.clear();
        }
        let writes = writes_access(sql);
        known.insert(sql.into(), writes);
        writes
    })
}

/// Whether `sql`, once committed, may have changed what the cache holds: whether any of its parts
/// (a data-modifying `WITH` included) writes a table that [`unread_by_access`] does not list, or one
/// it cannot name. `ON CONFLICT ... DO UPDATE` writes the insert's own table; `FOR UPDATE` only locks.
pub(crate) fn writes_access(sql: &str) -> bool {
    let mut words = sql
        .split(|c: char| c.is_ascii_whitespace() || matches!(c, '(' | ')' | ',' | ';'))
        .filter(|w| !w.is_empty());
    let mut previous = "";
    while let Some(word) = words.next() {
        let is = |keyword: &str| word.eq_ignore_ascii_case(keyword);
        let after = |keyword: &str| previous.eq_ignore_ascii_case(keyword);
        let writes = is("INTO")
            || (is("FROM") && after("DELETE"))
            || (is("UPDATE") && !after("DO") && !after("FOR") && !after("KEY"));
        if writes {
            let table = words.next().unwrap_or("");
            if !unread_by_access(&table_name(table)) {
                return true;
            }
        } else if is("TRUNCATE") {
            // Every name that follows, up to the options.
            const OPTIONS: [&str; 6] = [
                "TABLE", "ONLY", "RESTART", "CONTINUE", "CASCADE", "RESTRICT",
            ];
            return words
                .filter(|w| !OPTIONS.iter().any(|o| w.eq_ignore_ascii_case(o)))
                .filter(|w| !w.eq_ignore_ascii_case("IDENTITY"))
                .any(|w| !unread_by_access(&table_name(w)));
        }
        previous = word;
    }
    false
}

/// A table reference as [`unread_by_access`] names it: without quotes or schema, in lower case.
fn table_name(reference: &str) -> String {
    let bare = reference.rsplit('.').next().unwrap_or(reference);
    bare.trim_matches('"').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_statements_that_write_what_access_reads() {
        let writes = [
            "UPDATE sessions SET data = jsonb_set(data, '{last_used_at}', $2) WHERE token_hash = $1",
            "INSERT INTO members (guild_id, user_id, data) VALUES ($1, $2, $3)",
            "DELETE FROM roles WHERE guild_id = $1",
            "WITH gone AS (DELETE FROM members WHERE guild_id = $1 RETURNING user_id) SELECT count(*) FROM gone",
            "update \"public\".\"Channels\" set data = $2 where id = $1",
            "INSERT INTO read_states (user_id) VALUES ($1); UPDATE users SET data = $2",
            "TRUNCATE messages, guilds RESTART IDENTITY",
            "MERGE INTO somewhere_new USING x ON true WHEN MATCHED THEN DELETE",
            // SQLite's forms.
            "  UPDATE members SET data = ?3 WHERE guild_id = ?1",
            "DELETE FROM roles WHERE guild_id IN (SELECT id FROM guilds)",
            "insert into users (id) values (1)",
            "INSERT OR REPLACE INTO sessions(token_hash) VALUES (?1)",
            "DELETE FROM reactions WHERE channel_id = ?1; DELETE FROM channels WHERE id = ?1",
        ];
        for sql in writes {
            assert!(writes_access(sql), "{sql}");
        }
        let leaves = [
            "SELECT s.data, u.data FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
            "WITH inserted AS (INSERT INTO messages (channel_id, id) VALUES ($1, $2) RETURNING id) \
             SELECT 1 FROM inserted",
            "INSERT INTO read_states (user_id, channel_id, data) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, channel_id) DO UPDATE SET data = EXCLUDED.data",
            "SELECT data FROM guilds WHERE id = $1 FOR UPDATE",
            "SELECT data FROM members WHERE guild_id = $1 FOR NO KEY UPDATE",
            "DELETE FROM reactions WHERE channel_id = $1",
            "TRUNCATE TABLE reactions, read_states CASCADE",
            // SQLite's forms.
            "INSERT INTO messages (channel_id, id) VALUES (?1, ?2)",
            "INSERT OR REPLACE INTO read_states(user_id) VALUES (1)",
            "VACUUM",
        ];
        for sql in leaves {
            assert!(!writes_access(sql), "{sql}");
        }
    }

    #[test]
    fn expired_entries_do_not_answer() {
        let cache = AccessCache::expiring(Arc::new(AtomicU64::new(0)), Duration::ZERO);
        cache.put_user(UserId::new(1), cache.generation(), None);
        assert_eq!(cache.user(UserId::new(1)), None);
        let cache = AccessCache::expiring(Arc::new(AtomicU64::new(0)), Duration::from_secs(60));
        cache.put_user(UserId::new(1), cache.generation(), None);
        assert_eq!(cache.user(UserId::new(1)), Some(None));
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
