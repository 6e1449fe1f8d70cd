//! Voice connections on Redis, shared by every node: a join made on one gateway node is confirmed
//! by a webhook on another, listed in any node's `GUILD_CREATE`, and moderated from any API node.

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::ports::{PortResult, VoiceConnection, VoiceScope, VoiceStates};
use redis::Script;
use redis::aio::ConnectionManager;

use super::{RedisConfig, backend};

// Every key shares the `{voice}` hash tag (one Redis Cluster slot), because a write moves a
// connection between index sets named in its arguments:
//   KEYS[1] hash  connection id -> the record (JSON, opaque to Lua)
//   KEYS[2] hash  connection id -> its version (decimal)
//   KEYS[3] hash  connection id -> the index sets it is in, newline-separated
//   KEYS[4] zset  unconfirmed connection ids, scored by when they became pending (Unix ms)
// The index sets (guild, channel, session) hold connection ids.

/// ARGV: id, record, version, expected version ('' = none stored), pending since ('' = confirmed),
/// index sets. Returns 1 when written, 0 when the stored version is not the expected one.
const PUT: &str = r"
local current = redis.call('HGET', KEYS[2], ARGV[1])
if ARGV[4] == '' then
  if current then return 0 end
elseif current ~= ARGV[4] then
  return 0
end
local old = redis.call('HGET', KEYS[3], ARGV[1])
if old then
  for key in string.gmatch(old, '[^\n]+') do redis.call('SREM', key, ARGV[1]) end
end
for key in string.gmatch(ARGV[6], '[^\n]+') do redis.call('SADD', key, ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[6])
if ARGV[5] == '' then
  redis.call('ZREM', KEYS[4], ARGV[1])
else
  redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
end
return 1
";

/// ARGV: id, expected version ('' = any). Returns the removed record, or false.
const TAKE: &str = r"
local current = redis.call('HGET', KEYS[2], ARGV[1])
if not current then return false end
if ARGV[2] ~= '' and current ~= ARGV[2] then return false end
local record = redis.call('HGET', KEYS[1], ARGV[1])
local old = redis.call('HGET', KEYS[3], ARGV[1])
if old then
  for key in string.gmatch(old, '[^\n]+') do redis.call('SREM', key, ARGV[1]) end
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return record
";

/// ARGV: 'set' and an index set, or 'pending' and the latest pending time. The records of those
/// connections.
const LIST: &str = r"
local ids
if ARGV[1] == 'set' then
  ids = redis.call('SMEMBERS', ARGV[2])
else
  ids = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[2])
end
local out = {}
for i = 1, #ids, 500 do
  local chunk = {}
  for j = i, math.min(i + 499, #ids) do chunk[#chunk + 1] = ids[j] end
  local records = redis.call('HMGET', KEYS[1], unpack(chunk))
  for _, record in ipairs(records) do
    if record then out[#out + 1] = record end
  end
end
return out
";

/// [`VoiceStates`] on Redis. Writes and removals are Lua scripts, so the compare-and-set on the
/// version and the index updates are atomic and one round trip. Connections do not expire: they
/// leave when their session ends, LiveKit says they left, or the pending window passes.
///
/// Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct RedisVoiceStates {
    connection: ConnectionManager,
    prefix: String,
    put: Script,
    take: Script,
    list: Script,
}

impl RedisVoiceStates {
    /// Connects to the configured server.
    pub async fn connect(config: &RedisConfig) -> PortResult<RedisVoiceStates> {
        Ok(Self::new(config.connect().await?, &config.key_prefix))
    }

    /// Voice states on an existing connection, keeping their keys under `prefix`.
    pub fn new(connection: ConnectionManager, prefix: &str) -> RedisVoiceStates {
        RedisVoiceStates {
            connection,
            prefix: prefix.to_owned(),
            put: Script::new(PUT),
            take: Script::new(TAKE),
            list: Script::new(LIST),
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}{{voice}}:{name}", self.prefix)
    }

    fn keys(&self) -> [String; 4] {
        [
            self.key("records"),
            self.key("versions"),
            self.key("indexes"),
            self.key("pending"),
        ]
    }

    /// The index set of a scope that has one.
    fn index(&self, scope: &VoiceScope) -> Option<String> {
        match scope {
            VoiceScope::Guild(g) => Some(self.key(&format!("guild:{g}"))),
            VoiceScope::Channel(c) => Some(self.key(&format!("channel:{c}"))),
            VoiceScope::Session { user, session_id } => {
                Some(self.key(&format!("session:{user}:{session_id}")))
            }
            _ => None,
        }
    }

    fn invocation<'a>(&self, script: &'a Script) -> redis::ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        for key in self.keys() {
            invocation.key(key);
        }
        invocation
    }
}

fn decode(json: &str) -> PortResult<VoiceConnection> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::backend_of("redis", format!("voice states: corrupt record: {e}")))
}

#[async_trait]
impl VoiceStates for RedisVoiceStates {
    async fn get(&self, connection_id: &str) -> PortResult<Option<VoiceConnection>> {
        let json: Option<String> = redis::cmd("HGET")
            .arg(self.key("records"))
            .arg(connection_id)
            .query_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        json.as_deref().map(decode).transpose()
    }

    async fn put(&self, connection: &VoiceConnection, expected: Option<u64>) -> PortResult<bool> {
        let json =
            serde_json::to_string(connection).map_err(|e| StoreError::backend_of("redis", e))?;
        let state = &connection.state;
        let indexes: Vec<String> = [
            self.index(&VoiceScope::Session {
                user: state.user_id,
                session_id: state.session_id.clone(),
            }),
            state
                .guild_id
                .and_then(|g| self.index(&VoiceScope::Guild(g))),
            state
                .channel_id
                .and_then(|c| self.index(&VoiceScope::Channel(c))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let written: i64 = self
            .invocation(&self.put)
            .arg(&state.connection_id)
            .arg(json)
            .arg(state.version)
            .arg(expected.map(|v| v.to_string()).unwrap_or_default())
            .arg(if connection.confirmed {
                String::new()
            } else {
                connection.pending_since.to_string()
            })
            .arg(indexes.join("\n"))
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        Ok(written == 1)
    }

    async fn take(
        &self,
        connection_id: &str,
        expected: Option<u64>,
    ) -> PortResult<Option<VoiceConnection>> {
        let json: Option<String> = self
            .invocation(&self.take)
            .arg(connection_id)
            .arg(expected.map(|v| v.to_string()).unwrap_or_default())
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(backend)?;
        json.as_deref().map(decode).transpose()
    }

    async fn list(&self, scope: &VoiceScope) -> PortResult<Vec<VoiceConnection>> {
        let records: Vec<String> = match (scope, self.index(scope)) {
            (_, Some(set)) => self
                .invocation(&self.list)
                .arg("set")
                .arg(set)
                .invoke_async(&mut self.connection.clone())
                .await
                .map_err(backend)?,
            (VoiceScope::PendingSince(at), None) => self
                .invocation(&self.list)
                .arg("pending")
                .arg(*at)
                .invoke_async(&mut self.connection.clone())
                .await
                .map_err(backend)?,
            _ => redis::cmd("HVALS")
                .arg(self.key("records"))
                .query_async(&mut self.connection.clone())
                .await
                .map_err(backend)?,
        };
        let mut out = Vec::with_capacity(records.len());
        for json in &records {
            let c = decode(json)?;
            // The index is exact; this also keeps an unknown future scope honest.
            if scope.contains(&c) {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn count(&self) -> PortResult<usize> {
        redis::cmd("HLEN")
            .arg(self.key("records"))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(backend)
    }
}
