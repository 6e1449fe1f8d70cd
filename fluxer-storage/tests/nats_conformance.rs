//! The NATS adapters against the event bus and queue suites, on a real NATS server with JetStream.
//!
//! The server is `FLUXER_TEST_NATS_URL` (default `nats://127.0.0.1:4222`); the tests fail when it cannot
//! be reached. Every case gets a fresh prefix (`fxt_<unix secs>_<random>`), so its subjects and streams
//! are its own; a queue case deletes its streams when it ends, and streams that earlier runs left
//! behind (a case that crashed) are deleted after an hour.

#![cfg(feature = "nats")]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use fluxer_core::id::GuildId;
use fluxer_core::ports::{
    Dispatch, EventBus, Job, Lagged, NewJob, PortResult, Queue, QueueStats, Subscription, Topic,
};
use fluxer_core::service::SessionToken;
use fluxer_core::time::Timestamp;
use fluxer_storage::nats::{JetStreamQueue, NatsConfig, NatsEventBus};
use futures_util::StreamExt;
use serde_json::json;

const ROOT: &str = "fxt";
/// Streams of runs older than this are garbage.
const STALE_SECS: u64 = 3600;

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A configuration with a prefix no other case uses.
fn fresh_config() -> NatsConfig {
    let url = std::env::var("FLUXER_TEST_NATS_URL")
        .unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let random = &SessionToken::generate().0[4..16];
    NatsConfig::new(url).with_prefix(format!("{ROOT}_{}_{random}", unix_secs()))
}

async fn connect(config: &NatsConfig) -> async_nats::Client {
    config
        .connect()
        .await
        .unwrap_or_else(|e| panic!("NATS at {} is required for these tests: {e}", config.url))
}

/// Deletes the streams of cases older than [`STALE_SECS`].
async fn remove_stale_streams(client: async_nats::Client) {
    let js = async_nats::jetstream::new(client);
    let names: Vec<String> = js
        .stream_names()
        .filter_map(|name| async move { name.ok() })
        .collect()
        .await;
    for name in names {
        let stale = name
            .strip_prefix(&format!("{ROOT}_"))
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok())
            .is_some_and(|secs| secs + STALE_SECS < unix_secs());
        if stale {
            // Another run may be deleting it at the same time.
            let _ = js.delete_stream(&name).await;
        }
    }
}

async fn event_bus() -> Arc<dyn EventBus> {
    let config = fresh_config();
    let client = connect(&config).await;
    remove_stale_streams(client.clone()).await;
    Arc::new(NatsEventBus::new(client, &config.prefix).expect("a valid prefix"))
}

async fn queue() -> Arc<dyn Queue> {
    let config = fresh_config();
    let client = connect(&config).await;
    remove_stale_streams(client.clone()).await;
    let queue = JetStreamQueue::open(client, &config)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "JetStream at {} is required for these tests: {e}",
                config.url
            )
        });
    Arc::new(DeletedAfterUse(queue))
}

/// The queue under test, whose streams are deleted when the case drops it.
struct DeletedAfterUse(JetStreamQueue);

impl Drop for DeletedAfterUse {
    fn drop(&mut self) {
        // Cases run on a multi-threaded runtime, so this worker may block while the deletion runs.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let deleted = tokio::task::block_in_place(|| runtime.block_on(self.0.delete_streams()));
            if let Err(e) = deleted {
                eprintln!("could not delete the test streams: {e}");
            }
        }
    }
}

#[async_trait]
impl Queue for DeletedAfterUse {
    async fn enqueue(&self, job: NewJob) -> PortResult<String> {
        self.0.enqueue(job).await
    }
    async fn reserve(&self, now: Timestamp, lease_ms: u64) -> PortResult<Option<Job>> {
        self.0.reserve(now, lease_ms).await
    }
    async fn ack(&self, id: &str) -> PortResult<()> {
        self.0.ack(id).await
    }
    async fn nack(&self, id: &str, error: &str, retry_at: Timestamp) -> PortResult<()> {
        self.0.nack(id, error, retry_at).await
    }
    async fn dead_letters(&self, limit: usize) -> PortResult<Vec<Job>> {
        self.0.dead_letters(limit).await
    }
    async fn stats(&self) -> PortResult<QueueStats> {
        self.0.stats().await
    }
}

fluxer_core::event_bus_conformance_tests!(async { event_bus().await });
fluxer_core::queue_conformance_tests!(async { queue().await });

/// A queue whose workers' consumer has a short `ack_wait`, to see the lease design at work.
async fn queue_with_ack_wait(ack_wait_ms: u64) -> (NatsConfig, DeletedAfterUse) {
    let mut config = fresh_config();
    config.ack_wait_ms = ack_wait_ms;
    let queue = JetStreamQueue::open(connect(&config).await, &config)
        .await
        .expect("open the queue");
    (config, DeletedAfterUse(queue))
}

async fn reserve_within(queue: &dyn Queue, within: Duration) -> Job {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(job) = queue.reserve(Timestamp::now(), 60_000).await.unwrap() {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no job within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_longer_than_ack_wait_is_kept() {
    // Not much shorter: the lease is renewed every half ack_wait by a task, and a loaded machine
    // can run that task a few hundred milliseconds late.
    let (_, queue) = queue_with_ack_wait(900).await;
    let id = queue
        .enqueue(NewJob::new("long", json!(null)))
        .await
        .unwrap();
    let job = reserve_within(&queue, Duration::from_secs(5)).await;
    assert_eq!((job.id.as_str(), job.attempts), (id.as_str(), 1));
    let leased = queue.reserve(Timestamp::now(), 60_000).await.unwrap();
    assert_eq!(leased, None);
    // Past three ack_waits, the lease of its own (reserve's 60 s) still holds it.
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert_eq!(queue.reserve(Timestamp::now(), 60_000).await.unwrap(), None);
    assert_eq!(queue.stats().await.unwrap().in_flight, 1);
    queue.ack(&id).await.unwrap();
    assert_eq!(queue.stats().await.unwrap(), QueueStats::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_job_comes_back_after_ack_wait() {
    // Long enough that the check that the job is still held runs within it on a loaded machine.
    let (config, queue) = queue_with_ack_wait(1_500).await;
    let id = queue
        .enqueue(NewJob::new("orphan", json!(1)))
        .await
        .unwrap();
    {
        // Another process reserves the job, then dies without a word.
        let worker = JetStreamQueue::open(connect(&config).await, &config)
            .await
            .expect("open the queue");
        let job = reserve_within(&worker, Duration::from_secs(5)).await;
        assert_eq!(job.id, id);
    }
    assert_eq!(queue.reserve(Timestamp::now(), 60_000).await.unwrap(), None);
    let again = reserve_within(&queue, Duration::from_secs(5)).await;
    assert_eq!((again.id.as_str(), again.attempts), (id.as_str(), 2));
    queue.ack(&id).await.unwrap();
}

async fn next_event(sub: &mut Box<dyn Subscription>) -> Dispatch {
    match tokio::time::timeout(Duration::from_secs(5), sub.recv()).await {
        Ok(Some(Ok(d))) => (*d).clone(),
        Ok(Some(Err(Lagged))) => panic!("subscriber lagged"),
        Ok(None) => panic!("bus closed"),
        Err(_) => panic!("no event within 5 s"),
    }
}

fn numbered(topic: Topic, n: u64) -> Dispatch {
    Dispatch::new(
        fluxer_core::ports::EventKind::MessageCreate,
        topic,
        &json!({ "n": n }),
    )
}

/// Events published at once by an API node (no subscriptions of its own) are stored several to a
/// message; another node receives every one, in order, once, and replays from any of them, the
/// middle of a message included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stored_together_are_delivered_and_replayed_one_by_one() {
    let config = fresh_config();
    let api = NatsEventBus::from_config(connect(&config).await, &config).unwrap();
    let gateway = NatsEventBus::from_config(connect(&config).await, &config).unwrap();
    let topic = Topic::Guild(GuildId::new(1));
    let other = Topic::Guild(GuildId::new(2));
    let mut sub = gateway.subscribe(1024).await.unwrap();
    sub.add_topic(topic).await.unwrap();
    // One after another: `publish` returns once the event is queued (this node does not deliver),
    // and the bus's sender takes what has queued up meanwhile, so runs of one topic share a
    // message; the other topic's events between them split the runs.
    let sent: Vec<Dispatch> = (1..=300)
        .map(|n| numbered(if n % 50 == 0 { other } else { topic }, n))
        .collect();
    for dispatch in &sent {
        api.publish(dispatch.clone()).await.unwrap();
    }
    let ours: Vec<&Dispatch> = sent.iter().filter(|d| d.topic == topic).collect();
    let mut got = Vec::new();
    for _ in &ours {
        got.push(next_event(&mut sub).await);
    }
    let payloads = |v: &[Dispatch]| v.iter().map(|d| d.payload.to_string()).collect::<Vec<_>>();
    let expected: Vec<String> = ours.iter().map(|d| d.payload.to_string()).collect();
    assert_eq!(
        payloads(&got),
        expected,
        "every event of the topic, in order"
    );
    let positions: Vec<u64> = got.iter().map(|d| d.position.unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    let extra = tokio::time::timeout(Duration::from_millis(300), sub.recv()).await;
    assert!(extra.is_err(), "no duplicate: {extra:?}");
    // A position's high bits name its stored message (64 positions a message, see the adapter's
    // design): fewer messages than events means some were stored together.
    let message = |p: u64| p >> 6;
    let messages: std::collections::HashSet<u64> = positions.iter().map(|&p| message(p)).collect();
    assert!(
        messages.len() < positions.len(),
        "{} events in {} messages",
        positions.len(),
        messages.len()
    );

    // Replays from inside a message, and from the last event of one.
    let inside = (0..positions.len() - 1)
        .find(|&i| message(positions[i]) == message(positions[i + 1]))
        .expect("two events in one message");
    let last_of_one = (0..positions.len() - 1)
        .find(|&i| message(positions[i]) != message(positions[i + 1]))
        .expect("events in more than one message");
    let late = NatsEventBus::from_config(connect(&config).await, &config).unwrap();
    for from in [inside, last_of_one] {
        let replay = late
            .replay(&[topic], positions[from], 1024)
            .await
            .unwrap()
            .expect("the history is kept");
        let missed: Vec<Dispatch> = replay.missed.iter().map(|d| (**d).clone()).collect();
        assert_eq!(
            payloads(&missed),
            expected[from + 1..],
            "replayed after event {from}"
        );
        let replayed: Vec<u64> = missed.iter().map(|d| d.position.unwrap()).collect();
        assert_eq!(replayed, positions[from + 1..]);
    }
}

/// What a gateway does when a client of a dead node resumes on another: a bus on another connection
/// (another node, whose consumer starts only now) replays what the client missed, then continues live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_node_replays_what_a_client_missed_then_continues_live() {
    let config = fresh_config();
    let node_a = NatsEventBus::from_config(connect(&config).await, &config).unwrap();
    let topic = Topic::Guild(GuildId::new(1));
    let other = Topic::Guild(GuildId::new(2));
    let mut sub = node_a.subscribe(64).await.unwrap();
    sub.add_topic(topic).await.unwrap();
    let mut positions = Vec::new();
    for n in 1..=10 {
        node_a.publish(numbered(topic, n)).await.unwrap();
        node_a.publish(numbered(other, 100 + n)).await.unwrap();
        let d = next_event(&mut sub).await;
        assert_eq!(d.payload, numbered(topic, n).payload);
        positions.push(d.position.expect("events carry their stream position"));
    }
    assert!(positions.windows(2).all(|w| w[0] < w[1]));

    let node_b = NatsEventBus::from_config(connect(&config).await, &config).unwrap();
    let replay = node_b
        .replay(&[topic], positions[3], 64)
        .await
        .unwrap()
        .expect("the history is kept");
    let missed: Vec<(String, Option<u64>)> = replay
        .missed
        .iter()
        .map(|d| (d.payload.to_string(), d.position))
        .collect();
    let expected: Vec<(String, Option<u64>)> = (5..=10)
        .map(|n| {
            (
                numbered(topic, n).payload.to_string(),
                Some(positions[n as usize - 1]),
            )
        })
        .collect();
    assert_eq!(missed, expected, "events 5..=10, in order, nothing else");
    let mut live = replay.subscription;
    for n in 11..=13 {
        node_a.publish(numbered(other, 100 + n)).await.unwrap();
        node_a.publish(numbered(topic, n)).await.unwrap();
    }
    for n in 11..=13 {
        let d = next_event(&mut live).await;
        assert_eq!(
            d.payload,
            numbered(topic, n).payload,
            "live, after the replay"
        );
        assert!(d.position > Some(positions[9]));
    }
    let extra = tokio::time::timeout(Duration::from_millis(300), live.recv()).await;
    assert!(extra.is_err(), "no duplicate: {extra:?}");

    // A position the stream never reached cannot be replayed from.
    assert!(
        node_b
            .replay(&[topic], u64::MAX / 2, 64)
            .await
            .unwrap()
            .is_none()
    );
    // Nor can more missed events than the caller would hold.
    assert!(
        node_b
            .replay(&[topic], positions[0], 3)
            .await
            .unwrap()
            .is_none()
    );
}
