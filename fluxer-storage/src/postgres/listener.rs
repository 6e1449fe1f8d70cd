//! Keeps a store's access cache (see `crate::access_cache`) true when other processes write the
//! database: every process on it listens on one notification channel, and every write to what
//! access reads notifies it. A process bumps its cache's generation when another one notifies.
//!
//! - **A process's own writes** make its cache stale before they are acknowledged, so it always
//!   reads its own writes. They notify before that too: a statement on its own is followed by a
//!   `NOTIFY` on the same connection, and a transaction notifies inside itself, so the others are
//!   told when it commits. What remains is PostgreSQL's delivery to the other listeners: a logout
//!   through one API node stops being answered from the others' caches within about a millisecond
//!   on a local network.
//! - **A write whose notification failed**, or whose request was cancelled mid-statement, is told
//!   by the listener instead, as soon as it can.
//! - **While the channel is not heard** (before the first `LISTEN`, after a connection is lost,
//!   when a heartbeat's echo does not come back), the cache answers nothing: every read goes to the
//!   database. Going live again bumps the generation, since notifications may have been missed. A
//!   heartbeat every [`HEARTBEAT`] checks that the channel still delivers (a pooler in transaction
//!   mode accepts `LISTEN` and delivers nothing; a half-open connection goes quiet).
//! - **A database that cannot notify** (CockroachDB answers `NOTIFY` and `LISTEN` as unsupported),
//!   found when the store connects, leaves the cache off for the store's life, with one warning:
//!   writes then send no notification.
//! - **What no process is told of** (a row edited by hand, a channel's newest message stored by
//!   another process, a session's `last_used_at` touched by another) is bounded by the entries' age
//!   limit, [`MAX_AGE`]. A stale newest message can make another node send a DM's `CHANNEL_CREATE`
//!   twice; a stale `last_used_at` an early touch.
//! - **How soon a deaf channel is noticed:** within a heartbeat and an echo's wait (5 s at most),
//!   a statement on the listening connection that gets no answer included.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::access_cache::AccessCache;

/// The heartbeat: tells nothing, and comes back to its sender. Any other payload says what access
/// reads changed; this build sends `changed:<store>`, so that a store ignores its own.
pub(crate) const NOTIFY_ALIVE: &str = "NOTIFY fluxer_access, 'alive'";
const ALIVE: &str = "alive";
const LISTEN: &str = "LISTEN fluxer_access";

/// How long a cached answer stands without any notification.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(5);

/// How often the listener checks that its notifications come back, and how long it waits for one.
const HEARTBEAT: Duration = Duration::from_secs(2);
const ECHO_TIMEOUT: Duration = Duration::from_secs(3);

/// Waits between attempts to listen again, doubling up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// A store's access cache with what keeps it true.
pub(crate) struct Access {
    cache: AccessCache,
    /// The statement that tells the others of this store's writes; `None` where the database cannot
    /// notify.
    notify_changed: Option<String>,
    heard: Arc<Heard>,
    /// Wakes the listener to tell the other processes of a write that was not told.
    wake: Arc<Notify>,
    /// The listener, stopped with the last clone of the store.
    listener: Option<JoinHandle<()>>,
}

impl Drop for Access {
    fn drop(&mut self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
    }
}

/// Whether `e` says the database does not do what was asked (a `NOTIFY` or `LISTEN`), rather than
/// that it failed to.
pub(crate) fn is_unsupported(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| *c == SqlState::FEATURE_NOT_SUPPORTED || *c == SqlState::SYNTAX_ERROR)
}

impl Access {
    /// Starts listening on a connection of its own to the database `config` names, if it can
    /// notify (`notifies`); otherwise the cache stays off.
    pub(crate) fn start(config: tokio_postgres::Config, notifies: bool) -> Access {
        let generation = Arc::new(AtomicU64::new(0));
        let cache = AccessCache::expiring(Arc::clone(&generation), MAX_AGE);
        let heard = Arc::new(Heard {
            generation,
            live: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        });
        let wake = Arc::new(Notify::new());
        if !notifies {
            tracing::warn!("the database cannot NOTIFY: the PostgreSQL access cache stays off");
            return Access {
                cache,
                notify_changed: None,
                heard,
                wake,
                listener: None,
            };
        }
        let own = format!("changed:{:016x}", store_id());
        let notify_changed = format!("NOTIFY fluxer_access, '{own}'");
        let listener = tokio::spawn(listen(
            config,
            Arc::clone(&heard),
            Arc::clone(&wake),
            Tell {
                own,
                notify: notify_changed.clone(),
            },
        ));
        Access {
            cache,
            notify_changed: Some(notify_changed),
            heard,
            wake,
            listener: Some(listener),
        }
    }

    /// Stops listening; the cache answers no more.
    pub(crate) fn stop(&self) {
        self.heard.stopped.store(true, Ordering::Release);
        self.heard.live.store(false, Ordering::Release);
        if let Some(listener) = &self.listener {
            listener.abort();
        }
    }

    /// The cache, while it may answer.
    pub(crate) fn cache(&self) -> Option<&AccessCache> {
        let live =
            self.heard.live.load(Ordering::Acquire) && !self.heard.stopped.load(Ordering::Acquire);
        live.then_some(&self.cache)
    }

    /// The statement that tells the other processes of a write (none where nobody listens).
    pub(crate) fn notify_changed(&self) -> Option<&str> {
        self.notify_changed.as_deref()
    }

    /// Makes this process's cache stale (a write it made committed).
    pub(crate) fn bump(&self) {
        self.cache.bump();
    }

    /// A write to what access reads may have committed without telling the other processes: stale
    /// here at once, and the listener tells the others.
    pub(crate) fn changed(&self) {
        self.bump();
        self.wake.notify_one();
    }

    /// Forgets one session's cached answer.
    pub(crate) fn forget_session(&self, token_hash: &[u8; 32]) {
        self.cache.forget_session(token_hash);
    }

    /// A message was stored in `channel` (see `AccessCache::message_stored`).
    pub(crate) fn message_stored(
        &self,
        channel: fluxer_core::id::ChannelId,
        id: fluxer_core::id::MessageId,
    ) {
        self.cache.message_stored(channel, id);
    }
}

/// Makes the cache stale when dropped: around a commit whose outcome may not be waited for.
pub(crate) struct StaleOnDrop<'a>(pub(crate) &'a Access);

impl Drop for StaleOnDrop<'_> {
    fn drop(&mut self) {
        self.0.bump();
    }
}

/// A number no other store is likely to draw: the process, the clock and std's hash seed.
fn store_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

/// How a store's own notifications look, and the statement that sends one.
struct Tell {
    own: String,
    notify: String,
}

/// What the listener shares with the store.
struct Heard {
    generation: Arc<AtomicU64>,
    /// Whether the channel is heard: only then does the cache answer.
    live: AtomicBool,
    /// Set by [`Access::stop`]: never live again.
    stopped: AtomicBool,
}

impl Heard {
    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn set_live(&self, live: bool) {
        // Either way the cache starts over: what it holds was read before a gap in what was heard.
        self.bump();
        let live = live && !self.stopped.load(Ordering::Acquire);
        self.live.store(live, Ordering::Release);
    }
}

/// Listens, tells, and reconnects, until the store goes away (the task is aborted).
async fn listen(config: tokio_postgres::Config, heard: Arc<Heard>, wake: Arc<Notify>, tell: Tell) {
    let tell = Arc::new(tell);
    let mut delay = RETRY_MIN;
    // Whether this outage was reported: one warning each, not one per attempt.
    let mut reported = false;
    loop {
        let started = Instant::now();
        match session(&config, &heard, &wake, &tell).await {
            Ended::Lost(why) => {
                if heard.live.load(Ordering::Acquire) || !reported {
                    tracing::warn!(
                        error = %why,
                        "the access cache's PostgreSQL listener cannot hear its channel; the cache is off until it can"
                    );
                    reported = true;
                } else {
                    tracing::debug!(error = %why, "the access cache's listener is still deaf");
                }
            }
            Ended::Unsupported(why) => {
                tracing::warn!(
                    error = %why,
                    "the database cannot LISTEN: the access cache stays off"
                );
                heard.set_live(false);
                return;
            }
        }
        heard.set_live(false);
        if started.elapsed() > RETRY_MAX {
            // It was up for a while: this is a new outage.
            delay = RETRY_MIN;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RETRY_MAX);
    }
}

enum Ended {
    Lost(String),
    Unsupported(String),
}

/// One connection's life: listen, check the channel delivers, then tell of the writes the store
/// could not tell of and keep checking, until the channel fails.
async fn session(
    config: &tokio_postgres::Config,
    heard: &Arc<Heard>,
    wake: &Notify,
    tell: &Arc<Tell>,
) -> Ended {
    let (client, mut connection) = match config.connect(NoTls).await {
        Ok(pair) => pair,
        Err(e) => return Ended::Lost(e.to_string()),
    };
    // The connection is driven by a task of its own: it bumps for every other store's notification
    // and signals this connection's echoes. It stops with this future.
    let own_pid = Arc::new(AtomicI32::new(0));
    let echo = Arc::new(Notify::new());
    let (ended, mut closed) = oneshot::channel();
    let driver = {
        let (heard, own_pid, echo, tell) = (
            Arc::clone(heard),
            Arc::clone(&own_pid),
            Arc::clone(&echo),
            Arc::clone(tell),
        );
        AbortOnDrop(tokio::spawn(async move {
            let why = loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        if n.process_id() == own_pid.load(Ordering::Acquire) {
                            echo.notify_one();
                        } else if n.payload() != ALIVE && n.payload() != tell.own {
                            heard.bump();
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break e.to_string(),
                    None => break "the server closed the connection".to_owned(),
                }
            };
            let _ = ended.send(why);
        }))
    };
    let pid = match bounded(client.query_one("SELECT pg_backend_pid()", &[])).await {
        Ok(Ok(row)) => row.get::<_, i32>(0),
        Ok(Err(e)) => return Ended::Lost(e.to_string()),
        Err(why) => return Ended::Lost(why),
    };
    own_pid.store(pid, Ordering::Release);
    match bounded(client.batch_execute(LISTEN)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) if is_unsupported(&e) => return Ended::Unsupported(e.to_string()),
        Ok(Err(e)) => return Ended::Lost(e.to_string()),
        Err(why) => return Ended::Lost(why),
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // When the oldest notification sent and not yet echoed went out.
    let mut awaiting: Option<Instant> = None;
    let why = loop {
        let deadline = awaiting.map(|sent| sent + ECHO_TIMEOUT);
        tokio::select! {
            () = wake.notified() => {
                awaiting.get_or_insert_with(Instant::now);
                match bounded(client.batch_execute(&tell.notify)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => break e.to_string(),
                    Err(why) => break why,
                }
            }
            _ = heartbeat.tick() => {
                awaiting.get_or_insert_with(Instant::now);
                match bounded(client.batch_execute(NOTIFY_ALIVE)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => break e.to_string(),
                    Err(why) => break why,
                }
            }
            () = echo.notified() => {
                if awaiting.take().is_some() && !heard.live.load(Ordering::Acquire) {
                    // The first echo: the channel delivers.
                    heard.set_live(true);
                }
            }
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                break format!("no notification came back within {ECHO_TIMEOUT:?}");
            }
            why = &mut closed => break why.unwrap_or_default(),
        }
    };
    drop(driver);
    Ended::Lost(why)
}

/// A statement on the listening connection, given at most [`ECHO_TIMEOUT`] to answer: a half-open
/// connection never does, and the driver's keepalive would take far longer to notice.
async fn bounded<T>(
    work: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<Result<T, tokio_postgres::Error>, String> {
    tokio::time::timeout(ECHO_TIMEOUT, work)
        .await
        .map_err(|_| format!("the database did not answer within {ECHO_TIMEOUT:?}"))
}

/// A task that ends when this guard is dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
