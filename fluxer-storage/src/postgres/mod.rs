//! PostgreSQL storage for every repository port: the backend for instances that run more than one
//! API process, or that want their data on a database server.
//!
//! - Connections come from a `deadpool-postgres` pool of `pool_size` connections; when every
//!   connection is busy, callers wait (asynchronously) for one. Each connection keeps its prepared
//!   statements, so a repeated query costs one round trip.
//! - [`PostgresStore::connect`] applies pending migrations, each in its own transaction, recorded in
//!   `fluxer_schema_migrations` (one row per version). Instances that start together race safely: the
//!   loser of a version's row waits for the winner and skips that version.
//! - Writes that touch one row are one statement, atomic on their own, including the read-modify-write
//!   ones (an invite's use count, a read state's mentions, a session's `last_used_at`: the JSON is
//!   updated in SQL). Writes that touch several rows (a guild with its roles and channels, cascading
//!   deletes, batch updates) run in a transaction, retried on serialization failures and deadlocks.
//! - Entities are stored as JSONB next to the columns that are indexed, ordered or unique; a channel's
//!   `last_message_id` is a column of its own, so storing a message does not rewrite its channel. IDs
//!   are `BIGINT` (snowflakes stay below 2^63 until 2084), instants `BIGINT` Unix milliseconds.
//! - The SQL stays within what PostgreSQL-wire distributed databases (CockroachDB, YugabyteDB) accept:
//!   no extensions, no advisory locks, named constraints for the conflicts of the storage contract.
//! - Connections are plain TCP (no TLS): run it next to the database or through a secure network.
//! - What authorizing a request reads (a session with its user, a standing in a guild or channel)
//!   and the users a history page names are cached in memory, kept true across processes with
//!   `LISTEN`/`NOTIFY` (see `listener`): one more connection per store, and off where the database
//!   cannot notify.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use fluxer_core::ports::Store;
//! use fluxer_storage::postgres::PostgresStore;
//!
//! # async fn wire() -> Result<Arc<dyn Store>, fluxer_core::StoreError> {
//! let store = PostgresStore::connect("postgres://fluxer@127.0.0.1:5432/fluxer", 16).await?;
//! let store: Arc<dyn Store> = Arc::new(store);
//! # Ok(store)
//! # }
//! ```

mod listener;
mod repos;
mod schema;
mod search;

pub use search::PostgresSearch;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime,
};
use fluxer_core::StoreError;
use fluxer_core::ports::{PortResult, conflict};
use serde::{Deserialize, Serialize};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

/// How to connect a [`PostgresStore`]; deserializable from the host's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PostgresConfig {
    /// A libpq-style connection string: `postgres://user:password@host:5432/database` or
    /// `host=... user=... dbname=...`.
    pub url: String,
    /// Connections in the pool: at most this many queries run at once, the others wait.
    #[serde(default = "PostgresConfig::default_pool_size")]
    pub pool_size: usize,
}

impl PostgresConfig {
    /// The defaults for the database at `url`.
    pub fn new(url: impl Into<String>) -> PostgresConfig {
        PostgresConfig {
            url: url.into(),
            pool_size: Self::default_pool_size(),
        }
    }

    fn default_pool_size() -> usize {
        16
    }
}

/// Every repository on one PostgreSQL database. Cheap to clone: clones share the pool and the
/// access cache.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    access: Arc<listener::Access>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("pool", &self.pool.status())
            .finish()
    }
}

/// How long a new connection may take when the connection string does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a transaction is tried again after a serialization failure or a deadlock.
const TRANSACTION_RETRIES: u32 = 8;

impl PostgresStore {
    /// Connects to the database at `url` with a pool of `pool_size` connections (at least one) and
    /// applies pending migrations. Fails if the server cannot be reached, or if the database's schema
    /// is newer than this build's.
    pub async fn connect(url: &str, pool_size: usize) -> PortResult<PostgresStore> {
        let mut config = PostgresConfig::new(url);
        config.pool_size = pool_size;
        Self::connect_with(&config).await
    }

    /// Connects as `config` describes; see [`connect`](Self::connect).
    pub async fn connect_with(config: &PostgresConfig) -> PortResult<PostgresStore> {
        let pool = pool(config)?;
        let mut client = client_of(&pool).await?;
        schema::migrate(&mut client).await?;
        // Whether the database can tell the other processes of a write (see `listener`).
        let notifies = match client.batch_execute(listener::NOTIFY_ALIVE).await {
            Ok(()) => true,
            Err(e) if listener::is_unsupported(&e) => false,
            Err(e) => return Err(Failure::from(e).into()),
        };
        let access = listener::Access::start(pg_config(config)?, notifies);
        Ok(PostgresStore {
            pool,
            access: Arc::new(access),
        })
    }

    /// Closes the pool: idle connections close now, busy ones when they are returned. Later calls fail.
    /// The access cache's listening connection closes too.
    pub fn close(&self) {
        self.pool.close();
        self.access.stop();
    }

    /// A pooled connection, waiting for one when all are busy.
    pub(crate) async fn client(&self) -> Result<Conn, Failure> {
        Ok(Conn {
            client: client_of(&self.pool).await?,
            access: Arc::clone(&self.access),
        })
    }

    /// The access cache, while it may answer (see `listener`).
    pub(crate) fn access_cache(&self) -> Option<&crate::access_cache::AccessCache> {
        self.access.cache()
    }

    /// Forgets the cached answer for a session whose `last_used_at` this process just moved (the
    /// touch is not announced: elsewhere a cached copy only risks an early touch).
    pub(crate) fn session_touched(&self, token_hash: &[u8; 32]) {
        self.access.forget_session(token_hash);
    }

    /// Runs `attempt` until it succeeds or fails with something other than a serialization failure or
    /// a deadlock (PostgreSQL reports deadlocks between concurrent batch updates; serializable
    /// databases such as CockroachDB expect clients to retry their transactions).
    pub(crate) async fn retrying<T, F, Fut>(&self, mut attempt: F) -> PortResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut tries = 0;
        loop {
            match attempt().await {
                Err(e) if e.is_transient() && tries < TRANSACTION_RETRIES => {
                    tries += 1;
                    tracing::debug!(tries, error = %StoreError::from(e), "retrying a PostgreSQL transaction");
                    tokio::time::sleep(Duration::from_millis(2 << tries.min(6))).await;
                }
                other => return other.map_err(StoreError::from),
            }
        }
    }
}

/// The driver's configuration for the database `config` names.
fn pg_config(config: &PostgresConfig) -> PortResult<tokio_postgres::Config> {
    let mut pg: tokio_postgres::Config = config.url.parse().map_err(|e| {
        StoreError::backend_of(
            "postgres",
            format!("invalid PostgreSQL connection string: {e}"),
        )
    })?;
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(CONNECT_TIMEOUT);
    }
    Ok(pg)
}

/// A pool of connections to the database `config` names (connections open on first use).
fn pool(config: &PostgresConfig) -> PortResult<Pool> {
    let pg = pg_config(config)?;
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(config.pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| {
            StoreError::backend_of("postgres", format!("cannot build the connection pool: {e}"))
        })
}

/// A pooled connection from `pool`, waiting for one when all are busy.
async fn client_of(pool: &Pool) -> Result<Object, Failure> {
    pool.get().await.map_err(|e| {
        Failure::Store(StoreError::backend_of(
            "postgres",
            format!("no PostgreSQL connection: {}", pool_error(&e)),
        ))
    })
}

/// Runs a block in a transaction on a pooled connection and commits it, retrying the whole block on
/// transient failures (see [`PostgresStore::retrying`]). Inside the block `$tx` is a [`&Tx`](Tx);
/// `?` rolls back. The block is run again on a retry, so it must
/// only borrow what it uses.
macro_rules! transaction {
    ($store:expr, |$tx:ident| $body:block) => {{
        let store: &$crate::postgres::PostgresStore = $store;
        store
            .retrying(|| async {
                let mut client = store.client().await?;
                let transaction = client.transaction().await?;
                let out = {
                    let $tx = &transaction;
                    $body
                };
                transaction.commit().await?;
                Ok::<_, $crate::postgres::Failure>(out)
            })
            .await
    }};
}
pub(crate) use transaction;

/// Where a statement runs: a pooled connection, where each statement commits on its own, or a
/// transaction. The statement helpers (`repos`) call [`writing_access`](Db::writing_access) before
/// a statement that writes what the access cache holds (see `listener`).
pub(crate) trait Db: Sync {
    type Client: GenericClient + Sync;

    /// The driver's client.
    fn pg(&self) -> &Self::Client;

    /// A statement that writes what the access cache holds is about to run. On a pooled connection
    /// the answer is announced once the statement has run; a transaction announces at its commit.
    fn writing_access(&self) -> Option<Unannounced<'_>>;
}

/// A pooled connection with the store's access cache.
pub(crate) struct Conn {
    client: Object,
    access: Arc<listener::Access>,
}

impl Conn {
    /// Begins a transaction, which announces its writes to what access reads when it commits.
    pub(crate) async fn transaction(&mut self) -> Result<Tx<'_>, Failure> {
        Ok(Tx {
            transaction: self.client.transaction().await?,
            access: &self.access,
            wrote_access: AtomicBool::new(false),
        })
    }
}

impl Db for Conn {
    type Client = Object;

    fn pg(&self) -> &Object {
        &self.client
    }

    fn writing_access(&self) -> Option<Unannounced<'_>> {
        Some(Unannounced {
            access: &self.access,
            client: &self.client,
            announced: false,
        })
    }
}

/// A write to what the access cache holds, committed or possibly committed, that the processes on
/// the database have not all been told of yet. [`announce`](Self::announce) makes this process's
/// cache stale and tells the others with a notification on the same connection, before the write
/// is acknowledged. Dropped unannounced (the request was cancelled mid-statement, or the
/// notification failed), it makes the cache stale and leaves the telling to the listener.
pub(crate) struct Unannounced<'a> {
    access: &'a listener::Access,
    client: &'a Object,
    announced: bool,
}

impl Unannounced<'_> {
    pub(crate) async fn announce(mut self) {
        self.access.bump();
        self.announced = match self.access.notify_changed() {
            Some(notify) => self.client.batch_execute(notify).await.is_ok(),
            None => true,
        };
    }
}

impl Drop for Unannounced<'_> {
    fn drop(&mut self) {
        if !self.announced {
            self.access.changed();
        }
    }
}

/// A transaction on a pooled connection.
pub(crate) struct Tx<'a> {
    transaction: deadpool_postgres::Transaction<'a>,
    access: &'a listener::Access,
    /// Whether a statement wrote (or was about to write) what the access cache holds.
    wrote_access: AtomicBool,
}

impl Tx<'_> {
    /// Commits. A transaction that wrote what the access cache holds notifies inside itself (the
    /// other processes are told exactly when it commits) and makes this process's cache stale once
    /// the commit is over, however it ended, even when the caller stops waiting for it.
    pub(crate) async fn commit(self) -> Result<(), Failure> {
        if !self.wrote_access.load(Ordering::Acquire) {
            return Ok(self.transaction.commit().await?);
        }
        if let Some(notify) = self.access.notify_changed() {
            self.transaction.batch_execute(notify).await?;
        }
        let _stale = listener::StaleOnDrop(self.access);
        Ok(self.transaction.commit().await?)
    }
}

impl<'a> Db for Tx<'a> {
    type Client = deadpool_postgres::Transaction<'a>;

    fn pg(&self) -> &deadpool_postgres::Transaction<'a> {
        &self.transaction
    }

    fn writing_access(&self) -> Option<Unannounced<'_>> {
        self.wrote_access.store(true, Ordering::Release);
        None
    }
}

/// What went wrong inside the adapter, before it is reported as a [`StoreError`]: a driver error
/// keeps its SQLSTATE so that transient failures can be retried and unique violations named.
#[derive(Debug)]
pub(crate) enum Failure {
    Db(tokio_postgres::Error),
    Store(StoreError),
}

impl Failure {
    fn is_transient(&self) -> bool {
        let Failure::Db(e) = self else {
            return false;
        };
        matches!(
            e.code(),
            Some(&SqlState::T_R_SERIALIZATION_FAILURE) | Some(&SqlState::T_R_DEADLOCK_DETECTED)
        )
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Db(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Store(e) => e,
            Failure::Db(e) => db_error(&e),
        }
    }
}

/// The conflict of the storage contract that a unique constraint stands for (names in `schema`).
fn conflict_of(constraint: &str) -> Option<&'static str> {
    match constraint {
        "users_email_key" => Some(conflict::USER_EMAIL),
        "users_tag_key" => Some(conflict::USER_TAG),
        "guilds_vanity_key" => Some(conflict::GUILD_VANITY),
        "invites_pkey" => Some(conflict::INVITE_CODE),
        "members_pkey" => Some(conflict::MEMBER),
        "sso_identities_pkey" => Some(conflict::SSO_IDENTITY),
        _ => None,
    }
}

/// Maps a driver error, turning unique violations into the named conflicts of the storage contract.
fn db_error(e: &tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        return StoreError::backend_of("postgres", fluxer_core::error::chain(e));
    };
    if *db.code() == SqlState::UNIQUE_VIOLATION
        && let Some(name) = db.constraint().and_then(conflict_of)
    {
        return StoreError::Conflict(name);
    }
    StoreError::backend_of(
        "postgres",
        format!("PostgreSQL error {}: {}", db.code().code(), db.message()),
    )
}

fn pool_error(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(db) => fluxer_core::error::chain(db),
        other => fluxer_core::error::chain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The constraints that stand for the contract's conflicts, as the schema names them.
    const CONFLICT_CONSTRAINTS: [&str; 5] = [
        "users_email_key",
        "users_tag_key",
        "guilds_vanity_key",
        "invites_pkey",
        "members_pkey",
    ];

    #[test]
    fn every_contract_conflict_is_a_constraint_of_the_schema() {
        for name in [
            conflict::USER_EMAIL,
            conflict::USER_TAG,
            conflict::GUILD_VANITY,
            conflict::INVITE_CODE,
            conflict::MEMBER,
        ] {
            let constraint = CONFLICT_CONSTRAINTS
                .iter()
                .find(|c| conflict_of(c) == Some(name))
                .unwrap_or_else(|| panic!("{name} has no constraint"));
            assert!(
                schema::MIGRATIONS
                    .iter()
                    .any(|m| m.contains(&format!("CONSTRAINT {constraint} "))),
                "the schema does not name {constraint}"
            );
        }
        assert_eq!(conflict_of("bans_pkey"), None);
    }
}
