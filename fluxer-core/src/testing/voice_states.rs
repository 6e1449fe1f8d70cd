//! The [`VoiceStates`] conformance suite: records round-trip whole, writes are compare-and-set on
//! the version, a removal goes to one caller, and every scope lists exactly its connections (also
//! after a connection moved or was confirmed).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::id::{ChannelId, GuildId, UserId};
use crate::model::VoiceState;
use crate::ports::{ParticipantRights, TrackSource, VoiceConnection, VoiceScope, VoiceStates};

/// Generates one test per [`VoiceStates`] case; see [`crate::testing`].
#[macro_export]
macro_rules! voice_states_conformance_tests {
    ($($factory:tt)+) => {
        $crate::__conformance_tests!(voice_states, voice_states_conformance, [$($factory)+], [
            unknown_connections_are_absent,
            records_round_trip_whole,
            writes_are_compare_and_set,
            a_connection_is_taken_once,
            racing_takers_get_it_once,
            scopes_list_their_connections,
            moves_and_confirmations_follow_in_scopes,
        ]);
    };
}

const T: i64 = 1_700_000_000_000;

fn connection(id: &str, user: u64, guild: Option<u64>, channel: u64) -> VoiceConnection {
    let guild = guild.map(GuildId::new);
    let channel = ChannelId::new(channel);
    VoiceConnection {
        state: VoiceState {
            guild_id: guild,
            channel_id: Some(channel),
            user_id: UserId::new(user),
            connection_id: id.to_owned(),
            session_id: format!("session-{user}"),
            member: None,
            mute: false,
            deaf: false,
            self_mute: false,
            self_deaf: false,
            self_video: false,
            self_stream: false,
            is_mobile: false,
            viewer_stream_keys: Vec::new(),
            version: 0,
        },
        room: crate::service::room_name(guild, channel),
        region_id: "eu".to_owned(),
        server_id: "eu-1".to_owned(),
        confirmed: false,
        announced: false,
        pending_since: T,
        rights: ParticipantRights {
            can_publish: true,
            can_subscribe: true,
            sources: vec![TrackSource::Microphone],
        },
    }
}

async fn ids(states: &dyn VoiceStates, scope: VoiceScope) -> BTreeSet<String> {
    states
        .list(&scope)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.state.connection_id)
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

/// Nothing stored: no connection, nothing to take, empty lists, a count of zero.
pub async fn unknown_connections_are_absent(states: Arc<dyn VoiceStates>) {
    assert_eq!(states.get("nope").await.unwrap(), None);
    assert_eq!(states.take("nope", None).await.unwrap(), None);
    assert!(states.list(&VoiceScope::All).await.unwrap().is_empty());
    assert!(
        states
            .list(&VoiceScope::Guild(GuildId::new(1)))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(states.count().await.unwrap(), 0);
}

/// Every field comes back as written, flags, stream keys, rights and a DM call's missing guild
/// included.
pub async fn records_round_trip_whole(states: Arc<dyn VoiceStates>) {
    let mut c = connection("c1", 10, Some(1), 2);
    c.state.mute = true;
    c.state.self_deaf = true;
    c.state.self_video = true;
    c.state.is_mobile = true;
    c.state.viewer_stream_keys = vec!["guild:1:2:c9".to_owned()];
    c.confirmed = true;
    c.announced = true;
    c.rights.sources.push(TrackSource::ScreenShareAudio);
    assert!(states.put(&c, None).await.unwrap());
    assert_eq!(states.get("c1").await.unwrap(), Some(c.clone()));
    let dm = connection("c2", 11, None, 3);
    assert!(states.put(&dm, None).await.unwrap());
    assert_eq!(states.get("c2").await.unwrap(), Some(dm));
    assert_eq!(states.count().await.unwrap(), 2);
}

/// A write names the version it replaces: a stale one (or a second "new" one) changes nothing.
pub async fn writes_are_compare_and_set(states: Arc<dyn VoiceStates>) {
    let c = connection("c1", 10, Some(1), 2);
    assert!(states.put(&c, None).await.unwrap());
    let mut again = c.clone();
    again.state.self_mute = true;
    assert!(
        !states.put(&again, None).await.unwrap(),
        "a second new connection with the same id must be refused"
    );
    again.state.version = 1;
    assert!(!states.put(&again, Some(5)).await.unwrap());
    assert_eq!(states.get("c1").await.unwrap(), Some(c.clone()));
    assert!(states.put(&again, Some(0)).await.unwrap());
    assert_eq!(states.get("c1").await.unwrap(), Some(again.clone()));
    // The version it replaced is gone: writing against it again fails.
    let mut third = again.clone();
    third.state.version = 1;
    third.state.self_deaf = true;
    assert!(!states.put(&third, Some(0)).await.unwrap());
    let missing = connection("c9", 10, Some(1), 2);
    assert!(
        !states.put(&missing, Some(0)).await.unwrap(),
        "a connection that is not stored has no version to replace"
    );
    assert_eq!(states.get("c9").await.unwrap(), None);
}

/// `take` returns the connection once; with a version, only if still at it.
pub async fn a_connection_is_taken_once(states: Arc<dyn VoiceStates>) {
    let mut c = connection("c1", 10, Some(1), 2);
    c.state.version = 3;
    assert!(states.put(&c, None).await.unwrap());
    assert_eq!(states.take("c1", Some(2)).await.unwrap(), None);
    assert_eq!(states.get("c1").await.unwrap(), Some(c.clone()));
    assert_eq!(states.take("c1", Some(3)).await.unwrap(), Some(c.clone()));
    assert_eq!(states.take("c1", None).await.unwrap(), None);
    assert_eq!(states.get("c1").await.unwrap(), None);
    assert_eq!(states.count().await.unwrap(), 0);
    assert!(
        ids(states.as_ref(), VoiceScope::Guild(GuildId::new(1)))
            .await
            .is_empty(),
        "a taken connection leaves its scopes"
    );
    // Its id may be used again.
    assert!(states.put(&c, None).await.unwrap());
    assert_eq!(states.take("c1", None).await.unwrap(), Some(c));
}

/// Of many callers taking one connection at once, exactly one gets it (what makes a pending
/// join expire once when every node sweeps).
pub async fn racing_takers_get_it_once(states: Arc<dyn VoiceStates>) {
    for round in 0..5 {
        let id = format!("race-{round}");
        let c = connection(&id, 10, Some(1), 2);
        assert!(states.put(&c, None).await.unwrap());
        let takers: Vec<_> = (0..8)
            .map(|_| {
                let states = states.clone();
                let id = id.clone();
                tokio::spawn(async move { states.take(&id, Some(0)).await.unwrap() })
            })
            .collect();
        let mut got = 0;
        for t in takers {
            if t.await.unwrap().is_some() {
                got += 1;
            }
        }
        assert_eq!(got, 1, "round {round}");
    }
}

/// Guild, channel, session, pending and all: each lists exactly its connections.
pub async fn scopes_list_their_connections(states: Arc<dyn VoiceStates>) {
    let a = connection("a", 10, Some(1), 2);
    let mut b = connection("b", 11, Some(1), 3);
    b.confirmed = true;
    b.announced = true;
    let mut c = connection("c", 10, Some(4), 5);
    c.state.session_id = "session-other".to_owned();
    c.pending_since = T + 10_000;
    let dm = connection("d", 12, None, 6);
    for x in [&a, &b, &c, &dm] {
        assert!(states.put(x, None).await.unwrap());
    }
    let s = states.as_ref();
    assert_eq!(ids(s, VoiceScope::All).await, set(&["a", "b", "c", "d"]));
    assert_eq!(
        ids(s, VoiceScope::Guild(GuildId::new(1))).await,
        set(&["a", "b"])
    );
    assert_eq!(
        ids(s, VoiceScope::Guild(GuildId::new(4))).await,
        set(&["c"])
    );
    assert_eq!(ids(s, VoiceScope::Guild(GuildId::new(6))).await, set(&[]));
    assert_eq!(
        ids(s, VoiceScope::Channel(ChannelId::new(2))).await,
        set(&["a"])
    );
    assert_eq!(
        ids(s, VoiceScope::Channel(ChannelId::new(6))).await,
        set(&["d"])
    );
    let session = |user: u64, id: &str| VoiceScope::Session {
        user: UserId::new(user),
        session_id: id.to_owned(),
    };
    assert_eq!(ids(s, session(10, "session-10")).await, set(&["a"]));
    assert_eq!(ids(s, session(10, "session-other")).await, set(&["c"]));
    assert_eq!(ids(s, session(11, "session-10")).await, set(&[]));
    // Pending: unconfirmed, since the time given or earlier.
    assert_eq!(ids(s, VoiceScope::PendingSince(T - 1)).await, set(&[]));
    assert_eq!(ids(s, VoiceScope::PendingSince(T)).await, set(&["a", "d"]));
    assert_eq!(
        ids(s, VoiceScope::PendingSince(T + 10_000)).await,
        set(&["a", "c", "d"])
    );
    let listed = states
        .list(&VoiceScope::Guild(GuildId::new(1)))
        .await
        .unwrap();
    assert!(listed.contains(&a) && listed.contains(&b), "whole records");
}

/// A connection moved to another channel (or guild, or session) leaves the old scopes; a
/// confirmed one is no longer pending.
pub async fn moves_and_confirmations_follow_in_scopes(states: Arc<dyn VoiceStates>) {
    let a = connection("a", 10, Some(1), 2);
    assert!(states.put(&a, None).await.unwrap());
    let mut moved = connection("a", 10, Some(7), 8);
    moved.state.session_id = "session-new".to_owned();
    moved.state.version = 1;
    assert!(states.put(&moved, Some(0)).await.unwrap());
    let s = states.as_ref();
    assert_eq!(
        ids(s, VoiceScope::Channel(ChannelId::new(2))).await,
        set(&[])
    );
    assert_eq!(ids(s, VoiceScope::Guild(GuildId::new(1))).await, set(&[]));
    assert_eq!(
        ids(s, VoiceScope::Channel(ChannelId::new(8))).await,
        set(&["a"])
    );
    assert_eq!(
        ids(s, VoiceScope::Guild(GuildId::new(7))).await,
        set(&["a"])
    );
    let old_session = VoiceScope::Session {
        user: UserId::new(10),
        session_id: "session-10".to_owned(),
    };
    assert_eq!(ids(s, old_session).await, set(&[]));
    assert_eq!(ids(s, VoiceScope::PendingSince(T)).await, set(&["a"]));
    let mut confirmed = moved.clone();
    confirmed.confirmed = true;
    confirmed.state.version = 2;
    assert!(states.put(&confirmed, Some(1)).await.unwrap());
    assert_eq!(ids(s, VoiceScope::PendingSince(T)).await, set(&[]));
    // Pending again after a switch, from the new time.
    let mut switched = confirmed.clone();
    switched.confirmed = false;
    switched.pending_since = T + 5_000;
    switched.state.version = 3;
    assert!(states.put(&switched, Some(2)).await.unwrap());
    assert_eq!(ids(s, VoiceScope::PendingSince(T)).await, set(&[]));
    assert_eq!(
        ids(s, VoiceScope::PendingSince(T + 5_000)).await,
        set(&["a"])
    );
    assert_eq!(states.count().await.unwrap(), 1);
}
