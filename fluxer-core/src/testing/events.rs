//! The [`EventBus`] conformance suite. Delivery may be asynchronous (a broker), so expected events are
//! awaited with a timeout and "nothing more" is checked after a quiet period.

use std::sync::Arc;
use std::time::Duration;

use crate::id::{ChannelId, GuildId, UserId};
use crate::ports::{Dispatch, EventBus, EventKind, Lagged, Replay, Subscription, Topic};

/// Generates one test per [`EventBus`] case; see [`crate::testing`].
#[macro_export]
macro_rules! event_bus_conformance_tests {
    ($($factory:tt)+) => {
        $crate::__conformance_tests!(events, event_bus_conformance, [$($factory)+], [
            delivers_only_subscribed_topics,
            delivers_in_publish_order_per_topic,
            every_subscriber_gets_a_copy,
            remove_topic_stops_delivery,
            recv_waits_for_the_next_event,
            slow_subscriber_lags_alone,
            replays_missed_events_then_continues_live,
        ]);
    };
}

const DELIVERY: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(200);

fn dispatch(topic: Topic, n: u64) -> Dispatch {
    Dispatch::new(
        EventKind::MessageCreate,
        topic,
        &serde_json::json!({ "n": n }),
    )
}

/// The dispatch as published: without the position a bus with history adds.
fn unpositioned(d: &Dispatch) -> Dispatch {
    Dispatch {
        position: None,
        ..d.clone()
    }
}

async fn next_positioned(sub: &mut Box<dyn Subscription>) -> Dispatch {
    match tokio::time::timeout(DELIVERY, sub.recv()).await {
        Ok(Some(Ok(d))) => (*d).clone(),
        Ok(Some(Err(Lagged))) => panic!("subscriber lagged"),
        Ok(None) => panic!("bus closed"),
        Err(_) => panic!("no event within {DELIVERY:?}"),
    }
}

async fn next(sub: &mut Box<dyn Subscription>) -> Dispatch {
    match tokio::time::timeout(DELIVERY, sub.recv()).await {
        Ok(Some(Ok(d))) => unpositioned(&d),
        Ok(Some(Err(Lagged))) => panic!("subscriber lagged"),
        Ok(None) => panic!("bus closed"),
        Err(_) => panic!("no event within {DELIVERY:?}"),
    }
}

async fn assert_quiet(sub: &mut Box<dyn Subscription>) {
    if let Ok(got) = tokio::time::timeout(QUIET, sub.recv()).await {
        panic!("unexpected delivery: {got:?}");
    }
}

/// Subscriptions may take effect asynchronously at a broker: publish probes (`TYPING_START`, a real
/// event name, since a broker adapter may map names back to its known set) until each of `subs` has
/// received one, then drain the probes still in flight.
async fn settle(bus: &dyn EventBus, subs: &mut [&mut Box<dyn Subscription>], topic: Topic) {
    let deadline = tokio::time::Instant::now() + DELIVERY;
    for sub in subs.iter_mut() {
        loop {
            let probe = Dispatch::new(EventKind::TypingStart, topic, &serde_json::json!(null));
            bus.publish(probe).await.unwrap();
            match tokio::time::timeout(Duration::from_millis(100), sub.recv()).await {
                Ok(Some(Ok(d))) if d.event == EventKind::TypingStart => break,
                Ok(other) => panic!("unexpected delivery while settling: {other:?}"),
                Err(_) => assert!(
                    tokio::time::Instant::now() < deadline,
                    "subscription never took effect"
                ),
            }
        }
    }
    for sub in subs.iter_mut() {
        while let Ok(Some(Ok(d))) = tokio::time::timeout(QUIET, sub.recv()).await {
            assert_eq!(
                d.event,
                EventKind::TypingStart,
                "unexpected delivery while settling: {d:?}"
            );
        }
    }
}

/// A subscriber gets only its topics' events, once each even when a topic was added twice, with
/// their routing facts (channel, guild, subject) intact.
pub async fn delivers_only_subscribed_topics(bus: Arc<dyn EventBus>) {
    let (guild, user, other) = (
        Topic::Guild(GuildId::new(1)),
        Topic::User(UserId::new(2)),
        Topic::Guild(GuildId::new(3)),
    );
    let mut sub = bus.subscribe(64).await.unwrap();
    sub.add_topic(guild).await.unwrap();
    sub.add_topic(user).await.unwrap();
    // Adding a topic twice is harmless: one copy per event.
    sub.add_topic(guild).await.unwrap();
    settle(&*bus, &mut [&mut sub], guild).await;
    settle(&*bus, &mut [&mut sub], user).await;

    // The routing facts travel with the event.
    let in_channel = dispatch(guild, 1)
        .in_channel(ChannelId::new(10))
        .about_guild(GuildId::new(11))
        .about_user(UserId::new(12));
    bus.publish(in_channel.clone()).await.unwrap();
    bus.publish(dispatch(other, 2)).await.unwrap();
    bus.publish(dispatch(Topic::User(UserId::new(1)), 3))
        .await
        .unwrap();
    bus.publish(dispatch(user, 4)).await.unwrap();

    let mut got = vec![next(&mut sub).await, next(&mut sub).await];
    got.sort_by_key(|d| d.payload.to_string());
    assert_eq!(got, vec![in_channel, dispatch(user, 4)]);
    assert_quiet(&mut sub).await;
}

/// Events arrive in publish order within each topic.
pub async fn delivers_in_publish_order_per_topic(bus: Arc<dyn EventBus>) {
    let (a, b) = (Topic::Guild(GuildId::new(1)), Topic::User(UserId::new(1)));
    let mut sub = bus.subscribe(1024).await.unwrap();
    sub.add_topic(a).await.unwrap();
    sub.add_topic(b).await.unwrap();
    settle(&*bus, &mut [&mut sub], a).await;
    settle(&*bus, &mut [&mut sub], b).await;
    for n in 0..100 {
        bus.publish(dispatch(if n % 3 == 0 { b } else { a }, n))
            .await
            .unwrap();
    }
    let mut per_topic: (Vec<Dispatch>, Vec<Dispatch>) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        let d = next(&mut sub).await;
        if d.topic == a {
            per_topic.0.push(d)
        } else {
            per_topic.1.push(d)
        }
    }
    let expected_a: Vec<Dispatch> = (0..100)
        .filter(|n| n % 3 != 0)
        .map(|n| dispatch(a, n))
        .collect();
    let expected_b: Vec<Dispatch> = (0..100)
        .filter(|n| n % 3 == 0)
        .map(|n| dispatch(b, n))
        .collect();
    assert_eq!(per_topic.0, expected_a);
    assert_eq!(per_topic.1, expected_b);
    assert_quiet(&mut sub).await;
}

/// Every subscriber of a topic gets each event; a late subscriber misses earlier events and a
/// dropped one disturbs no one.
pub async fn every_subscriber_gets_a_copy(bus: Arc<dyn EventBus>) {
    let topic = Topic::Guild(GuildId::new(7));
    let mut subs = Vec::new();
    for _ in 0..3 {
        let mut sub = bus.subscribe(16).await.unwrap();
        sub.add_topic(topic).await.unwrap();
        subs.push(sub);
    }
    let mut all: Vec<&mut Box<dyn Subscription>> = subs.iter_mut().collect();
    settle(&*bus, &mut all, topic).await;
    // A late subscriber does not see earlier events.
    bus.publish(dispatch(topic, 1)).await.unwrap();
    let mut late = bus.subscribe(16).await.unwrap();
    late.add_topic(topic).await.unwrap();
    for sub in &mut subs {
        assert_eq!(next(sub).await, dispatch(topic, 1));
    }
    assert_quiet(&mut late).await;
    // A dropped subscriber does not disturb the others.
    drop(subs.pop());
    bus.publish(dispatch(topic, 2)).await.unwrap();
    for sub in &mut subs {
        assert_eq!(next(sub).await, dispatch(topic, 2));
        assert_quiet(sub).await;
    }
}

/// After `remove_topic` the topic's events stop (removing an absent topic is harmless); adding it
/// back resumes delivery.
pub async fn remove_topic_stops_delivery(bus: Arc<dyn EventBus>) {
    let (kept, removed) = (Topic::User(UserId::new(1)), Topic::Guild(GuildId::new(1)));
    let mut sub = bus.subscribe(16).await.unwrap();
    sub.add_topic(kept).await.unwrap();
    sub.add_topic(removed).await.unwrap();
    settle(&*bus, &mut [&mut sub], kept).await;
    settle(&*bus, &mut [&mut sub], removed).await;
    sub.remove_topic(removed).await.unwrap();
    // Removing a topic one does not have is harmless.
    sub.remove_topic(Topic::Guild(GuildId::new(99)))
        .await
        .unwrap();

    bus.publish(dispatch(removed, 1)).await.unwrap();
    bus.publish(dispatch(kept, 2)).await.unwrap();
    assert_eq!(next(&mut sub).await, dispatch(kept, 2));
    assert_quiet(&mut sub).await;

    // Adding it back resumes delivery.
    sub.add_topic(removed).await.unwrap();
    settle(&*bus, &mut [&mut sub], removed).await;
    bus.publish(dispatch(removed, 3)).await.unwrap();
    assert_eq!(next(&mut sub).await, dispatch(removed, 3));
}

/// `recv` waits for an event published later.
pub async fn recv_waits_for_the_next_event(bus: Arc<dyn EventBus>) {
    let topic = Topic::User(UserId::new(5));
    let mut sub = bus.subscribe(16).await.unwrap();
    sub.add_topic(topic).await.unwrap();
    settle(&*bus, &mut [&mut sub], topic).await;
    let publisher = {
        let bus = bus.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            bus.publish(dispatch(topic, 1)).await.unwrap();
        })
    };
    assert_eq!(next(&mut sub).await, dispatch(topic, 1));
    publisher.await.unwrap();
}

/// Publishing never blocks on a full inbox: the slow subscriber gets what fitted, in order, then
/// `Lagged`, while the others get everything.
pub async fn slow_subscriber_lags_alone(bus: Arc<dyn EventBus>) {
    const CAPACITY: usize = 4;
    const EVENTS: u64 = 20;
    let topic = Topic::Guild(GuildId::new(1));
    let mut slow = bus.subscribe(CAPACITY).await.unwrap();
    let mut fast = bus.subscribe(64).await.unwrap();
    slow.add_topic(topic).await.unwrap();
    fast.add_topic(topic).await.unwrap();
    settle(&*bus, &mut [&mut slow, &mut fast], topic).await;

    // Publishing never waits for the slow subscriber.
    let published = tokio::time::timeout(DELIVERY, async {
        for n in 0..EVENTS {
            bus.publish(dispatch(topic, n)).await.unwrap();
        }
    })
    .await;
    assert!(published.is_ok(), "publish blocked on a full subscriber");

    for n in 0..EVENTS {
        assert_eq!(next(&mut fast).await, dispatch(topic, n));
    }

    // The slow one gets at most what fitted, in order, then learns it lagged.
    let mut delivered = 0;
    loop {
        match tokio::time::timeout(DELIVERY, slow.recv()).await {
            Ok(Some(Ok(d))) => {
                assert_eq!(
                    unpositioned(&d),
                    dispatch(topic, delivered),
                    "events before the lag arrive in order"
                );
                delivered += 1;
                assert!(
                    delivered as usize <= CAPACITY,
                    "more events than the inbox holds"
                );
            }
            Ok(Some(Err(Lagged))) => break,
            Ok(None) => panic!("bus closed instead of reporting the lag"),
            Err(_) => panic!("no lag reported within {DELIVERY:?}"),
        }
    }
    // The fast subscriber keeps receiving.
    bus.publish(dispatch(topic, EVENTS)).await.unwrap();
    assert_eq!(next(&mut fast).await, dispatch(topic, EVENTS));
}

/// On a bus with history (its dispatches carry positions): the events after a position come back in
/// order, only those of the requested topics, then the live ones, with no gap and no duplicate. A bus
/// without positions must answer `None`.
pub async fn replays_missed_events_then_continues_live(bus: Arc<dyn EventBus>) {
    let (topic, other) = (Topic::Guild(GuildId::new(1)), Topic::Guild(GuildId::new(2)));
    let mut sub = bus.subscribe(64).await.unwrap();
    sub.add_topic(topic).await.unwrap();
    settle(&*bus, &mut [&mut sub], topic).await;
    let mut received = Vec::new();
    for n in 1..=10 {
        bus.publish(dispatch(topic, n)).await.unwrap();
        bus.publish(dispatch(other, 100 + n)).await.unwrap();
        received.push(next_positioned(&mut sub).await);
    }
    let Some(after) = received[3].position else {
        assert!(received.iter().all(|d| d.position.is_none()));
        let replay = bus.replay(&[topic], 0, 64).await.unwrap();
        assert!(replay.is_none(), "a bus without positions cannot replay");
        return;
    };
    let positions: Vec<u64> = received.iter().map(|d| d.position.unwrap()).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "positions increase: {positions:?}"
    );

    let Replay {
        missed,
        mut subscription,
    } = bus
        .replay(&[topic], after, 64)
        .await
        .unwrap()
        .expect("a bus with positions replays its recent history");
    let missed: Vec<Dispatch> = missed.iter().map(|d| (**d).clone()).collect();
    assert_eq!(missed, received[4..].to_vec(), "events 5..=10, in order");
    assert!(subscription.start_position() >= positions.last().copied());

    // Then live, continuing where the replay ended.
    for n in 11..=12 {
        bus.publish(dispatch(other, 100 + n)).await.unwrap();
        bus.publish(dispatch(topic, n)).await.unwrap();
    }
    assert_eq!(next(&mut subscription).await, dispatch(topic, 11));
    assert_eq!(next(&mut subscription).await, dispatch(topic, 12));
    assert_quiet(&mut subscription).await;

    // Nothing missed after the last event: an empty replay, then live.
    let last = next_positioned(&mut sub).await;
    assert_eq!(unpositioned(&last), dispatch(topic, 11));
    let last = next_positioned(&mut sub).await.position.unwrap();
    let replay = bus
        .replay(&[topic, other], last, 64)
        .await
        .unwrap()
        .unwrap();
    assert!(replay.missed.iter().all(|d| d.topic == other));
    // Beyond the history: nothing to replay from.
    assert!(
        bus.replay(&[topic], last + 1_000_000, 64)
            .await
            .unwrap()
            .is_none()
    );
}
