//! Users, sessions and one-time tokens, applications, read states and relationships.

use std::sync::Arc;

use crate::id::{ChannelId, MessageId, UserId};
use crate::model::{ActionTokenKind, Application, ReadState, Relationship, RelationshipType};
use crate::ports::{PrivateDocument, Store, conflict};

use super::fixtures::{Fixtures, T0};
use super::storage::{assert_conflict, assert_not_found};

/// Created users read back whole; unknown IDs give `None`; `get_users` skips the missing.
pub async fn users_create_and_get(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (a, b) = (fx.make_user(), fx.make_user());
    store.create_user(&a).await.unwrap();
    store.create_user(&b).await.unwrap();
    assert_eq!(store.get_user(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.get_user(b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(store.get_user(UserId(fx.snowflake())).await.unwrap(), None);

    let missing = UserId(fx.snowflake());
    let mut got = store.get_users(&[b.id, missing, a.id]).await.unwrap();
    got.sort_by_key(|u| u.id);
    assert_eq!(got, vec![a.clone(), b.clone()]);
    assert!(store.get_users(&[]).await.unwrap().is_empty());
}

/// Users are found by email and by tag, the username compared case-insensitively.
pub async fn users_find_by_email_and_tag(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let mut a = fx.make_user();
    a.username = "Alice".to_owned();
    a.discriminator = 42;
    let b = fx.make_user();
    store.create_user(&a).await.unwrap();
    store.create_user(&b).await.unwrap();

    let email = a.email.clone().unwrap();
    assert_eq!(
        store.find_user_by_email(&email).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store
            .find_user_by_email("nobody@example.test")
            .await
            .unwrap(),
        None
    );

    assert_eq!(
        store.find_user_by_tag("Alice", 42).await.unwrap(),
        Some(a.clone())
    );
    // Usernames compare case-insensitively within a tag.
    assert_eq!(
        store.find_user_by_tag("alice", 42).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.find_user_by_tag("Alice", 43).await.unwrap(), None);
    assert_eq!(
        store
            .find_user_by_tag(&b.username, b.discriminator)
            .await
            .unwrap(),
        Some(b)
    );
}

/// A taken email or tag (any case) is a `users.email` / `users.tag` conflict that stores nothing;
/// another discriminator and missing emails are no conflict.
pub async fn users_email_and_tag_conflict_on_create(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let a = fx.make_user();
    store.create_user(&a).await.unwrap();

    let mut same_email = fx.make_user();
    same_email.email = a.email.clone();
    assert_conflict(store.create_user(&same_email).await, conflict::USER_EMAIL);

    let mut same_tag = fx.make_user();
    same_tag.username = a.username.to_uppercase();
    same_tag.discriminator = a.discriminator;
    assert_conflict(store.create_user(&same_tag).await, conflict::USER_TAG);

    // Neither failed create left anything behind.
    assert_eq!(store.get_user(same_email.id).await.unwrap(), None);
    assert_eq!(store.get_user(same_tag.id).await.unwrap(), None);
    let email = same_tag.email.clone().unwrap();
    assert_eq!(store.find_user_by_email(&email).await.unwrap(), None);

    // The same username with another discriminator is a different tag; users without email coexist.
    let mut other_tag = fx.make_user();
    other_tag.username = a.username.clone();
    other_tag.discriminator = a.discriminator + 1;
    other_tag.email = None;
    store.create_user(&other_tag).await.unwrap();
    let mut no_email = fx.make_user();
    no_email.email = None;
    store.create_user(&no_email).await.unwrap();
}

/// An update moves the email and tag lookups (the old ones are free again) and keeping one's own is
/// no conflict.
pub async fn users_update_reindexes_email_and_tag(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let a = fx.make_user();
    store.create_user(&a).await.unwrap();

    let mut changed = a.clone();
    changed.username = "renamed".to_owned();
    changed.discriminator = 7;
    changed.email = Some("renamed@example.test".to_owned());
    changed.bio = Some("hello".to_owned());
    store.update_user(&changed).await.unwrap();

    assert_eq!(store.get_user(a.id).await.unwrap(), Some(changed.clone()));
    assert_eq!(
        store
            .find_user_by_email("renamed@example.test")
            .await
            .unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        store.find_user_by_tag("renamed", 7).await.unwrap(),
        Some(changed.clone())
    );
    let old_email = a.email.clone().unwrap();
    assert_eq!(store.find_user_by_email(&old_email).await.unwrap(), None);
    assert_eq!(
        store
            .find_user_by_tag(&a.username, a.discriminator)
            .await
            .unwrap(),
        None
    );

    // The old email and tag are free again.
    let mut b = fx.make_user();
    b.email = a.email.clone();
    b.username = a.username.clone();
    b.discriminator = a.discriminator;
    store.create_user(&b).await.unwrap();

    // Updating a user with its own email and tag is no conflict.
    let mut again = changed.clone();
    again.global_name = Some("Renamed".to_owned());
    store.update_user(&again).await.unwrap();
    assert_eq!(store.get_user(a.id).await.unwrap(), Some(again));
}

/// Taking another user's email or tag on update is a conflict that changes nothing.
pub async fn users_email_and_tag_conflict_on_update(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (a, b) = (fx.make_user(), fx.make_user());
    store.create_user(&a).await.unwrap();
    store.create_user(&b).await.unwrap();

    let mut steal_email = b.clone();
    steal_email.email = a.email.clone();
    assert_conflict(store.update_user(&steal_email).await, conflict::USER_EMAIL);

    let mut steal_tag = b.clone();
    steal_tag.username = a.username.clone();
    steal_tag.discriminator = a.discriminator;
    assert_conflict(store.update_user(&steal_tag).await, conflict::USER_TAG);

    // The failed updates changed nothing.
    assert_eq!(store.get_user(b.id).await.unwrap(), Some(b.clone()));
    let b_email = b.email.clone().unwrap();
    assert_eq!(
        store.find_user_by_email(&b_email).await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(
        store
            .find_user_by_tag(&b.username, b.discriminator)
            .await
            .unwrap(),
        Some(b)
    );
}

/// Updating an unknown user is `NotFound` and creates nothing.
pub async fn users_update_missing_is_not_found(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let ghost = fx.make_user();
    assert_not_found(store.update_user(&ghost).await);
    assert_eq!(store.get_user(ghost.id).await.unwrap(), None);
}

/// A session reads back whole; `touch_session` moves only `last_used_at`.
pub async fn sessions_create_get_and_touch(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let user = fx.make_user();
    store.create_user(&user).await.unwrap();
    let session = fx.make_session(user.id, T0);
    store.create_session(&session).await.unwrap();
    assert_eq!(
        store.get_session(&session.token_hash).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(store.get_session(&fx.token_hash()).await.unwrap(), None);

    let later = T0.plus_secs(60);
    store
        .touch_session(&session.token_hash, later)
        .await
        .unwrap();
    let touched = store
        .get_session(&session.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.last_used_at, later);
    assert_eq!(touched.created_at, T0);
    assert_eq!(touched.user_id, user.id);
}

/// A user's sessions list oldest first; deleting one or all answers what was deleted and spares
/// other users'.
pub async fn sessions_listed_oldest_first_and_deleted(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (user, other) = (fx.make_user(), fx.make_user());
    store.create_user(&user).await.unwrap();
    store.create_user(&other).await.unwrap();
    // Created out of order on purpose.
    let s2 = fx.make_session(user.id, T0.plus_secs(20));
    let s1 = fx.make_session(user.id, T0.plus_secs(10));
    let s3 = fx.make_session(user.id, T0.plus_secs(30));
    let foreign = fx.make_session(other.id, T0);
    for s in [&s2, &s1, &s3, &foreign] {
        store.create_session(s).await.unwrap();
    }
    assert_eq!(
        store.list_sessions(user.id).await.unwrap(),
        vec![s1.clone(), s2.clone(), s3.clone()]
    );

    assert!(store.delete_session(&s2.token_hash).await.unwrap());
    assert!(!store.delete_session(&s2.token_hash).await.unwrap());
    assert_eq!(store.get_session(&s2.token_hash).await.unwrap(), None);
    assert_eq!(store.list_sessions(user.id).await.unwrap(), vec![s1, s3]);

    assert_eq!(store.delete_user_sessions(user.id).await.unwrap(), 2);
    assert!(store.list_sessions(user.id).await.unwrap().is_empty());
    assert_eq!(store.delete_user_sessions(user.id).await.unwrap(), 0);
    assert_eq!(store.list_sessions(other.id).await.unwrap(), vec![foreign]);
}

/// `delete_idle_sessions` removes the sessions last used before the cutoff; touching keeps one alive.
pub async fn sessions_idle_are_deleted(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let user = fx.make_user();
    store.create_user(&user).await.unwrap();
    let old = fx.make_session(user.id, T0);
    let touched = fx.make_session(user.id, T0);
    let fresh = fx.make_session(user.id, T0.plus_secs(100));
    for s in [&old, &touched, &fresh] {
        store.create_session(s).await.unwrap();
    }
    // Using a session keeps it alive.
    store
        .touch_session(&touched.token_hash, T0.plus_secs(200))
        .await
        .unwrap();
    assert_eq!(
        store.delete_idle_sessions(T0.plus_secs(50)).await.unwrap(),
        1
    );
    assert_eq!(store.get_session(&old.token_hash).await.unwrap(), None);
    assert!(
        store
            .get_session(&touched.token_hash)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .get_session(&fresh.token_hash)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.delete_idle_sessions(T0.plus_secs(150)).await.unwrap(),
        1
    );
    assert_eq!(store.list_sessions(user.id).await.unwrap().len(), 1);
}

/// Users whose deletion was requested before the cutoff list oldest request first, up to the limit;
/// cancelled requests drop out.
pub async fn users_pending_deletion_are_listed_oldest_first(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let mut users = Vec::new();
    for requested in [Some(30), None, Some(10), Some(20), Some(500)] {
        let mut u = fx.make_user();
        store.create_user(&u).await.unwrap();
        if let Some(secs) = requested {
            u.deletion_requested_at = Some(T0.plus_secs(secs));
            store.update_user(&u).await.unwrap();
        }
        users.push(u);
    }
    let ids = |v: Vec<crate::model::User>| v.into_iter().map(|u| u.id).collect::<Vec<_>>();
    let due = store
        .list_users_pending_deletion(T0.plus_secs(100), 10)
        .await
        .unwrap();
    assert_eq!(ids(due), vec![users[2].id, users[3].id, users[0].id]);
    let first = store
        .list_users_pending_deletion(T0.plus_secs(100), 2)
        .await
        .unwrap();
    assert_eq!(ids(first), vec![users[2].id, users[3].id]);
    // Cancelled (cleared) requests are no longer listed.
    let mut cancelled = users[2].clone();
    cancelled.deletion_requested_at = None;
    store.update_user(&cancelled).await.unwrap();
    let due = store
        .list_users_pending_deletion(T0.plus_secs(100), 10)
        .await
        .unwrap();
    assert_eq!(ids(due), vec![users[3].id, users[0].id]);
}

/// An action token is taken once; a second take and an unknown token give `None`.
pub async fn action_token_is_taken_once(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let user = fx.make_user();
    store.create_user(&user).await.unwrap();
    let token = fx.make_action_token(ActionTokenKind::ResetPassword, user.id, T0.plus_secs(3600));
    store.create_action_token(&token).await.unwrap();

    let taken = store
        .take_action_token(ActionTokenKind::ResetPassword, &token.token_hash, T0)
        .await
        .unwrap();
    assert_eq!(taken, Some(token.clone()));
    let again = store
        .take_action_token(ActionTokenKind::ResetPassword, &token.token_hash, T0)
        .await
        .unwrap();
    assert_eq!(again, None);
    let unknown = store
        .take_action_token(ActionTokenKind::ResetPassword, &fx.token_hash(), T0)
        .await
        .unwrap();
    assert_eq!(unknown, None);
}

/// Taking with the wrong kind gives `None` and leaves the token; a token is expired from its
/// `expires_at` on.
pub async fn action_token_checks_kind_and_expiry(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let user = fx.make_user();
    store.create_user(&user).await.unwrap();
    let expires = T0.plus_secs(600);
    let verify = fx.make_action_token(ActionTokenKind::VerifyEmail, user.id, expires);
    store.create_action_token(&verify).await.unwrap();

    // A take with the wrong kind finds nothing and does not use the token up.
    for kind in [ActionTokenKind::ResetPassword, ActionTokenKind::MfaTicket] {
        assert_eq!(
            store
                .take_action_token(kind, &verify.token_hash, T0)
                .await
                .unwrap(),
            None
        );
    }
    let taken = store
        .take_action_token(ActionTokenKind::VerifyEmail, &verify.token_hash, T0)
        .await
        .unwrap();
    assert_eq!(taken, Some(verify));

    // A token is expired from its `expires_at` on.
    let expired = fx.make_action_token(ActionTokenKind::MfaTicket, user.id, expires);
    store.create_action_token(&expired).await.unwrap();
    assert_eq!(
        store
            .take_action_token(ActionTokenKind::MfaTicket, &expired.token_hash, expires)
            .await
            .unwrap(),
        None
    );
    let late = fx.make_action_token(ActionTokenKind::MfaTicket, user.id, expires);
    store.create_action_token(&late).await.unwrap();
    let at = expires.plus_ms(3_600_000);
    assert_eq!(
        store
            .take_action_token(ActionTokenKind::MfaTicket, &late.token_hash, at)
            .await
            .unwrap(),
        None
    );
    let just_in_time = fx.make_action_token(ActionTokenKind::MfaTicket, user.id, expires);
    store.create_action_token(&just_in_time).await.unwrap();
    let at = expires.plus_ms(-1);
    let taken = store
        .take_action_token(ActionTokenKind::MfaTicket, &just_in_time.token_hash, at)
        .await
        .unwrap();
    assert_eq!(taken, Some(just_in_time));
}

/// Applications are created, read, replaced (`NotFound` when missing), listed per owner and deleted.
pub async fn applications_crud_and_list(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let users = fx.create_users(&*store, 2).await;
    let (a1, a2) = (
        fx.make_application(users[0].id),
        fx.make_application(users[0].id),
    );
    let mut other = fx.make_application(users[1].id);
    other.bot_user_id = None;
    other.bot_token_hash = None;
    for a in [&a2, &other, &a1] {
        store.create_application(a).await.unwrap();
    }
    assert_eq!(
        store.get_application(a1.id).await.unwrap(),
        Some(a1.clone())
    );
    assert_eq!(
        store.get_application(other.id).await.unwrap(),
        Some(other.clone())
    );

    let mut edited = a2.clone();
    edited.name = "renamed".to_owned();
    edited.bot_public = false;
    edited.redirect_uris = Vec::new();
    edited.bot_token_hash = Some(fx.token_hash());
    store.update_application(&edited).await.unwrap();
    assert_eq!(
        store.get_application(a2.id).await.unwrap(),
        Some(edited.clone())
    );

    let ghost = fx.make_application(users[0].id);
    assert_not_found(store.update_application(&ghost).await);

    let mut owned = store.list_applications(users[0].id).await.unwrap();
    owned.sort_by_key(|a: &Application| a.id);
    assert_eq!(owned, vec![a1.clone(), edited]);
    assert_eq!(
        store.list_applications(users[1].id).await.unwrap(),
        vec![other]
    );

    assert!(store.delete_application(a1.id).await.unwrap());
    assert!(!store.delete_application(a1.id).await.unwrap());
    assert_eq!(store.get_application(a1.id).await.unwrap(), None);
    assert_eq!(store.list_applications(users[0].id).await.unwrap().len(), 1);
}

fn by_channel(mut states: Vec<ReadState>) -> Vec<ReadState> {
    states.sort_by_key(|s| s.channel_id);
    states
}

/// Guild channels that exist, so backends with foreign keys accept read states on them.
async fn seed_channels(store: &dyn Store, fx: &Fixtures, owner: UserId) -> Vec<ChannelId> {
    let g = fx.make_guild(owner);
    g.create_in(store).await.unwrap();
    g.channels.iter().map(|c| c.id).collect()
}

/// Read states are put (replacing), read per user and channel, and listed per user.
pub async fn read_states_put_get_list(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let users = fx.create_users(&*store, 2).await;
    let channels = seed_channels(&*store, &fx, users[0].id).await;
    let (user, other) = (users[0].id, users[1].id);
    let first = ReadState {
        user_id: user,
        channel_id: channels[0],
        last_message_id: Some(MessageId(fx.snowflake())),
        mention_count: 2,
        last_pin_timestamp: Some(T0),
    };
    let second = ReadState {
        channel_id: channels[1],
        last_message_id: None,
        mention_count: 0,
        last_pin_timestamp: None,
        ..first.clone()
    };
    store.put_read_state(&second).await.unwrap();
    store.put_read_state(&first).await.unwrap();
    assert_eq!(
        store.get_read_state(user, channels[0]).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.get_read_state(other, channels[0]).await.unwrap(),
        None
    );
    assert_eq!(
        by_channel(store.list_read_states(user).await.unwrap()),
        by_channel(vec![first.clone(), second.clone()])
    );
    assert!(store.list_read_states(other).await.unwrap().is_empty());

    // Put replaces.
    let acked = ReadState {
        last_message_id: Some(MessageId(fx.snowflake())),
        mention_count: 0,
        ..first.clone()
    };
    store.put_read_state(&acked).await.unwrap();
    assert_eq!(
        store.get_read_state(user, channels[0]).await.unwrap(),
        Some(acked.clone())
    );
    assert_eq!(
        by_channel(store.list_read_states(user).await.unwrap()),
        by_channel(vec![acked, second.clone()])
    );

    // Delete forgets one channel's state, once.
    assert!(store.delete_read_state(user, channels[0]).await.unwrap());
    assert!(!store.delete_read_state(user, channels[0]).await.unwrap());
    assert_eq!(store.get_read_state(user, channels[0]).await.unwrap(), None);
    assert_eq!(store.list_read_states(user).await.unwrap(), vec![second]);
}

/// Private documents are put (replacing), read by kind and key, listed by ascending key per kind
/// and user, and deleted by putting `None`.
pub async fn private_documents_put_get_list_delete(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let users = fx.create_users(&*store, 2).await;
    let (user, other) = (users[0].id, users[1].id);
    let (settings, notes) = (PrivateDocument::Settings, PrivateDocument::Note);
    assert_eq!(
        store.get_private_document(user, settings, 0).await.unwrap(),
        None
    );
    store
        .put_private_document(user, settings, 0, Some(r#"{"theme":"dark"}"#))
        .await
        .unwrap();
    store
        .put_private_document(user, settings, 0, Some(r#"{"theme":"light"}"#))
        .await
        .unwrap();
    for (key, text) in [(1 << 62, "last"), (7, "seven"), (3, "three")] {
        store
            .put_private_document(user, notes, key, Some(text))
            .await
            .unwrap();
    }
    store
        .put_private_document(other, notes, 5, Some("someone else's"))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_private_document(user, settings, 0)
            .await
            .unwrap()
            .as_deref(),
        Some(r#"{"theme":"light"}"#)
    );
    assert_eq!(
        store
            .get_private_document(other, settings, 0)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_private_document(user, notes, 0).await.unwrap(),
        None
    );
    let listed = store.list_private_documents(user, notes).await.unwrap();
    assert_eq!(
        listed,
        vec![
            (3, "three".to_owned()),
            (7, "seven".to_owned()),
            (1 << 62, "last".to_owned())
        ]
    );
    assert_eq!(
        store.list_private_documents(user, settings).await.unwrap(),
        vec![(0, r#"{"theme":"light"}"#.to_owned())]
    );
    store
        .put_private_document(user, notes, 7, None)
        .await
        .unwrap();
    store
        .put_private_document(user, notes, 8, None)
        .await
        .unwrap();
    assert_eq!(
        store.get_private_document(user, notes, 7).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .list_private_documents(user, notes)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .list_private_documents(other, notes)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Several users' documents of one kind in one read: by user, then key; other kinds and other
/// users left out.
pub async fn private_documents_listed_for_several_users(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let mut users: Vec<UserId> = fx
        .create_users(&*store, 4)
        .await
        .iter()
        .map(|u| u.id)
        .collect();
    users.sort();
    let (a, b, c, d) = (users[0], users[1], users[2], users[3]);
    let notes = PrivateDocument::Note;
    for (user, key, text) in [(c, 9, "c9"), (a, 2, "a2"), (c, 1, "c1"), (d, 4, "d4")] {
        store
            .put_private_document(user, notes, key, Some(text))
            .await
            .unwrap();
    }
    store
        .put_private_document(b, PrivateDocument::Settings, 0, Some("b's settings"))
        .await
        .unwrap();
    let listed = store
        .list_private_documents_of(&[c, b, a, c], notes)
        .await
        .unwrap();
    assert_eq!(
        listed,
        vec![
            (a, 2, "a2".to_owned()),
            (c, 1, "c1".to_owned()),
            (c, 9, "c9".to_owned())
        ]
    );
    assert!(
        store
            .list_private_documents_of(&[], notes)
            .await
            .unwrap()
            .is_empty()
    );
}

/// `add_mentions` creates a blank read state or adds to an existing one, keeping its other fields.
pub async fn read_state_mentions_are_added(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let users = fx.create_users(&*store, 1).await;
    let channels = seed_channels(&*store, &fx, users[0].id).await;
    let user = users[0].id;

    store.add_mentions(user, channels[0], 2).await.unwrap();
    let created = ReadState {
        user_id: user,
        channel_id: channels[0],
        last_message_id: None,
        mention_count: 2,
        last_pin_timestamp: None,
    };
    assert_eq!(
        store.get_read_state(user, channels[0]).await.unwrap(),
        Some(created.clone())
    );
    store.add_mentions(user, channels[0], 3).await.unwrap();
    assert_eq!(
        store
            .get_read_state(user, channels[0])
            .await
            .unwrap()
            .unwrap()
            .mention_count,
        5
    );

    // Adding keeps the rest of an existing state.
    let read = ReadState {
        channel_id: channels[1],
        last_message_id: Some(MessageId(fx.snowflake())),
        mention_count: 1,
        last_pin_timestamp: Some(T0),
        ..created
    };
    store.put_read_state(&read).await.unwrap();
    store.add_mentions(user, channels[1], 4).await.unwrap();
    let got = store.get_read_state(user, channels[1]).await.unwrap();
    assert_eq!(
        got,
        Some(ReadState {
            mention_count: 5,
            ..read
        })
    );
}

/// A relationship is one user's side: put replaces, list and delete touch only that side.
pub async fn relationships_are_one_sided(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let users = fx.create_users(&*store, 3).await;
    let (a, b, c) = (users[0].id, users[1].id, users[2].id);
    let outgoing = fx.make_relationship(a, b, RelationshipType::Outgoing);
    let incoming = fx.make_relationship(b, a, RelationshipType::Incoming);
    let blocked = fx.make_relationship(a, c, RelationshipType::Blocked);
    store.put_relationship(&outgoing).await.unwrap();
    assert_eq!(
        store.get_relationship(a, b).await.unwrap(),
        Some(outgoing.clone())
    );
    assert_eq!(store.get_relationship(b, a).await.unwrap(), None);
    store.put_relationship(&incoming).await.unwrap();
    store.put_relationship(&blocked).await.unwrap();

    let by_target = |mut v: Vec<Relationship>| {
        v.sort_by_key(|r| r.target_id);
        v
    };
    assert_eq!(
        by_target(store.list_relationships(a).await.unwrap()),
        by_target(vec![outgoing.clone(), blocked.clone()])
    );
    assert_eq!(
        store.list_relationships(b).await.unwrap(),
        vec![incoming.clone()]
    );
    assert!(store.list_relationships(c).await.unwrap().is_empty());

    // Put replaces: the request is accepted.
    let friend = Relationship {
        kind: RelationshipType::Friend,
        nickname: Some("bee".to_owned()),
        since: T0.plus_secs(5),
        ..outgoing
    };
    store.put_relationship(&friend).await.unwrap();
    assert_eq!(
        store.get_relationship(a, b).await.unwrap(),
        Some(friend.clone())
    );
    assert_eq!(
        by_target(store.list_relationships(a).await.unwrap()),
        by_target(vec![friend, blocked])
    );

    assert!(store.delete_relationship(a, b).await.unwrap());
    assert!(!store.delete_relationship(a, b).await.unwrap());
    assert_eq!(store.get_relationship(a, b).await.unwrap(), None);
    assert_eq!(store.get_relationship(b, a).await.unwrap(), Some(incoming));
}
