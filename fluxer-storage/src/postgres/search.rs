//! Full-text search on PostgreSQL: messages, discoverable guilds and user names in three tables on
//! the cluster's database, so that every node can index and search without a shared directory.
//!
//! - Words are cut here as tantivy's default analyzer cuts them (split on non-alphanumerics,
//!   lower-cased, words of 40 bytes or more dropped, no stemming) and stored as the lexemes of a
//!   `tsvector` (`array_to_tsvector`: PostgreSQL's own parser would keep `rust-resistant` whole
//!   and read URLs and e-mail addresses as one token). A query is the same words joined into a
//!   `tsquery` with `&`, handed over as a bound parameter; GIN indexes answer both.
//! - Filters are columns: `(channel_id, id)`, `(author_id, id)` and `(guild_id, id)` btrees, the
//!   mentions in a `BIGINT[]` with a GIN index, and `has` as a bitmask (five values: an index on
//!   them would cost every write and never be chosen).
//! - Every write is its own statement and visible at once: [`SearchIndex::commit`] has nothing to
//!   do. Writers do not coordinate: a batch replaces its rows by ID (`ON CONFLICT DO UPDATE`).
//! - Tables are versioned in their own ledger, `fluxer_search_migrations`, so the index can live in
//!   the storage database or in another one.

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use fluxer_core::StoreError;
use fluxer_core::id::{ChannelId, GuildId, MessageId, UserId};
use fluxer_core::ports::{
    GuildDocument, Has, MessageDocument, MessageSearch, PortResult, SearchHits, SearchIndex,
    UserDocument,
};
use serde_json::json;
use tokio_postgres::types::ToSql;

use super::{Failure, PostgresConfig, client_of, pool, schema};

const LEDGER: &str = "fluxer_search_migrations";

/// Migration N brings the search tables from version N to N+1.
const MIGRATIONS: &[&str] = &[
    // 1: messages, guilds and users.
    "
    CREATE TABLE search_messages (
        id BIGINT NOT NULL,
        channel_id BIGINT NOT NULL,
        guild_id BIGINT,
        author_id BIGINT NOT NULL,
        sent_at BIGINT NOT NULL,
        words TSVECTOR NOT NULL,
        has INTEGER NOT NULL,
        mentions BIGINT[] NOT NULL,
        pinned BOOLEAN NOT NULL,
        CONSTRAINT search_messages_pkey PRIMARY KEY (id)
    );
    CREATE INDEX search_messages_words ON search_messages USING GIN (words);
    CREATE INDEX search_messages_mentions ON search_messages USING GIN (mentions);
    CREATE INDEX search_messages_by_channel ON search_messages (channel_id, id);
    CREATE INDEX search_messages_by_author ON search_messages (author_id, id);
    CREATE INDEX search_messages_by_guild ON search_messages (guild_id, id);
    CREATE TABLE search_guilds (
        id BIGINT NOT NULL,
        words TSVECTOR NOT NULL,
        member_count BIGINT NOT NULL,
        CONSTRAINT search_guilds_pkey PRIMARY KEY (id)
    );
    CREATE INDEX search_guilds_words ON search_guilds USING GIN (words);
    CREATE INDEX search_guilds_by_members ON search_guilds (member_count DESC, id);
    CREATE TABLE search_users (
        id BIGINT NOT NULL,
        words TSVECTOR NOT NULL,
        CONSTRAINT search_users_pkey PRIMARY KEY (id)
    );
    CREATE INDEX search_users_words ON search_users USING GIN (words);
    ",
];

/// Words this long (in bytes) or longer are not indexed, as tantivy's `RemoveLongFilter` drops them.
const LONGEST_WORD: usize = 40;

/// The words of `text` as they are indexed and searched: split on anything not alphanumeric,
/// lower-cased, in order (duplicates kept).
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() < LONGEST_WORD)
        .map(str::to_lowercase)
}

/// The lexemes of a document made of `texts`, each once.
fn lexemes<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = texts.into_iter().flat_map(words).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A lexeme quoted for the `tsquery` input syntax: the quotes make operators and spaces inside it
/// plain characters (words are alphanumeric anyway; this is the second line of defence).
fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\\', "\\\\").replace('\'', "''"))
}

/// Every word of `text` required, or `None` when it has no word (which matches everything).
fn all_words(text: &str) -> Option<String> {
    let terms: Vec<String> = words(text).map(|w| quoted(&w)).collect();
    (!terms.is_empty()).then(|| terms.join(" & "))
}

fn has_bit(has: Has) -> i32 {
    1 << match has {
        Has::Link => 0,
        Has::File => 1,
        Has::Image => 2,
        Has::Video => 3,
        Has::Embed => 4,
    }
}

fn sql_id(id: u64) -> i64 {
    id as i64
}

fn backend(e: impl Into<fluxer_core::error::BoxError>) -> StoreError {
    StoreError::backend_of("postgres-search", e)
}

/// Keeps the last document of each ID: one statement may not update a row twice.
fn last_per_id<T>(docs: &[T], id: impl Fn(&T) -> u64) -> Vec<&T> {
    let mut at: HashMap<u64, usize> = HashMap::with_capacity(docs.len());
    for (i, d) in docs.iter().enumerate() {
        at.insert(id(d), i);
    }
    let mut kept: Vec<usize> = at.into_values().collect();
    kept.sort_unstable();
    kept.into_iter().map(|i| &docs[i]).collect()
}

/// A [`SearchIndex`] on PostgreSQL full-text search. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct PostgresSearch {
    pool: Pool,
}

impl std::fmt::Debug for PostgresSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSearch")
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl PostgresSearch {
    /// Connects to the database `config` names and creates or updates the search tables. Fails if
    /// the server cannot be reached or its search tables are from a newer build.
    pub async fn connect(config: &PostgresConfig) -> PortResult<PostgresSearch> {
        let search = PostgresSearch {
            pool: pool(config)?,
        };
        let mut client = client_of(&search.pool).await?;
        schema::migrate_to(&mut client, LEDGER, MIGRATIONS, MIGRATIONS.len() as i32).await?;
        Ok(search)
    }

    /// Removes every document (before a rebuild from the database).
    pub async fn clear(&self) -> PortResult<()> {
        self.client()
            .await?
            .batch_execute("TRUNCATE search_messages, search_guilds, search_users")
            .await
            .map_err(Failure::from)?;
        Ok(())
    }

    /// Closes the pool; later calls fail.
    pub fn close(&self) {
        self.pool.close();
    }

    async fn client(&self) -> PortResult<deadpool_postgres::Object> {
        Ok(client_of(&self.pool).await?)
    }

    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> PortResult<()> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(Failure::from)?;
        client
            .execute(&statement, params)
            .await
            .map_err(Failure::from)?;
        Ok(())
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> PortResult<Vec<tokio_postgres::Row>> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(Failure::from)?;
        Ok(client
            .query(&statement, params)
            .await
            .map_err(Failure::from)?)
    }

    async fn delete(&self, table: &'static str, ids: Vec<i64>) -> PortResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.execute(&format!("DELETE FROM {table} WHERE id = ANY($1)"), &[&ids])
            .await
    }
}

fn column<T: for<'a> tokio_postgres::types::FromSql<'a>>(
    row: &tokio_postgres::Row,
    i: usize,
) -> PortResult<T> {
    row.try_get(i).map_err(backend)
}

/// The parts of a message search's SQL after `FROM search_messages`: a `WHERE` clause with the
/// values it binds, in order. Only fixed text goes into the SQL; every value is a parameter.
struct MessageFilter {
    clause: String,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl MessageFilter {
    fn of(q: &MessageSearch) -> MessageFilter {
        let mut f = MessageFilter {
            clause: String::new(),
            params: Vec::new(),
        };
        let channels: Vec<i64> = q.channel_ids.iter().map(|c| sql_id(c.get())).collect();
        f.and("channel_id = ANY($)", channels);
        if let Some(words) = q.content.as_deref().and_then(all_words) {
            f.and("words @@ ($::text)::tsquery", words);
        }
        if !q.author_ids.is_empty() {
            let authors: Vec<i64> = q.author_ids.iter().map(|a| sql_id(a.get())).collect();
            f.and("author_id = ANY($)", authors);
        }
        if !q.mentions.is_empty() {
            let users: Vec<i64> = q.mentions.iter().map(|u| sql_id(u.get())).collect();
            f.and("mentions @> $::bigint[]", users);
        }
        let has = q.has.iter().fold(0, |bits, h| bits | has_bit(*h));
        if has != 0 {
            f.and("has & $::integer = $same", has);
        }
        if let Some(pinned) = q.pinned {
            f.and("pinned = $", pinned);
        }
        if let Some(min) = q.min_id {
            f.and("id > $", sql_id(min.get()));
        }
        if let Some(max) = q.max_id {
            f.and("id < $", sql_id(max.get()));
        }
        f
    }

    /// Adds `condition`, whose `$` is the next parameter (`$same` repeats it).
    fn and(&mut self, condition: &str, value: impl ToSql + Sync + Send + 'static) {
        self.params.push(Box::new(value));
        let n = format!("${}", self.params.len());
        let condition = condition.replace("$same", &n).replacen('$', &n, 1);
        self.clause.push_str(if self.clause.is_empty() {
            " WHERE "
        } else {
            " AND "
        });
        self.clause.push_str(&condition);
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| &**p as &(dyn ToSql + Sync))
            .collect()
    }
}

#[async_trait]
impl SearchIndex for PostgresSearch {
    async fn index_messages(&self, docs: &[MessageDocument]) -> PortResult<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let rows: Vec<serde_json::Value> = last_per_id(docs, |d| d.id.get())
            .into_iter()
            .map(|d| {
                json!({
                    "id": sql_id(d.id.get()),
                    "channel_id": sql_id(d.channel_id.get()),
                    "guild_id": d.guild_id.map(|g| sql_id(g.get())),
                    "author_id": sql_id(d.author_id.get()),
                    "sent_at": d.timestamp.unix_ms(),
                    "words": lexemes([d.content.as_str()]),
                    "has": d.has.iter().fold(0, |bits, h| bits | has_bit(*h)),
                    "mentions": d.mentions.iter().map(|u| sql_id(u.get())).collect::<Vec<_>>(),
                    "pinned": d.pinned,
                })
            })
            .collect();
        let rows = serde_json::Value::Array(rows);
        self.execute(
            "INSERT INTO search_messages
                 (id, channel_id, guild_id, author_id, sent_at, words, has, mentions, pinned)
             SELECT id, channel_id, guild_id, author_id, sent_at, array_to_tsvector(words), has,
                    mentions, pinned
             FROM jsonb_to_recordset($1::jsonb) AS d(id BIGINT, channel_id BIGINT,
                 guild_id BIGINT, author_id BIGINT, sent_at BIGINT, words TEXT[], has INTEGER,
                 mentions BIGINT[], pinned BOOLEAN)
             ON CONFLICT ON CONSTRAINT search_messages_pkey DO UPDATE SET
                 channel_id = EXCLUDED.channel_id, guild_id = EXCLUDED.guild_id,
                 author_id = EXCLUDED.author_id, sent_at = EXCLUDED.sent_at,
                 words = EXCLUDED.words, has = EXCLUDED.has, mentions = EXCLUDED.mentions,
                 pinned = EXCLUDED.pinned",
            &[&rows],
        )
        .await
    }

    async fn delete_messages(&self, ids: &[MessageId]) -> PortResult<()> {
        self.delete(
            "search_messages",
            ids.iter().map(|i| sql_id(i.get())).collect(),
        )
        .await
    }

    async fn commit(&self) -> PortResult<()> {
        // Every write was its own committed statement.
        Ok(())
    }

    async fn search_messages(&self, q: &MessageSearch) -> PortResult<SearchHits> {
        if q.channel_ids.is_empty() {
            return Ok(SearchHits::default());
        }
        let filter = MessageFilter::of(q);
        let count = || async {
            let sql = format!("SELECT count(*) FROM search_messages{}", filter.clause);
            let rows = self.query(&sql, &filter.params()).await?;
            let total = rows.first().map(|r| column::<i64>(r, 0)).transpose()?;
            Ok::<_, StoreError>(total.unwrap_or(0) as u64)
        };
        if q.limit == 0 {
            return Ok(SearchHits {
                hits: Vec::new(),
                total: count().await?,
            });
        }
        let order = if q.ascending { "ASC" } else { "DESC" };
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
        let n = filter.params.len();
        // The page and the total in one pass over the matches.
        let sql = format!(
            "SELECT channel_id, id, count(*) OVER () FROM search_messages{} ORDER BY id {order} \
             LIMIT ${} OFFSET ${}",
            filter.clause,
            n + 1,
            n + 2
        );
        let mut params = filter.params();
        params.push(&limit);
        params.push(&offset);
        let rows = self.query(&sql, &params).await?;
        let mut hits = Vec::with_capacity(rows.len());
        let mut total = None;
        for row in &rows {
            hits.push((
                ChannelId::new(column::<i64>(row, 0)? as u64),
                MessageId::new(column::<i64>(row, 1)? as u64),
            ));
            total = Some(column::<i64>(row, 2)? as u64);
        }
        let total = match total {
            Some(total) => total,
            // A page past the end has no row to carry the total.
            None if q.offset > 0 => count().await?,
            None => 0,
        };
        Ok(SearchHits { hits, total })
    }

    async fn index_guilds(&self, docs: &[GuildDocument]) -> PortResult<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let rows: Vec<serde_json::Value> = last_per_id(docs, |g| g.id.get())
            .into_iter()
            .map(|g| {
                let texts = std::iter::once(g.name.as_str()).chain(g.description.as_deref());
                json!({
                    "id": sql_id(g.id.get()),
                    "words": lexemes(texts),
                    "member_count": i64::try_from(g.member_count).unwrap_or(i64::MAX),
                })
            })
            .collect();
        let rows = serde_json::Value::Array(rows);
        self.execute(
            "INSERT INTO search_guilds (id, words, member_count)
             SELECT id, array_to_tsvector(words), member_count
             FROM jsonb_to_recordset($1::jsonb) AS d(id BIGINT, words TEXT[], member_count BIGINT)
             ON CONFLICT ON CONSTRAINT search_guilds_pkey DO UPDATE SET
                 words = EXCLUDED.words, member_count = EXCLUDED.member_count",
            &[&rows],
        )
        .await
    }

    async fn delete_guilds(&self, ids: &[GuildId]) -> PortResult<()> {
        self.delete(
            "search_guilds",
            ids.iter().map(|i| sql_id(i.get())).collect(),
        )
        .await
    }

    async fn search_guilds(
        &self,
        query: &str,
        offset: usize,
        limit: usize,
    ) -> PortResult<(Vec<GuildId>, u64)> {
        let words = all_words(query);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let matching = "($1::text IS NULL OR words @@ ($1::text)::tsquery)";
        let rows = self
            .query(
                &format!(
                    "SELECT id, count(*) OVER () FROM search_guilds WHERE {matching} \
                     ORDER BY member_count DESC, id ASC LIMIT $2 OFFSET $3"
                ),
                &[&words, &limit, &offset],
            )
            .await?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut total = None;
        for row in &rows {
            ids.push(GuildId::new(column::<i64>(row, 0)? as u64));
            total = Some(column::<i64>(row, 1)? as u64);
        }
        let total = match total {
            Some(total) => total,
            None => {
                let rows = self
                    .query(
                        &format!("SELECT count(*) FROM search_guilds WHERE {matching}"),
                        &[&words],
                    )
                    .await?;
                rows.first()
                    .map(|r| column::<i64>(r, 0))
                    .transpose()?
                    .unwrap_or(0) as u64
            }
        };
        Ok((ids, total))
    }

    async fn index_users(&self, docs: &[UserDocument]) -> PortResult<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let rows: Vec<serde_json::Value> = last_per_id(docs, |u| u.id.get())
            .into_iter()
            .map(|u| {
                let texts = std::iter::once(u.username.as_str()).chain(u.global_name.as_deref());
                json!({ "id": sql_id(u.id.get()), "words": lexemes(texts) })
            })
            .collect();
        let rows = serde_json::Value::Array(rows);
        self.execute(
            "INSERT INTO search_users (id, words)
             SELECT id, array_to_tsvector(words)
             FROM jsonb_to_recordset($1::jsonb) AS d(id BIGINT, words TEXT[])
             ON CONFLICT ON CONSTRAINT search_users_pkey DO UPDATE SET words = EXCLUDED.words",
            &[&rows],
        )
        .await
    }

    async fn delete_users(&self, ids: &[UserId]) -> PortResult<()> {
        self.delete(
            "search_users",
            ids.iter().map(|i| sql_id(i.get())).collect(),
        )
        .await
    }

    async fn search_users(&self, prefix: &str, limit: usize) -> PortResult<Vec<UserId>> {
        let prefix = prefix.to_lowercase();
        if limit == 0 || prefix.is_empty() || !prefix.chars().all(char::is_alphanumeric) {
            // Indexed words are alphanumeric: nothing else can match.
            return Ok(Vec::new());
        }
        let starts_with = format!("{}:*", quoted(&prefix));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .query(
                "SELECT id FROM search_users WHERE words @@ ($1::text)::tsquery \
                 ORDER BY id LIMIT $2",
                &[&starts_with, &limit],
            )
            .await?;
        rows.iter()
            .map(|r| Ok(UserId::new(column::<i64>(r, 0)? as u64)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_tantivys_default_analyzer() {
        assert_eq!(
            words("Hello, WORLD! rust-resistant https://x.io/a?b=c ünïcode").collect::<Vec<_>>(),
            [
                "hello",
                "world",
                "rust",
                "resistant",
                "https",
                "x",
                "io",
                "a",
                "b",
                "c",
                "ünïcode"
            ]
        );
        let long = "a".repeat(LONGEST_WORD);
        assert_eq!(
            words(&format!("{long} short")).collect::<Vec<_>>(),
            ["short"]
        );
    }

    #[test]
    fn queries_quote_every_word() {
        assert_eq!(all_words("a b"), Some("'a' & 'b'".to_owned()));
        assert_eq!(all_words(" !& |"), None);
        assert_eq!(quoted("it's"), "'it''s'");
        assert_eq!(quoted("a\\"), "'a\\\\'");
    }
}
