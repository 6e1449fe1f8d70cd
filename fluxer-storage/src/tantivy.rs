//! Full-text search on tantivy: messages, discoverable guilds and user names, in one index.
//!
//! Every document has a `kind` (message, guild, user) and an `id` (a snowflake: unique across kinds,
//! so replacing or deleting by `id` needs no kind).
//! One document per message. `content` goes through tantivy's default analyzer (split on
//! non-alphanumerics, lower-cased), so words match whole and case-insensitively; every other field is
//! an indexed `u64` (`has` and `mentions` multi-valued), and `id` and `channel_id` are fast fields too:
//! results are ordered by message ID straight from the column, and a hit's channel is read from its
//! column without loading the stored document.
//!
//! Writes go to one `IndexWriter` and become visible at [`SearchIndex::commit`], which also reloads
//! the reader. Committing per message would cut the indexing rate by an order of magnitude; the worker
//! commits on a timer instead (see `fluxer::worker`). Replacing a document deletes the old one by its
//! `id` term first, so re-indexing an edited message is idempotent; a document whose ID is above every
//! ID the index has held cannot have an old copy, and skips that delete (new messages arrive in ID
//! order, so indexing fresh messages never pays for it: a delete costs a term lookup in every segment
//! at commit).

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::id::{ChannelId, GuildId, MessageId, UserId};
use fluxer_core::ports::{
    GuildDocument, Has, MessageDocument, MessageSearch, PortResult, SearchHits, SearchIndex,
    UserDocument,
};
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, RegexQuery, TermQuery, TermSetQuery};
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TEXT};
use tantivy::{Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term};

/// Memory the writer may buffer before it flushes a segment (tantivy's minimum is 15 MB per thread).
const WRITER_BUDGET: usize = 64 * 1024 * 1024;

const MESSAGE: u64 = 1;
const GUILD: u64 = 2;
const USER: u64 = 3;

#[derive(Clone, Copy)]
struct Fields {
    kind: Field,
    /// Guild name and description; user name and global name.
    names: Field,
    member_count: Field,
    id: Field,
    channel_id: Field,
    guild_id: Field,
    author_id: Field,
    content: Field,
    timestamp: Field,
    has: Field,
    mentions: Field,
    pinned: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        kind: b.add_u64_field("kind", INDEXED),
        names: b.add_text_field("names", TEXT),
        member_count: b.add_u64_field("member_count", FAST),
        id: b.add_u64_field("id", INDEXED | FAST | STORED),
        channel_id: b.add_u64_field("channel_id", INDEXED | FAST),
        guild_id: b.add_u64_field("guild_id", INDEXED),
        author_id: b.add_u64_field("author_id", INDEXED),
        content: b.add_text_field("content", TEXT),
        timestamp: b.add_i64_field("timestamp", FAST),
        has: b.add_u64_field("has", INDEXED),
        mentions: b.add_u64_field("mentions", INDEXED),
        pinned: b.add_u64_field("pinned", INDEXED),
    };
    (b.build(), fields)
}

fn has_code(has: Has) -> u64 {
    match has {
        Has::Link => 1,
        Has::File => 2,
        Has::Image => 3,
        Has::Video => 4,
        Has::Embed => 5,
    }
}

/// A message search index on tantivy. Cheap to clone.
#[derive(Clone)]
pub struct TantivySearchIndex {
    inner: Arc<Inner>,
}

struct Inner {
    index: Index,
    reader: IndexReader,
    /// `None` for a read-only view (an API node reading the index a worker writes).
    writer: Option<Mutex<IndexWriter>>,
    fields: Fields,
    /// At least the highest `id` ever added (deleted documents included); changed under the writer lock.
    highest_id: AtomicU64,
}

fn backend(e: impl Into<fluxer_core::error::BoxError>) -> StoreError {
    StoreError::backend_of("tantivy", e)
}

/// The highest `id` in any committed segment (deleted documents count: they only make it higher).
fn highest_id(reader: &IndexReader, id: Field) -> PortResult<u64> {
    let searcher = reader.searcher();
    let name = searcher.schema().get_field_name(id).to_owned();
    let mut highest = 0;
    for segment in searcher.segment_readers() {
        let column = segment.fast_fields().u64(&name).map_err(backend)?;
        if segment.max_doc() > 0 {
            highest = highest.max(column.max_value());
        }
    }
    Ok(highest)
}

impl TantivySearchIndex {
    /// Opens the index in `dir`, creating it (and the directory) when missing.
    pub fn open(dir: impl AsRef<Path>) -> PortResult<TantivySearchIndex> {
        std::fs::create_dir_all(dir.as_ref()).map_err(backend)?;
        let directory = MmapDirectory::open(dir.as_ref()).map_err(backend)?;
        let (schema, _) = schema();
        let index = Index::open_or_create(directory, schema).map_err(backend)?;
        Self::with_index(index, true)
    }

    /// A read-only view of the index in `dir`, which another process writes (one writer per index:
    /// in a multi-node deployment the worker indexes and API nodes search). Commits show up within
    /// about a second; writing through this view is an error.
    pub fn open_read_only(dir: impl AsRef<Path>) -> PortResult<TantivySearchIndex> {
        std::fs::create_dir_all(dir.as_ref()).map_err(backend)?;
        let (schema, _) = schema();
        let index = match Index::open_in_dir(dir.as_ref()) {
            Ok(index) => index,
            // Not created yet: create it (the writer may race us to it; then open theirs).
            Err(_) => match Index::create_in_dir(dir.as_ref(), schema) {
                Ok(index) => index,
                Err(_) => Index::open_in_dir(dir.as_ref()).map_err(backend)?,
            },
        };
        Self::with_index(index, false)
    }

    /// An index in memory, for tests and ephemeral instances.
    pub fn open_in_ram() -> PortResult<TantivySearchIndex> {
        let (schema, _) = schema();
        Self::with_index(Index::create_in_ram(schema), true)
    }

    fn with_index(index: Index, writable: bool) -> PortResult<TantivySearchIndex> {
        let (expected, _) = schema();
        let s = index.schema();
        let fields = Fields {
            kind: s.get_field("kind").map_err(backend)?,
            names: s.get_field("names").map_err(backend)?,
            member_count: s.get_field("member_count").map_err(backend)?,
            id: s.get_field("id").map_err(backend)?,
            channel_id: s.get_field("channel_id").map_err(backend)?,
            guild_id: s.get_field("guild_id").map_err(backend)?,
            author_id: s.get_field("author_id").map_err(backend)?,
            content: s.get_field("content").map_err(backend)?,
            timestamp: s.get_field("timestamp").map_err(backend)?,
            has: s.get_field("has").map_err(backend)?,
            mentions: s.get_field("mentions").map_err(backend)?,
            pinned: s.get_field("pinned").map_err(backend)?,
        };
        if s != expected {
            return Err(backend(
                "the index on disk has another schema; delete its directory and run `fluxer-server reindex`",
            ));
        }
        let writer = if writable {
            Some(Mutex::new(
                index
                    .writer_with_num_threads(1, WRITER_BUDGET)
                    .map_err(backend)?,
            ))
        } else {
            None
        };
        let policy = if writable {
            ReloadPolicy::Manual
        } else {
            ReloadPolicy::OnCommitWithDelay
        };
        let reader = index
            .reader_builder()
            .reload_policy(policy)
            .try_into()
            .map_err(backend)?;
        // Only a writer replaces documents.
        let highest_id = if writable {
            highest_id(&reader, fields.id)?
        } else {
            0
        };
        Ok(TantivySearchIndex {
            inner: Arc::new(Inner {
                index,
                reader,
                writer,
                fields,
                highest_id: AtomicU64::new(highest_id),
            }),
        })
    }

    /// Documents visible to searches (after the last commit).
    pub fn num_docs(&self) -> u64 {
        self.inner.reader.searcher().num_docs()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> PortResult<T> + Send + 'static,
    ) -> PortResult<T> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(backend)?
    }
}

impl Inner {
    fn writer(&self) -> PortResult<std::sync::MutexGuard<'_, IndexWriter>> {
        self.writer
            .as_ref()
            .map(|w| w.lock().unwrap_or_else(PoisonError::into_inner))
            .ok_or_else(|| backend("this view of the index is read-only"))
    }

    fn document(&self, doc: &MessageDocument) -> TantivyDocument {
        let f = &self.fields;
        let mut d = TantivyDocument::new();
        d.add_u64(f.kind, MESSAGE);
        d.add_u64(f.id, doc.id.get());
        d.add_u64(f.channel_id, doc.channel_id.get());
        d.add_u64(f.guild_id, doc.guild_id.map_or(0, |g| g.get()));
        d.add_u64(f.author_id, doc.author_id.get());
        d.add_text(f.content, &doc.content);
        d.add_i64(f.timestamp, doc.timestamp.unix_ms());
        for has in &doc.has {
            d.add_u64(f.has, has_code(*has));
        }
        for user in &doc.mentions {
            d.add_u64(f.mentions, user.get());
        }
        d.add_u64(f.pinned, u64::from(doc.pinned));
        d
    }

    fn query(&self, q: &MessageSearch) -> PortResult<Box<dyn Query>> {
        let f = &self.fields;
        let term = |field: Field, v: u64| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_u64(field, v),
                IndexRecordOption::Basic,
            ))
        };
        let mut must: Vec<Box<dyn Query>> = Vec::new();
        must.push(Box::new(TermSetQuery::new(
            q.channel_ids
                .iter()
                .map(|c| Term::from_field_u64(f.channel_id, c.get())),
        )));
        if let Some(content) = q.content.as_deref() {
            let mut analyzer = self.index.tokenizer_for_field(f.content).map_err(backend)?;
            let mut stream = analyzer.token_stream(content);
            while let Some(token) = stream.next() {
                must.push(Box::new(TermQuery::new(
                    Term::from_field_text(f.content, &token.text),
                    IndexRecordOption::Basic,
                )));
            }
        }
        if !q.author_ids.is_empty() {
            must.push(Box::new(TermSetQuery::new(
                q.author_ids
                    .iter()
                    .map(|a| Term::from_field_u64(f.author_id, a.get())),
            )));
        }
        for user in &q.mentions {
            must.push(term(f.mentions, user.get()));
        }
        for has in &q.has {
            must.push(term(f.has, has_code(*has)));
        }
        if let Some(pinned) = q.pinned {
            must.push(term(f.pinned, u64::from(pinned)));
        }
        if q.min_id.is_some() || q.max_id.is_some() {
            let bound = |id: Option<MessageId>| match id {
                Some(id) => Bound::Excluded(Term::from_field_u64(f.id, id.get())),
                None => Bound::Unbounded,
            };
            must.push(Box::new(RangeQuery::new(bound(q.min_id), bound(q.max_id))));
        }
        Ok(Box::new(BooleanQuery::new(
            must.into_iter().map(|q| (Occur::Must, q)).collect(),
        )))
    }

    fn replace(&self, docs: Vec<(u64, TantivyDocument)>) -> PortResult<()> {
        let writer = self.writer()?;
        for (id, doc) in docs {
            // Under the writer lock: no other add can slip between this check and the add below.
            if id <= self.highest_id.fetch_max(id, Ordering::Relaxed) {
                writer.delete_term(Term::from_field_u64(self.fields.id, id));
            }
            writer.add_document(doc).map_err(backend)?;
        }
        Ok(())
    }

    fn delete_ids(&self, ids: impl IntoIterator<Item = u64>) -> PortResult<()> {
        let writer = self.writer()?;
        for id in ids {
            writer.delete_term(Term::from_field_u64(self.fields.id, id));
        }
        Ok(())
    }

    /// The analyzed words of `text`, as the `names` and `content` fields index them.
    fn words(&self, field: Field, text: &str) -> PortResult<Vec<String>> {
        let mut analyzer = self.index.tokenizer_for_field(field).map_err(backend)?;
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(token) = stream.next() {
            out.push(token.text.clone());
        }
        Ok(out)
    }

    fn kind_query(&self, kind: u64) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_u64(self.fields.kind, kind),
            IndexRecordOption::Basic,
        ))
    }

    fn search_guilds(
        &self,
        query: &str,
        offset: usize,
        limit: usize,
    ) -> PortResult<(Vec<GuildId>, u64)> {
        let f = &self.fields;
        let mut must = vec![(Occur::Must, self.kind_query(GUILD))];
        for word in self.words(f.names, query)? {
            must.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.names, &word),
                    IndexRecordOption::Basic,
                )) as Box<dyn Query>,
            ));
        }
        let searcher = self.reader.searcher();
        // Discovery lists are small: rank every match by (members desc, id asc) exactly.
        let matched = searcher
            .search(&BooleanQuery::new(must), &DocSetCollector)
            .map_err(backend)?;
        let mut ranked = Vec::with_capacity(matched.len());
        for addr in matched {
            let fast = searcher.segment_reader(addr.segment_ord).fast_fields();
            let id = fast.u64("id").map_err(backend)?.first(addr.doc_id);
            let members = fast
                .u64("member_count")
                .map_err(backend)?
                .first(addr.doc_id)
                .unwrap_or(0);
            if let Some(id) = id {
                ranked.push((std::cmp::Reverse(members), id));
            }
        }
        ranked.sort_unstable();
        let total = ranked.len() as u64;
        Ok((
            ranked
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(|(_, id)| GuildId::new(id))
                .collect(),
            total,
        ))
    }

    fn search_users(&self, prefix: &str, limit: usize) -> PortResult<Vec<UserId>> {
        let prefix = prefix.to_lowercase();
        if limit == 0 || prefix.is_empty() || !prefix.chars().all(char::is_alphanumeric) {
            // Indexed words are alphanumeric: nothing else can match.
            return Ok(Vec::new());
        }
        let words =
            RegexQuery::from_pattern(&format!("{prefix}.*"), self.fields.names).map_err(backend)?;
        let query = BooleanQuery::new(vec![
            (Occur::Must, self.kind_query(USER)),
            (Occur::Must, Box::new(words) as Box<dyn Query>),
        ]);
        let top = TopDocs::with_limit(limit).order_by_u64_field("id", Order::Asc);
        let docs = self
            .reader
            .searcher()
            .search(&query, &top)
            .map_err(backend)?;
        Ok(docs
            .into_iter()
            .filter_map(|(id, _)| id.map(UserId::new))
            .collect())
    }

    fn search(&self, q: &MessageSearch) -> PortResult<SearchHits> {
        if q.channel_ids.is_empty() {
            return Ok(SearchHits::default());
        }
        let query = self.query(q)?;
        let searcher = self.reader.searcher();
        if q.limit == 0 {
            let total = searcher.search(&query, &Count).map_err(backend)? as u64;
            return Ok(SearchHits {
                hits: Vec::new(),
                total,
            });
        }
        let order = if q.ascending { Order::Asc } else { Order::Desc };
        let top = TopDocs::with_limit(q.limit)
            .and_offset(q.offset)
            .order_by_u64_field("id", order);
        // The page and the total in one pass over the matches.
        let (total, docs) = searcher.search(&query, &(Count, top)).map_err(backend)?;
        let total = total as u64;
        let mut hits = Vec::with_capacity(docs.len());
        for (id, addr) in docs {
            let segment = searcher.segment_reader(addr.segment_ord);
            let channel = segment
                .fast_fields()
                .u64("channel_id")
                .map_err(backend)?
                .first(addr.doc_id);
            if let (Some(id), Some(channel)) = (id, channel) {
                hits.push((ChannelId::new(channel), MessageId::new(id)));
            }
        }
        Ok(SearchHits { hits, total })
    }
}

#[async_trait]
impl SearchIndex for TantivySearchIndex {
    #[tracing::instrument(level = "debug", name = "search.index_messages", skip_all, fields(otel.kind = "client"))]
    async fn index_messages(&self, docs: &[MessageDocument]) -> PortResult<()> {
        let docs = docs.to_vec();
        self.blocking(move |inner| {
            inner.replace(
                docs.iter()
                    .map(|d| (d.id.get(), inner.document(d)))
                    .collect(),
            )
        })
        .await
    }

    async fn delete_messages(&self, ids: &[MessageId]) -> PortResult<()> {
        let ids: Vec<u64> = ids.iter().map(|i| i.get()).collect();
        self.blocking(move |inner| inner.delete_ids(ids)).await
    }

    #[tracing::instrument(level = "debug", name = "search.commit", skip_all, fields(otel.kind = "client"))]
    async fn commit(&self) -> PortResult<()> {
        self.blocking(|inner| {
            inner.writer()?.commit().map_err(backend)?;
            inner.reader.reload().map_err(backend)
        })
        .await
    }

    #[tracing::instrument(level = "debug", name = "search.search_messages", skip_all, fields(otel.kind = "client"))]
    async fn search_messages(&self, query: &MessageSearch) -> PortResult<SearchHits> {
        let query = query.clone();
        self.blocking(move |inner| inner.search(&query)).await
    }

    async fn index_guilds(&self, docs: &[GuildDocument]) -> PortResult<()> {
        let docs = docs.to_vec();
        self.blocking(move |inner| {
            let f = inner.fields;
            let built = docs
                .iter()
                .map(|g| {
                    let mut d = TantivyDocument::new();
                    d.add_u64(f.kind, GUILD);
                    d.add_u64(f.id, g.id.get());
                    d.add_text(f.names, &g.name);
                    if let Some(desc) = &g.description {
                        d.add_text(f.names, desc);
                    }
                    d.add_u64(f.member_count, g.member_count);
                    (g.id.get(), d)
                })
                .collect();
            inner.replace(built)
        })
        .await
    }

    async fn delete_guilds(&self, ids: &[GuildId]) -> PortResult<()> {
        let ids: Vec<u64> = ids.iter().map(|i| i.get()).collect();
        self.blocking(move |inner| inner.delete_ids(ids)).await
    }

    #[tracing::instrument(level = "debug", name = "search.search_guilds", skip_all, fields(otel.kind = "client"))]
    async fn search_guilds(
        &self,
        query: &str,
        offset: usize,
        limit: usize,
    ) -> PortResult<(Vec<GuildId>, u64)> {
        let query = query.to_owned();
        self.blocking(move |inner| inner.search_guilds(&query, offset, limit))
            .await
    }

    async fn index_users(&self, docs: &[UserDocument]) -> PortResult<()> {
        let docs = docs.to_vec();
        self.blocking(move |inner| {
            let f = inner.fields;
            let built = docs
                .iter()
                .map(|u| {
                    let mut d = TantivyDocument::new();
                    d.add_u64(f.kind, USER);
                    d.add_u64(f.id, u.id.get());
                    d.add_text(f.names, &u.username);
                    if let Some(g) = &u.global_name {
                        d.add_text(f.names, g);
                    }
                    (u.id.get(), d)
                })
                .collect();
            inner.replace(built)
        })
        .await
    }

    async fn delete_users(&self, ids: &[UserId]) -> PortResult<()> {
        let ids: Vec<u64> = ids.iter().map(|i| i.get()).collect();
        self.blocking(move |inner| inner.delete_ids(ids)).await
    }

    async fn search_users(&self, prefix: &str, limit: usize) -> PortResult<Vec<UserId>> {
        let prefix = prefix.to_owned();
        self.blocking(move |inner| inner.search_users(&prefix, limit))
            .await
    }
}
