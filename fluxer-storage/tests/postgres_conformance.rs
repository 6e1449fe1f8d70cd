//! The PostgreSQL adapter against the storage conformance suite, on a fresh database per test.
//!
//! The server comes from `FLUXER_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432`);
//! its role must be allowed to create databases. Each case gets its own database,
//! `fluxer_test_<unix secs>_<pid>_<counter>_<random>`, created through the `postgres` maintenance
//! database. Databases of finished cases are dropped by the cases that start after them, and a run
//! drops what earlier runs left behind. An unreachable server fails every case: these tests never skip.

#![cfg(feature = "postgres")]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fluxer_core::ports::Store;
use fluxer_storage::postgres::PostgresStore;
use tokio_postgres::{Client, NoTls};

const PREFIX: &str = "fluxer_test_";

/// Another run's database older than this is presumed abandoned (a live one still refuses the drop:
/// a store keeps its pooled connections open).
const STALE_AFTER: Duration = Duration::from_secs(60);

/// Databases this process created whose store has not connected yet: not to be swept.
static PENDING: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn server_url() -> String {
    std::env::var("FLUXER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// `url` pointed at database `name`, for both URL and `key=value` connection strings.
fn with_database(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return format!("{url} dbname={name}");
    };
    let (base, query) = match url.find('?') {
        Some(q) => url.split_at(q),
        None => (url, ""),
    };
    let authority_start = scheme_end + 3;
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    format!("{}/{name}{query}", &base[..authority_end])
}

fn pending() -> std::sync::MutexGuard<'static, Vec<String>> {
    PENDING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connection to the maintenance database; panics with a clear message when the server is down.
async fn admin() -> Client {
    let url = with_database(&server_url(), "postgres");
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap_or_else(|e| {
        panic!(
            "cannot reach the PostgreSQL test server at {url} ({e}{}). Start PostgreSQL or point \
             FLUXER_TEST_POSTGRES_URL at one; these tests do not skip.",
            std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default()
        )
    });
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(n);
    let random = hasher.finish() & 0xffff_ffff;
    format!(
        "{PREFIX}{}_{}_{n}_{random:08x}",
        unix_secs(),
        std::process::id()
    )
}

/// Drops the test databases nobody uses any more: this process's whose store has gone away, and
/// other runs' that are old. A database with open connections refuses the drop, which is ignored.
async fn sweep(admin: &Client) {
    let rows = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'fluxer\\_test\\_%'",
            &[],
        )
        .await
        .expect("list test databases");
    let me = std::process::id().to_string();
    let now = unix_secs();
    for row in rows {
        let name: String = row.get(0);
        let mut parts = name[PREFIX.len()..].split('_');
        let (created, pid) = (
            parts.next().and_then(|s| s.parse::<u64>().ok()),
            parts.next(),
        );
        let ours = pid == Some(me.as_str());
        let droppable = if ours {
            !pending().contains(&name)
        } else {
            created.is_none_or(|t| now.saturating_sub(t) > STALE_AFTER.as_secs())
        };
        if droppable {
            let _ = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                .await;
        }
    }
}

/// A new, empty database on the test server.
struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates one. It is not swept until [`connected`](Self::connected) says a store holds it.
    async fn create() -> TestDatabase {
        let admin = admin().await;
        sweep(&admin).await;
        let name = unique_name();
        pending().push(name.clone());
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e:?}"));
        let url = with_database(&server_url(), &name);
        TestDatabase { name, url }
    }

    /// Makes the database sweepable once the stores on it go away.
    fn connected(&self) {
        pending().retain(|p| *p != self.name);
    }
}

/// A store on a new, empty database.
async fn fresh_store() -> Arc<dyn Store> {
    let db = TestDatabase::create().await;
    let store = PostgresStore::connect(&db.url, 4).await;
    db.connected();
    Arc::new(store.unwrap_or_else(|e| panic!("cannot open test database {}: {e}", db.name)))
}

fluxer_core::storage_conformance_tests!(async { fresh_store().await });

#[test]
fn database_names_replace_the_url_path() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
        "postgresql://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("host=h user=u", "x"),
        "host=h user=u dbname=x"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let db = TestDatabase::create().await;
    let url = db.url.as_str();
    let first = PostgresStore::connect(url, 1).await;
    db.connected();
    let _first = first.expect("first connect migrates");
    let _second = PostgresStore::connect(url, 1)
        .await
        .expect("a second connect finds nothing to do");

    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM fluxer_schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!versions.is_empty());
    assert_eq!(
        versions,
        (1..=versions.len() as i32).collect::<Vec<_>>(),
        "each version once"
    );

    let newer = versions.len() as i32 + 1;
    client
        .execute(
            "INSERT INTO fluxer_schema_migrations (version) VALUES ($1)",
            &[&newer],
        )
        .await
        .unwrap();
    let refused = PostgresStore::connect(url, 1).await.unwrap_err();
    let refused = fluxer_core::error::chain(&refused);
    assert!(refused.contains("newer"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_migrate_once() {
    let db = TestDatabase::create().await;
    let (a, b, c) = tokio::join!(
        PostgresStore::connect(&db.url, 1),
        PostgresStore::connect(&db.url, 1),
        PostgresStore::connect(&db.url, 1),
    );
    db.connected();
    for store in [a, b, c] {
        store.expect("every instance starts");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_an_error() {
    // Port 1 on the loopback interface: nothing listens there.
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/fluxer", 1)
        .await
        .unwrap_err();
    let err = fluxer_core::error::chain(&err);
    assert!(err.contains("no PostgreSQL connection"), "{err}");
}

/// Two stores on one database, as two API processes. Each answers authorization from its cache; a
/// write through one is seen by the writer at once and by the other within moments (it is told with
/// `NOTIFY`), long before a cached answer's age limit of a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_process_reaches_the_others_cache() {
    use fluxer_core::ports::{AccessRepository, SessionRepository, UserRepository};
    use fluxer_core::testing::fixtures::Fixtures;
    use fluxer_core::time::Timestamp;

    let db = TestDatabase::create().await;
    let writer = PostgresStore::connect(&db.url, 2).await.unwrap();
    let reader = PostgresStore::connect(&db.url, 2).await.unwrap();
    db.connected();
    let (raw, connection) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(connection);

    let fx = Fixtures::new();
    let user = fx.make_user();
    writer.create_user(&user).await.unwrap();
    let session = fx.make_session(user.id, Timestamp::from_unix_ms(1_700_000_000_000));
    writer.create_session(&session).await.unwrap();
    let hash = session.token_hash;
    let name_seen_by = |store: &PostgresStore| {
        let store = store.clone();
        async move {
            let (_, user) = store
                .get_session_user(&hash)
                .await
                .unwrap()
                .expect("signed in");
            user.username
        }
    };

    // Wait until the reader's cache answers: a rename behind every store's back (no notification)
    // is not seen through it. Until its listener is up, every read goes to the database.
    let started = std::time::Instant::now();
    loop {
        // (A read that raced the listener's start may have cached the rename: it expires.)
        let before = name_seen_by(&reader).await;
        raw.execute(
            "UPDATE users SET data = jsonb_set(data, '{username}', '\"renamed\"') WHERE id = $1",
            &[&(user.id.get() as i64)],
        )
        .await
        .unwrap();
        let cached = before == user.username && name_seen_by(&reader).await == user.username;
        raw.execute(
            "UPDATE users SET data = jsonb_set(data, '{username}', to_jsonb($2::text)) WHERE id = $1",
            &[&(user.id.get() as i64), &user.username],
        )
        .await
        .unwrap();
        // Told as a write through a store would tell: no cache keeps the rename.
        raw.batch_execute("NOTIFY fluxer_access").await.unwrap();
        if cached {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the reader's cache never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(name_seen_by(&writer).await, user.username);
    // The reader holds the session again, read after the last notification had arrived.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(name_seen_by(&reader).await, user.username);

    // A sign-out through the writer: the writer sees it at once, the reader within moments (the
    // entry it holds was read just now and would stand for seconds more untold).
    assert!(writer.delete_session(&hash).await.unwrap());
    assert_eq!(writer.get_session_user(&hash).await.unwrap(), None);
    let told = std::time::Instant::now();
    while reader.get_session_user(&hash).await.unwrap().is_some() {
        assert!(
            told.elapsed() < Duration::from_secs(3),
            "the reader still answers from its cache 3 s after the write"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The PostgreSQL full-text search adapter against the search conformance suite, each case on a
/// fresh database.
mod search {
    use super::*;
    use fluxer_core::ports::SearchIndex;
    use fluxer_storage::postgres::{PostgresConfig, PostgresSearch};

    async fn fresh_search() -> PostgresSearch {
        let db = TestDatabase::create().await;
        let mut config = PostgresConfig::new(&db.url);
        config.pool_size = 4;
        let search = PostgresSearch::connect(&config).await;
        db.connected();
        search.unwrap_or_else(|e| panic!("cannot open test database {}: {e}", db.name))
    }

    fluxer_core::search_conformance_tests!(async {
        Arc::new(fresh_search().await) as Arc<dyn SearchIndex>
    });

    /// Query text is data: tsquery operators, quotes and backslashes in it are split away like any
    /// other non-word character, never parsed, and the storage schema's ledger is not the search's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn query_syntax_in_user_input_is_plain_text() {
        use fluxer_core::id::{ChannelId, MessageId, UserId};
        use fluxer_core::ports::{MessageDocument, MessageSearch};
        use fluxer_core::time::Timestamp;

        let search = fresh_search().await;
        let doc = |id: u64, content: &str| MessageDocument {
            id: MessageId::new(id),
            channel_id: ChannelId::new(7),
            guild_id: None,
            author_id: UserId::new(3),
            content: content.to_owned(),
            timestamp: Timestamp::from_unix_ms(1_700_000_000_000),
            has: Vec::new(),
            mentions: Vec::new(),
            pinned: false,
        };
        search
            .index_messages(&[doc(100, "it's a rust-resistant rose"), doc(200, "roses")])
            .await
            .unwrap();
        let find = |content: &str| MessageSearch {
            content: Some(content.to_owned()),
            channel_ids: vec![ChannelId::new(7)],
            limit: 10,
            ..Default::default()
        };
        for q in [
            "it's",
            "ROSE & !rust",
            "rose:*",
            "'rose' | 'it'",
            "rose\\",
            "resistant') --",
        ] {
            let found = search.search_messages(&find(q)).await.unwrap();
            assert_eq!(
                found.hits,
                vec![(ChannelId::new(7), MessageId::new(100))],
                "{q}"
            );
        }
        // No prefix matching in message content, and no stemming.
        assert_eq!(search.search_messages(&find("ros")).await.unwrap().total, 0);
        assert_eq!(
            search.search_users("a' | 'b", 10).await.unwrap(),
            Vec::<UserId>::new()
        );
    }
}
