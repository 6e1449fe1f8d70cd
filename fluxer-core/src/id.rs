//! Snowflake IDs in Fluxer's layout.
//!
//! A snowflake is a 64-bit integer: `timestamp_ms_since_FLUXER_EPOCH << 22 | worker << 12 | sequence`.
//! On the wire it is a JSON string (JavaScript numbers lose precision past 2^53); requests may send it as a
//! string or a number.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::Timestamp;

/// Fluxer's epoch, 2015-01-01T00:00:00Z, in Unix milliseconds (the same as Discord's).
pub const FLUXER_EPOCH_MS: i64 = 1_420_070_400_000;

const WORKER_BITS: u32 = 10;
const SEQUENCE_BITS: u32 = 12;
const MAX_WORKER: u16 = (1 << WORKER_BITS) - 1;
const MAX_SEQUENCE: u16 = (1 << SEQUENCE_BITS) - 1;

/// A raw snowflake. Prefer the typed IDs ([`UserId`], [`ChannelId`], ...) in signatures.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Snowflake(pub u64);

impl Snowflake {
    /// Builds a snowflake from its parts. `ms` is Unix milliseconds.
    pub fn from_parts(ms: i64, worker: u16, sequence: u16) -> Self {
        let since_epoch = (ms - FLUXER_EPOCH_MS).max(0) as u64;
        Snowflake(
            (since_epoch << (WORKER_BITS + SEQUENCE_BITS))
                | (u64::from(worker & MAX_WORKER) << SEQUENCE_BITS)
                | u64::from(sequence & MAX_SEQUENCE),
        )
    }

    /// The smallest snowflake at the given time: useful as a pagination bound.
    pub fn min_at(at: Timestamp) -> Self {
        Self::from_parts(at.unix_ms(), 0, 0)
    }

    /// When this snowflake was minted.
    pub fn timestamp(self) -> Timestamp {
        Timestamp::from_unix_ms((self.0 >> (WORKER_BITS + SEQUENCE_BITS)) as i64 + FLUXER_EPOCH_MS)
    }

    /// The ID of the worker that minted it (10 bits).
    pub fn worker(self) -> u16 {
        ((self.0 >> SEQUENCE_BITS) as u16) & MAX_WORKER
    }

    /// Its place among the snowflakes its worker minted in the same millisecond (12 bits).
    pub fn sequence(self) -> u16 {
        (self.0 as u16) & MAX_SEQUENCE
    }

    /// Upstream's 10-day message bucket, observable in its storage layout.
    pub fn bucket(self) -> u64 {
        (self.0 >> (WORKER_BITS + SEQUENCE_BITS)) / 864_000_000
    }
}

/// The decimal digits of `n`, written into the end of `buf`. IDs are written by the million (every
/// message a page or an event carries has several), and the formatting machinery costs several
/// times this.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits only: always valid.
    std::str::from_utf8(&buf[at..]).unwrap_or_default()
}

impl fmt::Debug for Snowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Snowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(decimal(self.0, &mut [0; 20]))
    }
}

/// The error of parsing a snowflake from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid snowflake: {0:?}")]
pub struct ParseSnowflakeError(pub String);

impl FromStr for Snowflake {
    type Err = ParseSnowflakeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseSnowflakeError(s.chars().take(32).collect());
        let bytes = s.as_bytes();
        if bytes.is_empty() || bytes.len() > 20 {
            return Err(invalid());
        }
        // Digits only (no sign, no space), read in one pass; past `u64::MAX` is an error.
        let mut value: u64 = 0;
        for &b in bytes {
            if !b.is_ascii_digit() {
                return Err(invalid());
            }
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(b - b'0')))
                .ok_or_else(invalid)?;
        }
        Ok(Snowflake(value))
    }
}

impl Serialize for Snowflake {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(decimal(self.0, &mut [0; 20]))
    }
}

impl<'de> Deserialize<'de> for Snowflake {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SnowflakeVisitor;
        impl Visitor<'_> for SnowflakeVisitor {
            type Value = Snowflake;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a snowflake as a string or a non-negative integer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Snowflake, E> {
                Ok(Snowflake(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Snowflake, E> {
                u64::try_from(v)
                    .map(Snowflake)
                    .map_err(|_| E::custom("snowflake must not be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Snowflake, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(SnowflakeVisitor)
    }
}

macro_rules! typed_id {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Snowflake);

        impl $name {
            /// Wraps a raw snowflake value.
            pub const fn new(raw: u64) -> Self { $name(Snowflake(raw)) }
            /// The raw snowflake value.
            pub fn get(self) -> u64 { self.0.0 }
            /// When this ID was minted (see [`Snowflake::timestamp`]).
            pub fn timestamp(self) -> Timestamp { self.0.timestamp() }
        }
        impl From<Snowflake> for $name {
            fn from(s: Snowflake) -> Self { $name(s) }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.0)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { fmt::Display::fmt(&self.0, f) }
        }
        impl FromStr for $name {
            type Err = ParseSnowflakeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> { s.parse().map($name) }
        }
    )*};
}

typed_id! {
    /// A user (person or bot).
    UserId;
    /// A guild (community).
    GuildId;
    /// A channel of any type, guild or private.
    ChannelId;
    /// A message.
    MessageId;
    /// A role. A guild's @everyone role shares the guild's ID.
    RoleId;
    /// An application (owner of a bot user).
    ApplicationId;
    /// A webhook.
    WebhookId;
    /// A file attached to a message.
    AttachmentId;
    /// A custom emoji.
    EmojiId;
    /// A guild's custom emoji or sticker ("expression", as upstream calls both).
    ExpressionId;
    /// An entry of a guild's audit log.
    AuditLogId;
    /// A report filed with the instance's staff.
    ReportId;
    /// A user's emoji or sticker pack.
    PackId;
}

impl PackId {
    /// The owner its emojis and stickers are stored under ([`Expression::guild_id`]): a pack owns
    /// expressions the way a guild does (as upstream stores them), and snowflakes never collide.
    ///
    /// [`Expression::guild_id`]: crate::model::Expression::guild_id
    pub fn expression_owner(self) -> GuildId {
        GuildId(self.0)
    }
}

impl From<ExpressionId> for EmojiId {
    fn from(id: ExpressionId) -> Self {
        EmojiId(id.0)
    }
}

impl From<EmojiId> for ExpressionId {
    fn from(id: EmojiId) -> Self {
        ExpressionId(id.0)
    }
}

impl GuildId {
    /// The @everyone role of this guild (same ID as the guild, as upstream).
    pub fn everyone_role(self) -> RoleId {
        RoleId(self.0)
    }
}

/// Mints snowflakes that are unique for one worker and strictly increasing, even when the wall clock
/// stands still or steps backwards.
#[derive(Debug)]
pub struct SnowflakeGenerator {
    worker: u16,
    state: Mutex<(i64, u16)>,
}

impl SnowflakeGenerator {
    /// `worker` identifies this process among those sharing a database (10 bits: 0..=1023).
    pub fn new(worker: u16) -> Self {
        SnowflakeGenerator {
            worker: worker & MAX_WORKER,
            state: Mutex::new((0, 0)),
        }
    }

    /// The next snowflake at `now`. If `now` is behind the last issued time (clock stepped back) the last
    /// time is kept; when the 4096 sequence numbers of a millisecond run out, the time advances by one.
    pub fn next_at(&self, now: Timestamp) -> Snowflake {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last_ms, last_seq) = *state;
        let now_ms = now.unix_ms().max(FLUXER_EPOCH_MS);
        let (ms, seq) = if now_ms > last_ms {
            (now_ms, 0)
        } else if last_seq < MAX_SEQUENCE {
            (last_ms, last_seq + 1)
        } else {
            (last_ms + 1, 0)
        };
        *state = (ms, seq);
        Snowflake::from_parts(ms, self.worker, seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trips() {
        let at = Timestamp::from_unix_ms(1_700_000_000_123);
        let id = Snowflake::from_parts(at.unix_ms(), 513, 4000);
        assert_eq!(id.timestamp(), at);
        assert_eq!(id.worker(), 513);
        assert_eq!(id.sequence(), 4000);
    }

    #[test]
    fn known_discord_style_value() {
        // 175928847299117063 is Discord's documented example; same epoch and layout.
        let id = Snowflake(175_928_847_299_117_063);
        assert_eq!(id.timestamp().unix_ms(), 1_462_015_105_796);
        assert_eq!(id.worker(), 1 << 5); // Discord: internal worker 1, process 0
        assert_eq!(id.sequence(), 7);
    }

    #[test]
    fn serializes_as_string_and_parses_both_forms() {
        let id = UserId::new(175_928_847_299_117_063);
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"175928847299117063\""
        );
        let a: UserId = serde_json::from_str("\"175928847299117063\"").unwrap();
        let b: UserId = serde_json::from_str("175928847299117063").unwrap();
        assert_eq!(a, id);
        assert_eq!(b, id);
        assert!(serde_json::from_str::<UserId>("\"12a\"").is_err());
        assert!(serde_json::from_str::<UserId>("-5").is_err());
        assert!(serde_json::from_str::<UserId>("\"\"").is_err());
        assert!(serde_json::from_str::<UserId>("\"99999999999999999999999\"").is_err());
        // The ends of the range, written and read back; one past the top is refused.
        for raw in [0, 7, 10, u64::MAX] {
            let id = UserId::new(raw);
            let text = serde_json::to_string(&id).unwrap();
            assert_eq!(text, format!("\"{raw}\""));
            assert_eq!(id.to_string(), raw.to_string());
            assert_eq!(format!("{:?}", id.0), raw.to_string());
            assert_eq!(serde_json::from_str::<UserId>(&text).unwrap(), id);
        }
        assert!("18446744073709551616".parse::<UserId>().is_err());
        assert!(" 5".parse::<UserId>().is_err());
        assert!("+5".parse::<UserId>().is_err());
    }

    #[test]
    fn generator_is_strictly_monotonic_when_the_clock_stalls_or_steps_back() {
        let generator = SnowflakeGenerator::new(1);
        let t = Timestamp::from_unix_ms(1_700_000_000_000);
        let mut last = generator.next_at(t);
        for i in 0..10_000 {
            // Alternate a stalled clock and one that goes backwards.
            let now = if i % 2 == 0 {
                t
            } else {
                Timestamp::from_unix_ms(t.unix_ms() - 50)
            };
            let next = generator.next_at(now);
            assert!(next > last, "{next:?} after {last:?}");
            last = next;
        }
        // 10_001 IDs in what the clock claimed was one millisecond spill into the following ones.
        assert!(last.timestamp().unix_ms() > t.unix_ms());
    }

    #[test]
    fn everyone_role_shares_guild_id() {
        let guild = GuildId::new(42);
        assert_eq!(guild.everyone_role().get(), 42);
    }
}
