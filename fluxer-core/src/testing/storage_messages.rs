//! Message history pages, edits and deletions, and concurrent inserts.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::id::{MessageId, UserId};
use crate::model::{Channel, Embed, Message};
use crate::ports::{FollowupKind, MessageFollowup, MessagePage, PrivateDocument, Store};

use super::fixtures::{Fixtures, T0, unicode_emoji};
use super::storage::{assert_not_found, sorted};

const HISTORY: usize = 250;

const LIMITS: [u32; 4] = [1, 2, 50, 100];

/// A guild channel with `n` messages, returned oldest first.
pub(super) async fn seed_history(
    store: &dyn Store,
    fx: &Fixtures,
    n: usize,
) -> (Channel, Vec<Message>) {
    let owner = fx.make_user();
    store.create_user(&owner).await.unwrap();
    let g = fx.make_guild(owner.id);
    g.create_in(store).await.unwrap();
    let channel = g.channel().clone();
    let mut messages = Vec::with_capacity(n);
    for _ in 0..n {
        let m = fx.make_message(&channel, owner.id);
        store.insert_message(&m).await.unwrap();
        messages.push(m);
    }
    (channel, messages)
}

pub(super) fn ids(messages: &[Message]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id).collect()
}

/// `ascending[range]`, newest first.
fn newest_first(ascending: &[MessageId]) -> Vec<MessageId> {
    ascending.iter().rev().copied().collect()
}

async fn page(
    store: &dyn Store,
    channel: &Channel,
    page: MessagePage,
    limit: u32,
) -> Vec<MessageId> {
    let got = store.list_messages(channel.id, page, limit).await.unwrap();
    assert!(got.iter().all(|m| m.channel_id == channel.id));
    ids(&got)
}

/// The expected Around page: up to `limit / 2` messages newer than the cursor, then the cursor (when it
/// exists) and older ones up to `limit` in all; newest first. `at` is the index of the first message at
/// or after the cursor; `exists` says whether that message is the cursor itself.
fn around(asc: &[MessageId], at: usize, exists: bool, limit: usize) -> Vec<MessageId> {
    let newer_start = if exists { at + 1 } else { at };
    let newer_end = (newer_start + limit / 2).min(asc.len());
    let older_end = newer_start;
    let older_len = limit - (newer_end - newer_start);
    let older_start = older_end.saturating_sub(older_len);
    newest_first(&asc[older_start..newer_end])
}

/// `Latest` gives the newest `limit` messages, whole, newest first.
pub async fn messages_latest_page(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, messages) = seed_history(&*store, &fx, HISTORY).await;
    let asc = ids(&messages);
    for limit in LIMITS {
        let got = page(&*store, &channel, MessagePage::Latest, limit).await;
        assert_eq!(
            got,
            newest_first(&asc[HISTORY - limit as usize..]),
            "Latest limit {limit}"
        );
    }
    // The messages come back whole.
    let whole = store
        .list_messages(channel.id, MessagePage::Latest, 3)
        .await
        .unwrap();
    let expected: Vec<Message> = messages[HISTORY - 3..].iter().rev().cloned().collect();
    assert_eq!(whole, expected);
}

/// `Before` gives the older messages, exclusive of the cursor; walking back visits every message once.
pub async fn messages_before_page(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, messages) = seed_history(&*store, &fx, HISTORY).await;
    let asc = ids(&messages);
    for limit in LIMITS {
        let l = limit as usize;
        for at in [0, 1, 2, 49, 50, 125, 248, 249] {
            let got = page(&*store, &channel, MessagePage::Before(asc[at]), limit).await;
            assert_eq!(
                got,
                newest_first(&asc[at.saturating_sub(l)..at]),
                "Before #{at} limit {limit}"
            );
        }
        // A cursor newer than everything reads from the newest message.
        let future = MessageId(fx.snowflake());
        let got = page(&*store, &channel, MessagePage::Before(future), limit).await;
        assert_eq!(
            got,
            newest_first(&asc[HISTORY - l..]),
            "Before future limit {limit}"
        );
    }
    // Walking back page by page visits every message once.
    let mut walked = Vec::new();
    let mut cursor = MessagePage::Latest;
    loop {
        let got = page(&*store, &channel, cursor, 100).await;
        let Some(oldest) = got.last().copied() else {
            break;
        };
        walked.extend(got);
        cursor = MessagePage::Before(oldest);
    }
    assert_eq!(walked, newest_first(&asc));
}

/// `After` gives the messages right after the cursor, newest first; walking forward visits every
/// message once.
pub async fn messages_after_page(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, messages) = seed_history(&*store, &fx, HISTORY).await;
    let asc = ids(&messages);
    for limit in LIMITS {
        let l = limit as usize;
        for at in [0, 1, 2, 100, 199, 200, 248, 249] {
            let got = page(&*store, &channel, MessagePage::After(asc[at]), limit).await;
            let end = (at + 1 + l).min(HISTORY);
            assert_eq!(
                got,
                newest_first(&asc[at + 1..end]),
                "After #{at} limit {limit}"
            );
        }
        // A cursor older than everything reads from the oldest message.
        let got = page(
            &*store,
            &channel,
            MessagePage::After(MessageId::new(1)),
            limit,
        )
        .await;
        assert_eq!(got, newest_first(&asc[..l]), "After zero limit {limit}");
    }
    // Walking forward page by page visits every message once.
    let mut walked = Vec::new();
    let mut cursor = MessagePage::After(MessageId::new(1));
    loop {
        let got = page(&*store, &channel, cursor, 100).await;
        let Some(newest) = got.first().copied() else {
            break;
        };
        walked.extend(got.into_iter().rev());
        cursor = MessagePage::After(newest);
    }
    assert_eq!(walked, asc);
}

/// `Around` gives the cursor with up to `limit / 2` newer and the rest older.
pub async fn messages_around_page(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, messages) = seed_history(&*store, &fx, HISTORY).await;
    let asc = ids(&messages);
    for limit in LIMITS {
        for at in [0, 1, 10, 24, 25, 125, 200, 225, 248, 249] {
            let got = page(&*store, &channel, MessagePage::Around(asc[at]), limit).await;
            assert!(
                got.contains(&asc[at]),
                "Around #{at} limit {limit} lacks its anchor"
            );
            assert_eq!(
                got,
                around(&asc, at, true, limit as usize),
                "Around #{at} limit {limit}"
            );
        }
    }
    // Spelled out once: 50 around #125 is #150..=#101 (25 newer, the anchor, 24 older).
    let got = page(&*store, &channel, MessagePage::Around(asc[125]), 50).await;
    assert_eq!(got, newest_first(&asc[101..=150]));
    // At the newest message there is nothing newer: the anchor and 49 older ones.
    let got = page(&*store, &channel, MessagePage::Around(asc[249]), 50).await;
    assert_eq!(got, newest_first(&asc[200..]));
    // At the oldest: 25 newer and the anchor.
    let got = page(&*store, &channel, MessagePage::Around(asc[0]), 50).await;
    assert_eq!(got, newest_first(&asc[..=25]));
}

/// Every page works from a deleted message's ID as the cursor.
pub async fn messages_pages_around_a_missing_cursor(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, messages) = seed_history(&*store, &fx, HISTORY).await;
    let gone = messages[120].id;
    assert!(store.delete_message(channel.id, gone).await.unwrap());
    let mut asc = ids(&messages);
    asc.remove(120);
    // `asc[120]` is now the first message after the deleted one.
    for limit in LIMITS {
        let l = limit as usize;
        let got = page(&*store, &channel, MessagePage::Around(gone), limit).await;
        assert_eq!(
            got,
            around(&asc, 120, false, l),
            "Around deleted limit {limit}"
        );
        let got = page(&*store, &channel, MessagePage::Before(gone), limit).await;
        assert_eq!(
            got,
            newest_first(&asc[120 - l.min(120)..120]),
            "Before deleted limit {limit}"
        );
        let got = page(&*store, &channel, MessagePage::After(gone), limit).await;
        assert_eq!(
            got,
            newest_first(&asc[120..(120 + l).min(asc.len())]),
            "After deleted limit {limit}"
        );
    }
}

/// An empty or unknown channel gives empty pages, and a new channel has no `last_message_id`.
pub async fn messages_empty_channel(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, _) = seed_history(&*store, &fx, 0).await;
    let cursor = MessageId(fx.snowflake());
    let unknown = fx.make_text_channel(channel.guild_id.unwrap_or_default(), "unknown", 0);
    for ch in [&channel, &unknown] {
        for p in [
            MessagePage::Latest,
            MessagePage::Before(cursor),
            MessagePage::After(cursor),
            MessagePage::Around(cursor),
        ] {
            assert!(
                store.list_messages(ch.id, p, 50).await.unwrap().is_empty(),
                "{p:?}"
            );
        }
    }
    assert_eq!(store.get_message(channel.id, cursor).await.unwrap(), None);
    assert_eq!(
        store
            .get_channel(channel.id)
            .await
            .unwrap()
            .unwrap()
            .last_message_id,
        None
    );
}

/// Inserting advances the channel's `last_message_id`, never back (a late insert or a stale channel
/// update), in guild and private channels.
pub async fn message_insert_advances_last_message_id(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, _) = seed_history(&*store, &fx, 0).await;
    let guild = channel.guild_id.unwrap_or_default();
    let sibling = store.list_guild_channels(guild).await.unwrap()[1].clone();
    let author = channel_author(&*store, &channel).await;

    // Made first, inserted last: a late insert never moves `last_message_id` back.
    let early = fx.make_message(&channel, author);
    let m1 = fx.make_message(&channel, author);
    store.insert_message(&m1).await.unwrap();
    assert_eq!(
        store
            .get_channel(channel.id)
            .await
            .unwrap()
            .unwrap()
            .last_message_id,
        Some(m1.id)
    );
    let m2 = fx.make_message(&channel, author);
    store.insert_message(&m2).await.unwrap();
    assert_eq!(
        store
            .get_channel(channel.id)
            .await
            .unwrap()
            .unwrap()
            .last_message_id,
        Some(m2.id)
    );
    store.insert_message(&early).await.unwrap();
    let got = store.get_channel(channel.id).await.unwrap().unwrap();
    assert_eq!(got.last_message_id, Some(m2.id));
    assert_eq!(
        store.get_message(channel.id, early.id).await.unwrap(),
        Some(early.clone())
    );
    assert_eq!(
        page(&*store, &channel, MessagePage::Latest, 10).await,
        vec![m2.id, m1.id, early.id]
    );

    // The sibling channel did not move; lists show the same value as get.
    assert_eq!(
        store
            .get_channel(sibling.id)
            .await
            .unwrap()
            .unwrap()
            .last_message_id,
        None
    );
    let listed = store.list_guild_channels(guild).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .find(|c| c.id == channel.id)
            .unwrap()
            .last_message_id,
        Some(m2.id)
    );

    // Saving a channel read before the last insert does not move it back either.
    let mut stale = channel.clone();
    stale.topic = Some("edited".to_owned());
    stale.last_message_id = None;
    store.update_channel(&stale).await.unwrap();
    let got = store.get_channel(channel.id).await.unwrap().unwrap();
    assert_eq!(got.topic.as_deref(), Some("edited"));
    assert_eq!(got.last_message_id, Some(m2.id));

    // Private channels too.
    let peer = fx.make_user();
    store.create_user(&peer).await.unwrap();
    let dm = fx.make_dm(author, peer.id);
    store.create_channel(&dm).await.unwrap();
    let m = fx.make_message(&dm, author);
    store.insert_message(&m).await.unwrap();
    assert_eq!(
        store
            .get_channel(dm.id)
            .await
            .unwrap()
            .unwrap()
            .last_message_id,
        Some(m.id)
    );
    let listed = store.list_private_channels(author).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .find(|c| c.id == dm.id)
            .unwrap()
            .last_message_id,
        Some(m.id)
    );
}

/// The owner of the channel's guild (who exists as a user).
async fn channel_author(store: &dyn Store, channel: &Channel) -> UserId {
    let guild = channel.guild_id.unwrap_or_default();
    store.get_guild(guild).await.unwrap().unwrap().owner_id
}

/// `update_message` replaces a message (`NotFound` when missing); a message is found only in its own
/// channel.
pub async fn message_update_replaces(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, messages) = seed_history(&*store, &fx, 3).await;
    let mut edited = messages[1].clone();
    edited.content = "edited content".to_owned();
    edited.edited_timestamp = Some(T0);
    edited.flags = 4;
    edited.mention_ids = vec![edited.author_id];
    edited.embeds = vec![Embed {
        title: Some("title".to_owned()),
        ..Default::default()
    }];
    store.update_message(&edited).await.unwrap();
    assert_eq!(
        store.get_message(channel.id, edited.id).await.unwrap(),
        Some(edited.clone())
    );
    let listed = store
        .list_messages(channel.id, MessagePage::Latest, 10)
        .await
        .unwrap();
    assert_eq!(
        listed,
        vec![messages[2].clone(), edited, messages[0].clone()]
    );

    let ghost = fx.make_message(&channel, messages[0].author_id);
    assert_not_found(store.update_message(&ghost).await);
    assert_eq!(store.get_message(channel.id, ghost.id).await.unwrap(), None);
    // A message is found only in its own channel.
    let other = fx.make_text_channel(channel.guild_id.unwrap_or_default(), "other", 3);
    assert_eq!(
        store.get_message(other.id, messages[0].id).await.unwrap(),
        None
    );
}

/// Deleting a message removes it and its reactions; a second delete answers `false`.
pub async fn message_delete_removes_it_and_its_reactions(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, messages) = seed_history(&*store, &fx, 3).await;
    let author = messages[0].author_id;
    for m in &messages {
        assert!(
            store
                .add_reaction(channel.id, m.id, &unicode_emoji("👍"), author)
                .await
                .unwrap()
        );
    }
    let victim = messages[1].id;
    assert!(store.delete_message(channel.id, victim).await.unwrap());
    assert!(!store.delete_message(channel.id, victim).await.unwrap());
    assert_eq!(store.get_message(channel.id, victim).await.unwrap(), None);
    assert_eq!(
        page(&*store, &channel, MessagePage::Latest, 10).await,
        vec![messages[2].id, messages[0].id]
    );
    assert!(
        store
            .list_reaction_users(channel.id, victim, "👍", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let counts = store
        .reaction_counts(channel.id, &ids(&messages), author)
        .await
        .unwrap();
    let with_reactions: Vec<MessageId> = counts.iter().map(|(id, _)| *id).collect();
    assert_eq!(sorted(with_reactions), vec![messages[0].id, messages[2].id]);
}

/// `delete_messages` returns each message it deleted once, skipping unknown, already deleted and
/// other channels' IDs.
pub async fn messages_bulk_delete_returns_only_deleted(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, messages) = seed_history(&*store, &fx, 6).await;
    let author = messages[0].author_id;
    let sibling = fx.make_text_channel(channel.guild_id.unwrap_or_default(), "sibling", 5);
    store.create_channel(&sibling).await.unwrap();
    let elsewhere = fx.make_message(&sibling, author);
    store.insert_message(&elsewhere).await.unwrap();
    store
        .add_reaction(channel.id, messages[1].id, &unicode_emoji("👀"), author)
        .await
        .unwrap();
    assert!(
        store
            .delete_message(channel.id, messages[4].id)
            .await
            .unwrap()
    );

    let unknown = MessageId(fx.snowflake());
    let request = [
        messages[1].id,
        messages[3].id,
        messages[4].id,
        elsewhere.id,
        unknown,
        messages[1].id,
    ];
    let deleted = store.delete_messages(channel.id, &request).await.unwrap();
    assert_eq!(sorted(deleted), vec![messages[1].id, messages[3].id]);

    assert_eq!(
        page(&*store, &channel, MessagePage::Latest, 10).await,
        vec![messages[5].id, messages[2].id, messages[0].id]
    );
    assert_eq!(
        store.get_message(sibling.id, elsewhere.id).await.unwrap(),
        Some(elsewhere)
    );
    assert!(
        store
            .reaction_counts(channel.id, &[messages[1].id], author)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .delete_messages(channel.id, &[])
            .await
            .unwrap()
            .is_empty()
    );
}

/// The whole history of a channel, oldest first, read page by page.
async fn full_history(store: &dyn Store, channel: &Channel) -> Vec<MessageId> {
    let mut all = Vec::new();
    let mut cursor = MessagePage::Latest;
    loop {
        let got = page(store, channel, cursor, 100).await;
        let Some(oldest) = got.last().copied() else {
            break;
        };
        all.extend(got);
        cursor = MessagePage::Before(oldest);
    }
    all.reverse();
    all
}

fn assert_strictly_increasing(ids: &[MessageId]) {
    for pair in ids.windows(2) {
        assert!(
            pair[0] < pair[1],
            "history out of order: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
}

/// Concurrent inserts into one channel all land, in ID order, with the newest as `last_message_id`.
pub async fn messages_concurrent_inserts_one_channel(store: Arc<dyn Store>) {
    let fx = Arc::new(Fixtures::new());
    let (channel, _) = seed_history(&*store, &fx, 0).await;
    let author = channel_author(&*store, &channel).await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (store, fx, channel) = (store.clone(), fx.clone(), channel.clone());
            tokio::spawn(async move {
                let m = fx.make_message(&channel, author);
                store.insert_message(&m).await.unwrap();
                m.id
            })
        })
        .collect();
    let mut inserted = BTreeSet::new();
    for t in tasks {
        inserted.insert(t.await.unwrap());
    }
    assert_eq!(inserted.len(), 100);

    let history = full_history(&*store, &channel).await;
    assert_strictly_increasing(&history);
    assert_eq!(history, inserted.iter().copied().collect::<Vec<_>>());
    let last = store
        .get_channel(channel.id)
        .await
        .unwrap()
        .unwrap()
        .last_message_id;
    assert_eq!(last, inserted.last().copied());
}

/// Concurrent inserts into several channels all land in their own channel, in ID order.
pub async fn messages_concurrent_inserts_several_channels(store: Arc<dyn Store>) {
    const CHANNELS: usize = 5;
    let fx = Arc::new(Fixtures::new());
    let (first, _) = seed_history(&*store, &fx, 0).await;
    let author = channel_author(&*store, &first).await;
    let mut channels = vec![first.clone()];
    for i in 1..CHANNELS {
        let c = fx.make_text_channel(
            first.guild_id.unwrap_or_default(),
            &format!("c{i}"),
            i as i32 + 2,
        );
        store.create_channel(&c).await.unwrap();
        channels.push(c);
    }
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let (store, fx, channel) = (store.clone(), fx.clone(), channels[i % CHANNELS].clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for _ in 0..3 {
                    let m = fx.make_message(&channel, author);
                    store.insert_message(&m).await.unwrap();
                    ids.push(m.id);
                }
                (channel.id, ids)
            })
        })
        .collect();
    let mut inserted: Vec<BTreeSet<MessageId>> = vec![BTreeSet::new(); CHANNELS];
    for t in tasks {
        let (channel, ids) = t.await.unwrap();
        let slot = channels.iter().position(|c| c.id == channel).unwrap();
        inserted[slot].extend(ids);
    }
    for (channel, expected) in channels.iter().zip(&inserted) {
        assert_eq!(expected.len(), 60);
        let history = full_history(&*store, channel).await;
        assert_strictly_increasing(&history);
        assert_eq!(history, expected.iter().copied().collect::<Vec<_>>());
        let last = store
            .get_channel(channel.id)
            .await
            .unwrap()
            .unwrap()
            .last_message_id;
        assert_eq!(last, expected.last().copied());
    }
}

/// `history_page` answers what its pieces answer: the page as `list_messages`, the stored users
/// its messages name (a webhook's message names no author; an unknown mention is skipped) and the
/// page's reactions as `reaction_counts` gives them to the viewer, for every kind of page.
pub async fn history_pages_match_their_pieces(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, mut messages) = seed_history(&*store, &fx, 40).await;
    let owner = messages[0].author_id;
    let (friend, bystander) = (fx.make_user(), fx.make_user());
    store.create_user(&friend).await.unwrap();
    store.create_user(&bystander).await.unwrap();
    let ghost = UserId(fx.snowflake());
    for (i, m) in messages.iter_mut().enumerate() {
        match i % 5 {
            1 => m.mention_ids = vec![friend.id],
            2 => m.mention_ids = vec![ghost, owner],
            3 => {
                // Posted by a webhook: its `author_id` is the webhook's, never shown as a user.
                m.webhook_id = Some(crate::id::WebhookId(bystander.id.0));
                m.author_id = bystander.id;
            }
            _ => continue,
        }
        store.update_message(m).await.unwrap();
    }
    for (i, m) in messages.iter().enumerate().step_by(3) {
        store
            .add_reaction(channel.id, m.id, &unicode_emoji("👍"), friend.id)
            .await
            .unwrap();
        if i % 2 == 0 {
            store
                .add_reaction(channel.id, m.id, &unicode_emoji("🎉"), owner)
                .await
                .unwrap();
        }
    }

    let at = messages[20].id;
    let pages = [
        MessagePage::Latest,
        MessagePage::Before(at),
        MessagePage::After(at),
        MessagePage::Around(at),
    ];
    for viewer in [owner, friend.id] {
        for kind in pages {
            for limit in [1, 7, 50] {
                let got = store
                    .history_page(channel.id, kind, limit, viewer)
                    .await
                    .unwrap();
                let listed = store.list_messages(channel.id, kind, limit).await.unwrap();
                assert_eq!(got.messages, listed, "{kind:?} limit {limit}");
                let named: BTreeSet<UserId> =
                    listed.iter().flat_map(Message::named_users).collect();
                let named: Vec<UserId> = named.into_iter().collect();
                let mut users = store.get_users(&named).await.unwrap();
                users.sort_by_key(|u| u.id);
                let mut got_users = got.users.clone();
                got_users.sort_by_key(|u| u.id);
                assert_eq!(got_users, users, "{kind:?} limit {limit}");
                assert!(
                    got_users
                        .iter()
                        .all(|u| u.id != bystander.id && u.id != ghost)
                );
                let reactions = store
                    .reaction_counts(channel.id, &ids(&listed), viewer)
                    .await
                    .unwrap();
                assert_eq!(got.reactions, reactions, "{kind:?} limit {limit}");
            }
        }
    }
    // The newest page names the owner, the friend and no one else; its reactions carry `me`.
    let newest = store
        .history_page(channel.id, MessagePage::Latest, 50, friend.id)
        .await
        .unwrap();
    let mut named: Vec<UserId> = newest.users.iter().map(|u| u.id).collect();
    named.sort();
    assert_eq!(named, sorted(vec![owner, friend.id]));
    assert!(newest.reactions.iter().any(|(_, r)| r.me && r.count == 1));
    assert!(newest.reactions.iter().any(|(_, r)| !r.me));

    let empty = fx.make_text_channel(channel.guild_id.unwrap_or_default(), "empty", 9);
    store.create_channel(&empty).await.unwrap();
    assert_eq!(
        store
            .history_page(empty.id, MessagePage::Latest, 50, owner)
            .await
            .unwrap(),
        crate::ports::HistoryPage::default()
    );
}

/// What a claim gave, as `(message, kind, attempts)`.
fn claimed(got: &[MessageFollowup]) -> Vec<(MessageId, FollowupKind, u32)> {
    got.iter()
        .map(|f| (f.message_id, f.kind, f.attempts))
        .collect()
}

/// The outbox: follow-ups are stored with their message or not at all, claimed lowest message
/// first under a lease, claimed again (one attempt more) once it ends, and gone once cleared.
pub async fn message_followups_are_claimed_leased_and_cleared(store: Arc<dyn Store>) {
    use FollowupKind::{Index, Push};
    let fx = Fixtures::new();
    let (channel, _) = seed_history(&*store, &fx, 0).await;
    let author = channel_author(&*store, &channel).await;
    let (m1, m2, m3) = (
        fx.make_message(&channel, author),
        fx.make_message(&channel, author),
        fx.make_message(&channel, author),
    );
    subscribe_to_push(&*store, author).await;
    store.insert_message_with(&m2, &[Index]).await.unwrap();
    store
        .insert_message_with(&m1, &[Index, Push])
        .await
        .unwrap();
    store.insert_message(&m3).await.unwrap();
    // A message that is not stored leaves no follow-up behind.
    assert!(store.insert_message_with(&m3, &[Push]).await.is_err());
    assert!(
        store
            .claim_followups(T0, 1_000, 0)
            .await
            .unwrap()
            .is_empty()
    );

    let first = store.claim_followups(T0, 1_000, 2).await.unwrap();
    assert_eq!(claimed(&first), [(m1.id, Index, 1), (m1.id, Push, 1)]);
    assert!(first.iter().all(|f| f.channel_id == channel.id));
    let rest = store.claim_followups(T0, 1_000, 10).await.unwrap();
    assert_eq!(
        claimed(&rest),
        [(m2.id, Index, 1)],
        "leased ones are not due"
    );

    store
        .clear_followups(&[(m1.id, Push), (m3.id, Index)])
        .await
        .unwrap();
    let early = T0.plus_ms(999);
    assert!(
        store
            .claim_followups(early, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store
        .claim_followups(T0.plus_ms(1_000), 1_000, 10)
        .await
        .unwrap();
    assert_eq!(
        claimed(&again),
        [(m1.id, Index, 2), (m2.id, Index, 2)],
        "due again when the lease ends, one attempt more; a cleared one is gone"
    );
    store
        .clear_followups(&[(m1.id, Index), (m2.id, Index)])
        .await
        .unwrap();
    let later = T0.plus_ms(86_400_000);
    assert!(
        store
            .claim_followups(later, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.get_message(channel.id, m1.id).await.unwrap(),
        Some(m1),
        "clearing follow-ups leaves the message"
    );
}

/// Stores a push subscription of `user`'s.
async fn subscribe_to_push(store: &dyn Store, user: UserId) {
    store
        .put_private_document(
            user,
            PrivateDocument::PushSubscription,
            1,
            Some(r#"{"endpoint":"https://push.example/1","keys":{"p256dh":"k","auth":"a"}}"#),
        )
        .await
        .unwrap();
}

/// A push fan-out is stored with its message only while someone has a push subscription:
/// anyone's, read in the message's own transaction; indexing is stored either way.
pub async fn message_push_followups_wait_for_a_subscriber(store: Arc<dyn Store>) {
    use FollowupKind::{Index, Push};
    let fx = Fixtures::new();
    let (channel, _) = seed_history(&*store, &fx, 0).await;
    let author = channel_author(&*store, &channel).await;
    // Stores a new message with these follow-ups; returns its ID and what a claim then gets.
    let post = |kinds: &'static [FollowupKind]| {
        let (store, message) = (store.clone(), fx.make_message(&channel, author));
        async move {
            store.insert_message_with(&message, kinds).await.unwrap();
            let got = store.claim_followups(T0, 1_000, 100).await.unwrap();
            (message.id, claimed(&got))
        }
    };

    let (alone, got) = post(&[Index, Push]).await;
    assert_eq!(got, [(alone, Index, 1)], "no one to push to: no fan-out");

    let other = fx.make_user();
    store.create_user(&other).await.unwrap();
    subscribe_to_push(&*store, other.id).await;
    let (heard, got) = post(&[Index, Push]).await;
    assert_eq!(got, [(heard, Index, 1), (heard, Push, 1)]);

    store
        .put_private_document(other.id, PrivateDocument::PushSubscription, 1, None)
        .await
        .unwrap();
    let (_, got) = post(&[Push]).await;
    assert!(
        got.is_empty(),
        "the last subscription removed: no fan-out again"
    );
}

/// Claimers running at once never get the same follow-up.
pub async fn message_followups_concurrent_claims_are_disjoint(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, _) = seed_history(&*store, &fx, 0).await;
    let author = channel_author(&*store, &channel).await;
    let mut stored = BTreeSet::new();
    for _ in 0..40 {
        let m = fx.make_message(&channel, author);
        store
            .insert_message_with(&m, &[FollowupKind::Index])
            .await
            .unwrap();
        stored.insert(m.id);
    }
    let claims = (0..4).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.claim_followups(T0, 60_000, 10).await.unwrap() })
    });
    let mut seen = Vec::new();
    for claim in claims {
        seen.extend(claim.await.unwrap().into_iter().map(|f| f.message_id));
    }
    // A claimer may skip rows another holds: what is left comes with the next claim.
    let left = store.claim_followups(T0, 60_000, 100).await.unwrap();
    seen.extend(left.into_iter().map(|f| f.message_id));
    let distinct: BTreeSet<MessageId> = seen.iter().copied().collect();
    assert_eq!(distinct.len(), seen.len(), "a follow-up was claimed twice");
    assert_eq!(distinct, stored);
}

/// A batch read gives the channel's messages among the IDs, each once, and skips the rest.
pub async fn messages_read_by_ids_in_their_channel_only(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (channel, stored) = seed_history(&*store, &fx, 5).await;
    let guild = channel.guild_id.unwrap_or_default();
    let sibling = store.list_guild_channels(guild).await.unwrap()[1].clone();
    let author = channel_author(&*store, &channel).await;
    let elsewhere = fx.make_message(&sibling, author);
    store.insert_message(&elsewhere).await.unwrap();
    let missing = fx.make_message(&channel, author).id;
    let asked = [
        stored[3].id,
        stored[0].id,
        missing,
        elsewhere.id,
        stored[3].id,
    ];
    let mut got = store.get_messages(channel.id, &asked).await.unwrap();
    got.sort_by_key(|m| m.id);
    assert_eq!(got, vec![stored[0].clone(), stored[3].clone()]);
    assert!(
        store
            .get_messages(channel.id, &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.get_messages(sibling.id, &asked).await.unwrap(),
        vec![elsewhere]
    );
}
