use std::sync::Arc;

use async_trait::async_trait;

use super::PortResult;
use crate::id::{ChannelId, GuildId, UserId};

/// Who an event is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Every member of a guild (filtered by channel visibility, see [`Dispatch::channel_id`]).
    Guild(GuildId),
    /// Every session of one user.
    User(UserId),
    /// The presence changes of a large guild's members (more members than any session's
    /// `large_threshold` allows): only the sessions that show or follow members subscribe, so a
    /// storm of members coming online does not reach every session of the guild.
    GuildPresence(GuildId),
}

impl Topic {
    /// A stable subject name (`guild.123`, `user.456`, `presence.123`) for brokers.
    pub fn subject(&self) -> String {
        match self {
            Topic::Guild(id) => format!("guild.{id}"),
            Topic::User(id) => format!("user.{id}"),
            Topic::GuildPresence(id) => format!("presence.{id}"),
        }
    }
}

/// Declares [`EventKind`] from one list of variants and wire names.
macro_rules! event_kinds {
    ($($variant:ident => $name:literal,)*) => {
        /// A gateway dispatch's name (`t`). Every event the system publishes or a gateway sends is
        /// one of these; [`EventKind::as_str`] is its wire name, [`TryFrom<&str>`] reads one back
        /// (a broker's header).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum EventKind {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl EventKind {
            /// Every kind.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)*];

            /// The wire name (`MESSAGE_CREATE`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$variant => $name,)*
                }
            }
        }

        impl TryFrom<&str> for EventKind {
            type Error = UnknownEvent;

            fn try_from(name: &str) -> Result<Self, UnknownEvent> {
                match name {
                    $($name => Ok(EventKind::$variant),)*
                    _ => Err(UnknownEvent(name.chars().take(64).collect())),
                }
            }
        }
    };
}

event_kinds! {
    Ready => "READY",
    Resumed => "RESUMED",
    GuildCreate => "GUILD_CREATE",
    GuildUpdate => "GUILD_UPDATE",
    GuildDelete => "GUILD_DELETE",
    GuildMemberAdd => "GUILD_MEMBER_ADD",
    GuildMemberUpdate => "GUILD_MEMBER_UPDATE",
    GuildMemberRemove => "GUILD_MEMBER_REMOVE",
    GuildMembersChunk => "GUILD_MEMBERS_CHUNK",
    GuildBanAdd => "GUILD_BAN_ADD",
    GuildBanRemove => "GUILD_BAN_REMOVE",
    GuildRoleCreate => "GUILD_ROLE_CREATE",
    GuildRoleUpdate => "GUILD_ROLE_UPDATE",
    GuildRoleDelete => "GUILD_ROLE_DELETE",
    GuildRoleUpdateBulk => "GUILD_ROLE_UPDATE_BULK",
    ChannelCreate => "CHANNEL_CREATE",
    ChannelUpdate => "CHANNEL_UPDATE",
    ChannelDelete => "CHANNEL_DELETE",
    ChannelPinsUpdate => "CHANNEL_PINS_UPDATE",
    MessageCreate => "MESSAGE_CREATE",
    MessageUpdate => "MESSAGE_UPDATE",
    MessageDelete => "MESSAGE_DELETE",
    MessageDeleteBulk => "MESSAGE_DELETE_BULK",
    MessageReactionAdd => "MESSAGE_REACTION_ADD",
    MessageReactionRemove => "MESSAGE_REACTION_REMOVE",
    MessageReactionRemoveAll => "MESSAGE_REACTION_REMOVE_ALL",
    MessageReactionRemoveEmoji => "MESSAGE_REACTION_REMOVE_EMOJI",
    MessageAck => "MESSAGE_ACK",
    TypingStart => "TYPING_START",
    PresenceUpdate => "PRESENCE_UPDATE",
    VoiceStateUpdate => "VOICE_STATE_UPDATE",
    VoiceServerUpdate => "VOICE_SERVER_UPDATE",
    CallCreate => "CALL_CREATE",
    CallUpdate => "CALL_UPDATE",
    CallDelete => "CALL_DELETE",
    UserUpdate => "USER_UPDATE",
    RelationshipAdd => "RELATIONSHIP_ADD",
    RelationshipRemove => "RELATIONSHIP_REMOVE",
    InviteCreate => "INVITE_CREATE",
    InviteDelete => "INVITE_DELETE",
    WebhooksUpdate => "WEBHOOKS_UPDATE",
    SessionsRevoked => "SESSIONS_REVOKED",
    UserSettingsUpdate => "USER_SETTINGS_UPDATE",
    UserGuildSettingsUpdate => "USER_GUILD_SETTINGS_UPDATE",
    UserNoteUpdate => "USER_NOTE_UPDATE",
    UserPinnedDmsUpdate => "USER_PINNED_DMS_UPDATE",
    RelationshipUpdate => "RELATIONSHIP_UPDATE",
    ChannelPinsAck => "CHANNEL_PINS_ACK",
    GuildSync => "GUILD_SYNC",
    GuildMemberListUpdate => "GUILD_MEMBER_LIST_UPDATE",
    ChannelRecipientAdd => "CHANNEL_RECIPIENT_ADD",
    ChannelRecipientRemove => "CHANNEL_RECIPIENT_REMOVE",
    RecentMentionDelete => "RECENT_MENTION_DELETE",
    SavedMessageCreate => "SAVED_MESSAGE_CREATE",
    SavedMessageDelete => "SAVED_MESSAGE_DELETE",
    GuildEmojisUpdate => "GUILD_EMOJIS_UPDATE",
    GuildStickersUpdate => "GUILD_STICKERS_UPDATE",
    FavoriteMemeCreate => "FAVORITE_MEME_CREATE",
    FavoriteMemeUpdate => "FAVORITE_MEME_UPDATE",
    FavoriteMemeDelete => "FAVORITE_MEME_DELETE",
    UserConnectionsUpdate => "USER_CONNECTIONS_UPDATE",
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no [`EventKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event {0:?}")]
pub struct UnknownEvent(pub String);

impl EventKind {
    /// Internal: a user's credentials were revoked (a logout, a password change or reset, a bot
    /// token reset, an account deleted). Gateways close the sessions it covers with 4004 and never
    /// forward it to clients. Published on the user's topic, so it reaches every node.
    pub const fn is_internal(self) -> bool {
        matches!(self, EventKind::SessionsRevoked)
    }
}

/// The payload of [`EventKind::SessionsRevoked`]: which credentials of the user ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionsRevoked {
    /// The hex SHA-256 of each revoked session token; `None`: every credential of the user, bot
    /// tokens included.
    pub sessions: Option<Vec<String>>,
    /// With `sessions: None`: the one session kept (the one that changed the password).
    pub except: Option<String>,
}

impl SessionsRevoked {
    /// Whether a gateway session that identified with `credential` (the hash of its session token;
    /// `None` for a bot token) must end.
    pub fn covers(&self, credential: Option<&[u8; 32]>) -> bool {
        let hex = credential.map(hex32);
        match (&self.sessions, hex) {
            (None, hex) => hex.is_none() || hex != self.except,
            (Some(list), Some(hex)) => list.contains(&hex),
            (Some(_), None) => false,
        }
    }

    /// Every credential of the user but `keep` (a session token hash).
    pub fn all_but(keep: Option<&[u8; 32]>) -> Self {
        SessionsRevoked {
            sessions: None,
            except: keep.map(hex32),
        }
    }

    /// These session token hashes.
    pub fn these<'a>(hashes: impl IntoIterator<Item = &'a [u8; 32]>) -> Self {
        SessionsRevoked {
            sessions: Some(hashes.into_iter().map(hex32).collect()),
            except: None,
        }
    }
}

fn hex32(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// A gateway dispatch event on its way to clients. The payload is serialized once, here, and the same
/// bytes are sent to every recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    /// The event (`MESSAGE_CREATE`).
    pub event: EventKind,
    /// Who receives it: the subscribers of this topic.
    pub topic: Topic,
    /// For guild topics: only members who can view this channel receive the event.
    pub channel_id: Option<ChannelId>,
    /// The guild a user-topic event is about (`GUILD_CREATE`, `GUILD_DELETE` to one user), so a
    /// gateway subscribes or unsubscribes without reading the payload.
    pub guild_id: Option<GuildId>,
    /// The user a member event is about (`GUILD_MEMBER_ADD`, `_UPDATE`, `_REMOVE`), so a gateway
    /// knows whether it concerns its own session without reading the payload.
    pub subject: Option<UserId>,
    /// The `d` of the dispatch, as JSON text.
    pub payload: Arc<str>,
    /// Where the event sits in the bus's history, for buses that keep one (see [`EventBus::replay`]):
    /// strictly increasing in delivery order across every topic of a subscription. `None` on buses
    /// without history and on dispatches not yet published.
    pub position: Option<u64>,
}

impl Dispatch {
    /// A dispatch of `event` to `topic`, serializing `payload` once (as `null` if it cannot be
    /// serialized). It names no channel, guild or subject and has no position yet.
    pub fn new(event: EventKind, topic: Topic, payload: &impl serde::Serialize) -> Self {
        let payload = serde_json::to_string(payload).unwrap_or_else(|_| "null".to_owned());
        Self::from_json(event, topic, payload)
    }

    /// A dispatch of `event` to `topic` whose payload is already JSON text (the caller's to get
    /// right). It names no channel, guild or subject and has no position yet.
    pub fn from_json(event: EventKind, topic: Topic, payload: String) -> Self {
        Dispatch {
            event,
            topic,
            channel_id: None,
            guild_id: None,
            subject: None,
            payload: payload.into(),
            position: None,
        }
    }

    /// Names the guild a user-topic event is about.
    pub fn about_guild(mut self, guild: GuildId) -> Self {
        self.guild_id = Some(guild);
        self
    }

    /// Names the user a member event is about.
    pub fn about_user(mut self, user: UserId) -> Self {
        self.subject = Some(user);
        self
    }

    /// Restricts a guild event to those who can view `channel`.
    pub fn in_channel(mut self, channel: ChannelId) -> Self {
        self.channel_id = Some(channel);
        self
    }
}

/// The subscriber fell too far behind and events were dropped for it; it must resync (the gateway
/// closes the connection with a resumable code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("subscriber lagged behind and missed events")]
pub struct Lagged;

/// Publish/subscribe of dispatch events by topic.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Delivers `dispatch` to every current subscriber of its topic. Never blocks on a slow subscriber.
    async fn publish(&self, dispatch: Dispatch) -> PortResult<()>;
    /// A new subscription with no topics, buffering up to `capacity` events before it lags.
    async fn subscribe(&self, capacity: usize) -> PortResult<Box<dyn Subscription>>;
    /// The events of `topics` published after position `after` (see [`Dispatch::position`]), in order,
    /// and a live subscription to `topics` that continues exactly where they end: no gap, no
    /// duplicate. `None` when the bus cannot: it keeps no history (the default), the events after
    /// `after` are no longer all kept, `after` is beyond the history, or more than `capacity` events
    /// match.
    async fn replay(
        &self,
        topics: &[Topic],
        after: u64,
        capacity: usize,
    ) -> PortResult<Option<Replay>> {
        let _ = (topics, after, capacity);
        Ok(None)
    }
}

/// What [`EventBus::replay`] found: the missed events, then the live subscription that follows them.
/// They are apart (rather than one subscription) so the caller knows where the past ends, as a
/// gateway does to send RESUMED between the replayed and the live events.
pub struct Replay {
    /// The events after the requested position, oldest first, every one with a position.
    pub missed: Vec<Arc<Dispatch>>,
    /// Subscribed to the replayed topics, delivering the events after the last of `missed` (or after
    /// the requested position when nothing was missed).
    pub subscription: Box<dyn Subscription>,
}

/// One subscriber's view of the bus: a set of topics and a bounded inbox.
#[async_trait]
pub trait Subscription: Send + Sync {
    /// Adding a topic twice is harmless: one copy of each event.
    async fn add_topic(&mut self, topic: Topic) -> PortResult<()>;
    /// Stops delivery of the topic's later events. Removing a topic the subscription does not have is
    /// harmless.
    async fn remove_topic(&mut self, topic: Topic) -> PortResult<()>;
    /// The next event, in publish order per topic; `Err(Lagged)` once the inbox overflowed (after the
    /// events that fitted); `None` when the bus is gone. After `Err(Lagged)` the subscription is spent:
    /// the caller drops it and resyncs.
    async fn recv(&mut self) -> Option<Result<Arc<Dispatch>, Lagged>>;
    /// On a bus with positions, the position this subscription is complete up to when it was made:
    /// every later event of its topics is delivered, none earlier. `None` on buses without positions.
    fn start_position(&self) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod event_kind_tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_wire_name() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::try_from(kind.as_str()), Ok(*kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        let names: std::collections::HashSet<_> =
            EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), EventKind::ALL.len(), "wire names are distinct");
        assert!(EventKind::try_from("message_create").is_err());
        assert!(EventKind::try_from("NOT_AN_EVENT").is_err());
        assert!(
            EventKind::SessionsRevoked.is_internal() && !EventKind::MessageCreate.is_internal()
        );
    }
}
