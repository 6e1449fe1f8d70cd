//! The [`Presence`] conformance suite. Time is the `now` argument, never the wall clock.

use std::sync::Arc;

use crate::id::UserId;
use crate::ports::{Presence, PresenceEntry, Status};
use crate::time::Timestamp;

use super::fixtures::T0;

/// Generates one test per [`Presence`] case; see [`crate::testing`].
#[macro_export]
macro_rules! presence_conformance_tests {
    ($($factory:tt)+) => {
        $crate::__conformance_tests!(presence, presence_conformance, [$($factory)+], [
            unknown_user_is_offline,
            online_session_is_seen,
            most_recently_updated_session_wins,
            removing_last_session_goes_offline,
            lapsed_sessions_are_offline,
            users_are_separate,
            many_at_once_match_one_by_one,
        ]);
    };
}

const TTL: u64 = 60_000;

fn entry(user: UserId, status: Status) -> PresenceEntry {
    PresenceEntry {
        user_id: user,
        status,
        afk: false,
        mobile: false,
        custom_status: None,
        last_seen: None,
    }
}

fn offline(user: UserId, last_seen: Option<Timestamp>) -> PresenceEntry {
    PresenceEntry {
        last_seen,
        ..entry(user, Status::Offline)
    }
}

/// The aggregated presence while `e`'s session is the one that counts.
fn seen(e: &PresenceEntry, now: Timestamp) -> PresenceEntry {
    PresenceEntry {
        last_seen: Some(now),
        ..e.clone()
    }
}

/// A user never seen is offline with no `last_seen`, and removing an unknown session says so too.
pub async fn unknown_user_is_offline(presence: Arc<dyn Presence>) {
    let user = UserId::new(1);
    assert_eq!(
        presence.get_presence(user, T0).await.unwrap(),
        offline(user, None)
    );
    assert_eq!(
        presence.remove_session(user, "nope", T0).await.unwrap(),
        offline(user, None)
    );
}

/// A live session's presence is returned whole with `last_seen` = now; `Invisible` is stored as is.
pub async fn online_session_is_seen(presence: Arc<dyn Presence>) {
    let user = UserId::new(2);
    let mut e = entry(user, Status::Dnd);
    e.afk = true;
    e.mobile = true;
    e.custom_status = Some(serde_json::json!({"text": "busy", "emoji_name": "🔥"}));
    presence.set_session(user, "s1", &e, T0, TTL).await.unwrap();
    let later = T0.plus_secs(10);
    assert_eq!(
        presence.get_presence(user, later).await.unwrap(),
        seen(&e, later)
    );

    // Invisible is stored as is: hiding it is the reader's business (`Status::public`).
    let invisible = entry(user, Status::Invisible);
    presence
        .set_session(user, "s1", &invisible, later, TTL)
        .await
        .unwrap();
    assert_eq!(
        presence.get_presence(user, later).await.unwrap().status,
        Status::Invisible
    );
}

/// The most recently changed session counts (a heartbeat with the same presence does not change
/// which); removing it falls back to the other.
pub async fn most_recently_updated_session_wins(presence: Arc<dyn Presence>) {
    let user = UserId::new(3);
    let (online, idle, dnd) = (
        entry(user, Status::Online),
        entry(user, Status::Idle),
        entry(user, Status::Dnd),
    );
    presence
        .set_session(user, "desktop", &online, T0, TTL)
        .await
        .unwrap();
    presence
        .set_session(user, "phone", &idle, T0.plus_secs(1), TTL)
        .await
        .unwrap();
    let t = T0.plus_secs(2);
    assert_eq!(
        presence.get_presence(user, t).await.unwrap(),
        seen(&idle, t)
    );

    // A heartbeat refresh with the same presence is not an update.
    presence
        .set_session(user, "desktop", &online, T0.plus_secs(3), TTL)
        .await
        .unwrap();
    let t = T0.plus_secs(4);
    assert_eq!(
        presence.get_presence(user, t).await.unwrap(),
        seen(&idle, t)
    );

    // A change is.
    presence
        .set_session(user, "desktop", &dnd, T0.plus_secs(5), TTL)
        .await
        .unwrap();
    let t = T0.plus_secs(6);
    assert_eq!(presence.get_presence(user, t).await.unwrap(), seen(&dnd, t));

    // Removing the session that counted falls back to the other one.
    let t = T0.plus_secs(7);
    assert_eq!(
        presence.remove_session(user, "desktop", t).await.unwrap(),
        seen(&idle, t)
    );
    assert_eq!(
        presence.get_presence(user, t).await.unwrap(),
        seen(&idle, t)
    );
}

/// Removing the last session answers offline with `last_seen` at the removal, which later reads
/// keep; a new session brings the user back.
pub async fn removing_last_session_goes_offline(presence: Arc<dyn Presence>) {
    let user = UserId::new(4);
    let online = entry(user, Status::Online);
    presence
        .set_session(user, "a", &online, T0, TTL)
        .await
        .unwrap();
    presence
        .set_session(user, "b", &online, T0, TTL)
        .await
        .unwrap();
    let t1 = T0.plus_secs(10);
    assert_eq!(
        presence.remove_session(user, "a", t1).await.unwrap(),
        seen(&online, t1)
    );
    let t2 = T0.plus_secs(20);
    assert_eq!(
        presence.remove_session(user, "b", t2).await.unwrap(),
        offline(user, Some(t2))
    );
    // Later reads remember when the user left.
    let t3 = T0.plus_secs(3600);
    assert_eq!(
        presence.get_presence(user, t3).await.unwrap(),
        offline(user, Some(t2))
    );
    // Removing again changes nothing.
    assert_eq!(
        presence.remove_session(user, "b", t3).await.unwrap(),
        offline(user, Some(t2))
    );

    // Coming back online.
    let t4 = T0.plus_secs(4000);
    presence
        .set_session(user, "c", &online, t4, TTL)
        .await
        .unwrap();
    assert_eq!(
        presence.get_presence(user, t4).await.unwrap(),
        seen(&online, t4)
    );
}

/// Sessions not refreshed within their TTL stop counting: offline, last seen between the last
/// refresh and the lapse; a later refresh revives the session.
pub async fn lapsed_sessions_are_offline(presence: Arc<dyn Presence>) {
    let user = UserId::new(5);
    let (online, idle) = (entry(user, Status::Online), entry(user, Status::Idle));
    presence
        .set_session(user, "old", &online, T0, 1_000)
        .await
        .unwrap();
    presence
        .set_session(user, "new", &idle, T0.plus_ms(500), 1_000)
        .await
        .unwrap();
    let t = T0.plus_ms(999);
    assert_eq!(
        presence.get_presence(user, t).await.unwrap(),
        seen(&idle, t)
    );

    // "new" lapses at T0 + 1500 ms, then "old" (expired at T0 + 1000 ms) does not count either.
    let t = T0.plus_ms(1_499);
    assert_eq!(
        presence.get_presence(user, t).await.unwrap(),
        seen(&idle, t)
    );
    let refreshed_at = T0.plus_ms(1_200);
    presence
        .set_session(user, "new", &idle, refreshed_at, 1_000)
        .await
        .unwrap();
    let t = T0.plus_ms(2_100);
    assert_eq!(
        presence.get_presence(user, t).await.unwrap(),
        seen(&idle, t)
    );
    let t = T0.plus_ms(2_200);
    let gone = presence.get_presence(user, t).await.unwrap();
    assert_eq!(gone.status, Status::Offline);
    assert_eq!(
        PresenceEntry {
            last_seen: None,
            ..gone.clone()
        },
        offline(user, None)
    );
    // Last seen somewhere between the last refresh and the lapse.
    let last_seen = gone
        .last_seen
        .expect("a user who was online has a last-seen time");
    assert!(last_seen >= refreshed_at && last_seen <= t, "{last_seen:?}");

    // A refresh after the lapse brings the session back.
    let t = T0.plus_secs(10);
    presence
        .set_session(user, "new", &online, t, 1_000)
        .await
        .unwrap();
    assert_eq!(
        presence.get_presence(user, t).await.unwrap(),
        seen(&online, t)
    );
}

/// Users' sessions are apart, even with the same session ID.
pub async fn users_are_separate(presence: Arc<dyn Presence>) {
    let (a, b) = (UserId::new(6), UserId::new(7));
    let online = entry(a, Status::Online);
    presence
        .set_session(a, "same-id", &online, T0, TTL)
        .await
        .unwrap();
    presence
        .set_session(b, "same-id", &entry(b, Status::Dnd), T0, TTL)
        .await
        .unwrap();
    assert_eq!(
        presence.remove_session(b, "same-id", T0).await.unwrap(),
        offline(b, Some(T0))
    );
    assert_eq!(
        presence.get_presence(a, T0).await.unwrap(),
        seen(&online, T0)
    );
    assert_eq!(
        presence.get_presence(UserId::new(8), T0).await.unwrap(),
        offline(UserId::new(8), None)
    );
}

/// `get_presences` answers each user, in the order asked (repeats included), as `get_presence`
/// does one at a time.
pub async fn many_at_once_match_one_by_one(presence: Arc<dyn Presence>) {
    let users: Vec<UserId> = (20..30).map(UserId::new).collect();
    for (i, user) in users.iter().enumerate() {
        match i % 3 {
            0 => presence
                .set_session(*user, "s", &entry(*user, Status::Idle), T0, TTL)
                .await
                .unwrap(),
            1 => {
                presence
                    .set_session(*user, "s", &entry(*user, Status::Online), T0, TTL)
                    .await
                    .unwrap();
                presence.remove_session(*user, "s", T0).await.unwrap();
            }
            _ => {}
        }
    }
    let mut asked = users.clone();
    asked.push(users[0]);
    asked.reverse();
    let later = T0.plus_secs(1);
    let many = presence.get_presences(&asked, later).await.unwrap();
    assert_eq!(many.len(), asked.len());
    for (user, got) in asked.iter().zip(&many) {
        assert_eq!(got, &presence.get_presence(*user, later).await.unwrap());
    }
    assert!(presence.get_presences(&[], later).await.unwrap().is_empty());
}
