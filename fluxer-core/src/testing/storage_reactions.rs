//! Pins and reactions.

use std::sync::Arc;

use crate::id::{MessageId, UserId};
use crate::model::{ReactionCount, ReactionEmoji};
use crate::ports::Store;

use super::fixtures::{Fixtures, T0, custom_emoji, unicode_emoji};
use super::storage_messages::{ids, seed_history};

/// Pins list most recently pinned first, per channel, before an exclusive `before`; unpinning removes
/// one.
pub async fn pins_listed_most_recent_first(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, mut messages) = seed_history(&*store, &fx, 6).await;
    // Pin order differs from message order.
    for (i, secs) in [(1, 30), (3, 10), (4, 40), (5, 20)] {
        messages[i].pinned_at = Some(T0.plus_secs(secs));
        store.update_message(&messages[i]).await.unwrap();
    }
    let sibling = fx.make_text_channel(channel.guild_id.unwrap_or_default(), "sibling", 5);
    store.create_channel(&sibling).await.unwrap();
    let mut foreign = fx.make_message(&sibling, messages[0].author_id);
    foreign.pinned_at = Some(T0.plus_secs(35));
    store.insert_message(&foreign).await.unwrap();

    let pinned = store.list_pinned(channel.id, None, 50).await.unwrap();
    assert_eq!(
        pinned,
        vec![
            messages[4].clone(),
            messages[1].clone(),
            messages[5].clone(),
            messages[3].clone()
        ]
    );
    assert_eq!(
        ids(&store.list_pinned(channel.id, None, 2).await.unwrap()),
        vec![messages[4].id, messages[1].id]
    );
    // `before` is exclusive.
    let before = Some(T0.plus_secs(30));
    assert_eq!(
        ids(&store.list_pinned(channel.id, before, 50).await.unwrap()),
        vec![messages[5].id, messages[3].id]
    );
    assert_eq!(
        ids(&store.list_pinned(channel.id, before, 1).await.unwrap()),
        vec![messages[5].id]
    );
    assert!(
        store
            .list_pinned(channel.id, Some(T0.plus_secs(10)), 50)
            .await
            .unwrap()
            .is_empty()
    );

    // Unpinning takes a message off the list.
    messages[4].pinned_at = None;
    store.update_message(&messages[4]).await.unwrap();
    assert_eq!(
        ids(&store.list_pinned(channel.id, None, 50).await.unwrap()),
        vec![messages[1].id, messages[5].id, messages[3].id]
    );
}

/// `n` stored users' IDs, ascending.
async fn make_users(store: &dyn Store, fx: &Fixtures, n: usize) -> Vec<UserId> {
    fx.create_users(store, n)
        .await
        .iter()
        .map(|u| u.id)
        .collect()
}

fn counts_of(
    all: &[(MessageId, ReactionCount)],
    message: MessageId,
) -> Vec<(ReactionEmoji, u32, bool)> {
    all.iter()
        .filter(|(id, _)| *id == message)
        .map(|(_, c)| (c.emoji.clone(), c.count, c.me))
        .collect()
}

/// Adding the same reaction twice counts once (`false` the second time).
pub async fn reactions_add_is_idempotent(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, messages) = seed_history(&*store, &fx, 1).await;
    let users = make_users(&*store, &fx, 2).await;
    let (m, thumbs) = (messages[0].id, unicode_emoji("👍"));
    assert!(
        store
            .add_reaction(channel.id, m, &thumbs, users[0])
            .await
            .unwrap()
    );
    assert!(
        !store
            .add_reaction(channel.id, m, &thumbs, users[0])
            .await
            .unwrap()
    );
    assert_eq!(
        counts_of(
            &store
                .reaction_counts(channel.id, &[m], users[0])
                .await
                .unwrap(),
            m
        ),
        vec![(thumbs.clone(), 1, true)]
    );
    assert!(
        store
            .add_reaction(channel.id, m, &thumbs, users[1])
            .await
            .unwrap()
    );
    assert_eq!(
        counts_of(
            &store
                .reaction_counts(channel.id, &[m], users[0])
                .await
                .unwrap(),
            m
        ),
        vec![(thumbs, 2, true)]
    );
}

/// Reaction counts come per message in first-reacted order with `me` for the viewer; an emoji
/// reacted again after all its reactions went comes last.
pub async fn reaction_counts_per_viewer_in_first_reacted_order(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, messages) = seed_history(&*store, &fx, 3).await;
    let u = make_users(&*store, &fx, 3).await;
    let (m1, m2, quiet) = (messages[0].id, messages[1].id, messages[2].id);
    let (thumbs, fire, blob) = (
        unicode_emoji("👍"),
        unicode_emoji("🔥"),
        custom_emoji(55, "blob"),
    );
    for (m, emoji, user) in [
        (m1, &thumbs, u[0]),
        (m1, &fire, u[1]),
        (m1, &thumbs, u[1]),
        (m1, &blob, u[2]),
        (m2, &fire, u[2]),
    ] {
        assert!(
            store
                .add_reaction(channel.id, m, emoji, user)
                .await
                .unwrap()
        );
    }

    let all = store
        .reaction_counts(channel.id, &[m1, m2, quiet], u[1])
        .await
        .unwrap();
    assert_eq!(
        counts_of(&all, m1),
        vec![
            (thumbs.clone(), 2, true),
            (fire.clone(), 1, true),
            (blob.clone(), 1, false)
        ]
    );
    assert_eq!(counts_of(&all, m2), vec![(fire.clone(), 1, false)]);
    assert!(counts_of(&all, quiet).is_empty());
    assert_eq!(all.len(), 4);

    let as_u0 = store
        .reaction_counts(channel.id, &[m1], u[0])
        .await
        .unwrap();
    assert_eq!(
        counts_of(&as_u0, m1),
        vec![
            (thumbs.clone(), 2, true),
            (fire.clone(), 1, false),
            (blob.clone(), 1, false)
        ]
    );
    let as_u2 = store
        .reaction_counts(channel.id, &[m2], u[2])
        .await
        .unwrap();
    assert_eq!(
        as_u2,
        vec![(
            m2,
            ReactionCount {
                emoji: fire.clone(),
                count: 1,
                me: true
            }
        )]
    );

    // Once every 👍 is gone, a new 👍 is the most recent first reaction.
    assert!(
        store
            .remove_reaction(channel.id, m1, &thumbs.key(), u[0])
            .await
            .unwrap()
    );
    assert!(
        store
            .remove_reaction(channel.id, m1, &thumbs.key(), u[1])
            .await
            .unwrap()
    );
    assert!(
        store
            .add_reaction(channel.id, m1, &thumbs, u[2])
            .await
            .unwrap()
    );
    let all = store
        .reaction_counts(channel.id, &[m1], u[2])
        .await
        .unwrap();
    assert_eq!(
        counts_of(&all, m1),
        vec![(fire, 1, false), (blob, 1, true), (thumbs, 1, true)]
    );
}

/// `list_reaction_users` lists one emoji's users by ascending ID, with an `after` cursor and a limit.
pub async fn reaction_users_ascending_with_cursor(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, messages) = seed_history(&*store, &fx, 2).await;
    let users = make_users(&*store, &fx, 6).await;
    let (m, other_m, blob) = (messages[0].id, messages[1].id, custom_emoji(77, "blob"));
    // React in a shuffled order; one user reacts with another emoji only, one on another message only.
    for i in [3, 0, 4, 1, 2] {
        store
            .add_reaction(channel.id, m, &blob, users[i])
            .await
            .unwrap();
    }
    store
        .add_reaction(channel.id, m, &unicode_emoji("👍"), users[5])
        .await
        .unwrap();
    store
        .add_reaction(channel.id, other_m, &blob, users[5])
        .await
        .unwrap();

    let key = blob.key();
    let list = |after: Option<UserId>, limit: u32| {
        let store = store.clone();
        let key = key.clone();
        async move {
            store
                .list_reaction_users(channel.id, m, &key, after, limit)
                .await
                .unwrap()
        }
    };
    assert_eq!(list(None, 100).await, users[..5].to_vec());
    assert_eq!(list(None, 2).await, users[..2].to_vec());
    assert_eq!(list(Some(users[1]), 2).await, users[2..4].to_vec());
    assert_eq!(list(Some(users[3]), 100).await, vec![users[4]]);
    assert!(list(Some(users[4]), 100).await.is_empty());
    assert!(
        store
            .list_reaction_users(channel.id, m, "🙃", None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_reaction_users(channel.id, m, "👍", None, 100)
            .await
            .unwrap(),
        vec![users[5]]
    );
}

/// One reaction, one emoji's or all of a message's are removed, answering what was removed; other
/// messages keep theirs.
pub async fn reactions_removed_one_emoji_or_all(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, messages) = seed_history(&*store, &fx, 2).await;
    let u = make_users(&*store, &fx, 3).await;
    let (m, kept) = (messages[0].id, messages[1].id);
    let (thumbs, fire) = (unicode_emoji("👍"), unicode_emoji("🔥"));
    for user in &u {
        store
            .add_reaction(channel.id, m, &thumbs, *user)
            .await
            .unwrap();
        store
            .add_reaction(channel.id, kept, &thumbs, *user)
            .await
            .unwrap();
    }
    store
        .add_reaction(channel.id, m, &fire, u[0])
        .await
        .unwrap();
    store
        .add_reaction(channel.id, m, &fire, u[1])
        .await
        .unwrap();

    assert!(
        store
            .remove_reaction(channel.id, m, "👍", u[0])
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_reaction(channel.id, m, "👍", u[0])
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_reaction(channel.id, m, "🙃", u[0])
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .list_reaction_users(channel.id, m, "👍", None, 10)
            .await
            .unwrap(),
        u[1..].to_vec()
    );

    assert_eq!(
        store
            .remove_emoji_reactions(channel.id, m, "👍")
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .remove_emoji_reactions(channel.id, m, "👍")
            .await
            .unwrap(),
        0
    );
    let counts = store.reaction_counts(channel.id, &[m], u[0]).await.unwrap();
    assert_eq!(counts_of(&counts, m), vec![(fire.clone(), 2, true)]);

    assert!(
        store
            .add_reaction(channel.id, m, &thumbs, u[2])
            .await
            .unwrap()
    );
    assert_eq!(store.remove_all_reactions(channel.id, m).await.unwrap(), 3);
    assert_eq!(store.remove_all_reactions(channel.id, m).await.unwrap(), 0);
    assert!(
        store
            .reaction_counts(channel.id, &[m], u[0])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_reaction_users(channel.id, m, "🔥", None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The other message kept its reactions.
    let counts = store
        .reaction_counts(channel.id, &[kept], u[0])
        .await
        .unwrap();
    assert_eq!(counts_of(&counts, kept), vec![(thumbs, 3, true)]);
}

/// Concurrent duplicate adds each count once.
pub async fn reactions_concurrent_adds(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, messages) = seed_history(&*store, &fx, 1).await;
    let users = make_users(&*store, &fx, 50).await;
    let (cid, m) = (channel.id, messages[0].id);
    // Every user adds the same reaction twice, all at once: each counts once.
    let tasks: Vec<_> = users
        .iter()
        .chain(users.iter())
        .map(|user| {
            let (store, user) = (store.clone(), *user);
            tokio::spawn(async move {
                store
                    .add_reaction(cid, m, &unicode_emoji("🎉"), user)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut added = 0;
    for t in tasks {
        added += usize::from(t.await.unwrap());
    }
    assert_eq!(added, 50);
    assert_eq!(
        store
            .list_reaction_users(channel.id, m, "🎉", None, 100)
            .await
            .unwrap(),
        users
    );
    let counts = store
        .reaction_counts(channel.id, &[m], users[0])
        .await
        .unwrap();
    assert_eq!(counts_of(&counts, m), vec![(unicode_emoji("🎉"), 50, true)]);
}
