//! Presence on Redis: per-user gateway sessions with deadlines on the caller's clock.

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::id::UserId;
use fluxer_core::ports::{PortResult, Presence, PresenceEntry, Status};
use fluxer_core::time::Timestamp;
use redis::Script;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use super::{RedisConfig, backend};

// Every script gets the user's four keys:
//   KEYS[1] hash   session id -> the session's presence (JSON, opaque to Lua)
//   KEYS[2] zset   session id, scored by the session's deadline (last refresh + ttl, Unix ms)
//   KEYS[3] zset   session id, scored by when its presence last changed (Unix ms)
//   KEYS[4] string when the user was last connected, as of the sessions already forgotten (Unix ms)
// Times come from the caller (`now`), never from Redis's clock. A session is live while now < deadline.
//
// The presence JSON is compared and returned as is and never decoded in Lua: cjson would rewrite
// numbers in custom statuses.
macro_rules! presence_lua_prelude {
    () => {
        r"
local function remember_last_seen(at)
  local last = tonumber(redis.call('GET', KEYS[4]))
  if not last or at > last then
    redis.call('SET', KEYS[4], string.format('%d', at))
  end
end

local function forget(sid)
  redis.call('HDEL', KEYS[1], sid)
  redis.call('ZREM', KEYS[2], sid)
  redis.call('ZREM', KEYS[3], sid)
end

-- Forgets the sessions that lapsed at `now`, remembering the latest lapse as last seen.
local function prune(now)
  local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES')
  if #lapsed == 0 then return end
  local latest = nil
  for i = 1, #lapsed, 2 do
    local at = tonumber(lapsed[i + 1])
    if not latest or at > latest then latest = at end
    forget(lapsed[i])
  end
  remember_last_seen(latest)
end

-- {1, presence JSON} of the most recently updated live session, or {0, last seen or nil}.
local function aggregate(now)
  now = tonumber(now)
  local by_update = redis.call('ZREVRANGE', KEYS[3], 0, -1)
  for _, sid in ipairs(by_update) do
    local deadline = tonumber(redis.call('ZSCORE', KEYS[2], sid))
    if deadline and deadline > now then
      return {1, redis.call('HGET', KEYS[1], sid)}
    end
  end
  local last = tonumber(redis.call('GET', KEYS[4]))
  local newest = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if newest[2] then
    local at = tonumber(newest[2])
    if not last or at > last then last = at end
  end
  if not last then return {0, false} end
  return {0, string.format('%d', last)}
end
"
    };
}

/// ARGV: session id, presence JSON, now, deadline. A refresh with the same presence keeps the session's
/// update time (a heartbeat is not an update).
const SET_SESSION: &str = concat!(
    presence_lua_prelude!(),
    r"
prune(ARGV[3])
local previous = redis.call('HGET', KEYS[1], ARGV[1])
if previous ~= ARGV[2] or not redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return 1
"
);

/// ARGV: session id, now. The removed session was last seen at now (or at its deadline, if it had
/// lapsed already).
const REMOVE_SESSION: &str = concat!(
    presence_lua_prelude!(),
    r"
local deadline = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]))
if deadline then
  remember_last_seen(math.min(deadline, tonumber(ARGV[2])))
  forget(ARGV[1])
end
prune(ARGV[2])
return aggregate(ARGV[2])
"
);

/// ARGV: now. Read only: lapsed sessions are forgotten by the next write.
const GET_PRESENCE: &str = concat!(
    presence_lua_prelude!(),
    r"
return aggregate(ARGV[1])
"
);

/// What a session shows others; its JSON form is compared byte for byte to tell a heartbeat from an
/// update, which is sound because `serde_json` writes object keys in sorted order.
#[derive(Serialize, Deserialize)]
struct SessionPresence {
    status: Status,
    afk: bool,
    mobile: bool,
    custom_status: Option<serde_json::Value>,
}

/// [`Presence`] on Redis. Each user has four keys (sessions, their deadlines, their update times, and
/// last seen) sharing a `{user}` hash tag, so the scripts that touch them also run on Redis Cluster.
///
/// Liveness is decided by the `now` each call passes, compared with deadlines stored as sorted-set
/// scores, so it does not depend on the Redis server's clock. Lapsed sessions are forgotten by the
/// user's next write; a user's keys stay after their last session, like the in-memory adapter's
/// entries, so "last seen" is remembered.
///
/// Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct RedisPresence {
    connection: ConnectionManager,
    prefix: String,
    set_session: Script,
    remove_session: Script,
    get_presence: Script,
}

impl RedisPresence {
    /// Connects to the configured server.
    pub async fn connect(config: &RedisConfig) -> PortResult<RedisPresence> {
        Ok(Self::new(config.connect().await?, &config.key_prefix))
    }

    /// Presence on an existing connection, keeping its keys under `prefix`.
    pub fn new(connection: ConnectionManager, prefix: &str) -> RedisPresence {
        RedisPresence {
            connection,
            prefix: prefix.to_owned(),
            set_session: Script::new(SET_SESSION),
            remove_session: Script::new(REMOVE_SESSION),
            get_presence: Script::new(GET_PRESENCE),
        }
    }

    fn keys(&self, user: UserId) -> [String; 4] {
        let base = format!("{}presence:{{{}}}", self.prefix, user.get());
        [
            format!("{base}:sessions"),
            format!("{base}:deadlines"),
            format!("{base}:updated"),
            format!("{base}:last_seen"),
        ]
    }

    async fn aggregate(
        &self,
        script: &Script,
        user: UserId,
        args: &[String],
        now: Timestamp,
    ) -> PortResult<PresenceEntry> {
        let mut invocation = script.prepare_invoke();
        for key in self.keys(user) {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(arg);
        }
        let (live, value): (i64, Option<String>) = invocation
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        if live == 1 {
            let json = value.ok_or_else(|| corrupt("a live session without a presence"))?;
            let session: SessionPresence =
                serde_json::from_str(&json).map_err(|e| corrupt(&e.to_string()))?;
            return Ok(PresenceEntry {
                user_id: user,
                status: session.status,
                afk: session.afk,
                mobile: session.mobile,
                custom_status: session.custom_status,
                last_seen: Some(now),
            });
        }
        let last_seen = match value {
            Some(ms) => Some(Timestamp::from_unix_ms(
                ms.parse().map_err(|_| corrupt("a last-seen time"))?,
            )),
            None => None,
        };
        Ok(PresenceEntry {
            user_id: user,
            status: Status::Offline,
            afk: false,
            mobile: false,
            custom_status: None,
            last_seen,
        })
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::backend_of("redis", format!("presence: corrupt data: {what}"))
}

#[async_trait]
impl Presence for RedisPresence {
    async fn set_session(
        &self,
        user: UserId,
        session_id: &str,
        entry: &PresenceEntry,
        now: Timestamp,
        ttl_ms: u64,
    ) -> PortResult<()> {
        let presence = serde_json::to_string(&SessionPresence {
            status: entry.status,
            afk: entry.afk,
            mobile: entry.mobile,
            custom_status: entry.custom_status.clone(),
        })
        .map_err(|e| StoreError::backend_of("redis", e))?;
        let deadline = now.plus_ms(i64::try_from(ttl_ms).unwrap_or(i64::MAX));
        let mut invocation = self.set_session.prepare_invoke();
        for key in self.keys(user) {
            invocation.key(key);
        }
        invocation
            .arg(session_id)
            .arg(presence)
            .arg(now.unix_ms())
            .arg(deadline.unix_ms())
            .invoke_async::<()>(&mut self.connection.clone())
            .await
            .map_err(backend)
    }

    async fn remove_session(
        &self,
        user: UserId,
        session_id: &str,
        now: Timestamp,
    ) -> PortResult<PresenceEntry> {
        let args = [session_id.to_owned(), now.unix_ms().to_string()];
        self.aggregate(&self.remove_session, user, &args, now).await
    }

    async fn get_presence(&self, user: UserId, now: Timestamp) -> PortResult<PresenceEntry> {
        let args = [now.unix_ms().to_string()];
        self.aggregate(&self.get_presence, user, &args, now).await
    }

    /// Many users' presences with their round trips overlapped on the multiplexed connection,
    /// [`GET_MANY_AT_ONCE`] at a time, instead of one after the other.
    async fn get_presences(
        &self,
        users: &[UserId],
        now: Timestamp,
    ) -> PortResult<Vec<PresenceEntry>> {
        let args = [now.unix_ms().to_string()];
        let mut out = Vec::with_capacity(users.len());
        for chunk in users.chunks(GET_MANY_AT_ONCE) {
            let answers = futures_util::future::join_all(
                chunk
                    .iter()
                    .map(|user| self.aggregate(&self.get_presence, *user, &args, now)),
            )
            .await;
            for answer in answers {
                out.push(answer?);
            }
        }
        Ok(out)
    }
}

/// Presence reads in flight at once for one `get_presences`.
const GET_MANY_AT_ONCE: usize = 64;
