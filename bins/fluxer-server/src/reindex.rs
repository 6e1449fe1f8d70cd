//! `fluxer-server reindex`: rebuilds the search index from the database, channel by channel, with a
//! progress bar on stderr. The index is rebuilt from empty (so messages deleted while indexing was
//! off do not linger); run it with the server stopped, since the index has a single writer.

use fluxer_core::error::chain;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use fluxer::config::Config;
use fluxer::core::id::MessageId;
use fluxer::core::ports::{MessagePage, MessageRepository, SearchIndex};
use fluxer::core::service::{self, Fluxer, Ports};
use fluxer::storage::memory::{InProcessEventBus, LogMailer, MemoryCache};
use fluxer::storage::sqlite::SqliteStore;
use fluxer::storage::tantivy::TantivySearchIndex;

/// Documents between two commits: bounds the work lost if the run is interrupted.
const COMMIT_EVERY: usize = 50_000;

fn bar(done: usize, total: usize, messages: usize, started: Instant) -> String {
    let width = 30;
    let filled = (done * width).checked_div(total).unwrap_or(width);
    let rate = messages as f64 / started.elapsed().as_secs_f64().max(0.001);
    format!(
        "\rreindex [{}{}] {done}/{total} channels, {messages} messages ({rate:.0}/s)",
        "#".repeat(filled),
        "-".repeat(width - filled)
    )
}

pub async fn run(config: &Config) -> ExitCode {
    match reindex(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nfluxer-server reindex: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn reindex(config: &Config) -> Result<(), String> {
    if config.integrations.search.engine == "none" {
        return Err("search is disabled (integrations.search.engine = \"none\")".into());
    }
    let dir = config
        .integrations
        .search
        .path
        .clone()
        .unwrap_or_else(|| config.instance.data_dir().join("search"));
    let store = SqliteStore::open(&config.database.sqlite_path)
        .map_err(|e| format!("cannot open the database: {}", chain(&e)))?;
    let store = Arc::new(store);
    // Rebuild from empty. Opening takes the writer lock first, so a running server is detected
    // before anything is removed.
    let probe = TantivySearchIndex::open(&dir).map_err(|e| {
        format!(
            "cannot open the index at {} (is the server running?): {}",
            dir.display(),
            chain(&e)
        )
    })?;
    drop(probe);
    std::fs::remove_dir_all(&dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    let index: Arc<dyn SearchIndex> = Arc::new(
        TantivySearchIndex::open(&dir)
            .map_err(|e| format!("cannot create the index: {}", chain(&e)))?,
    );
    let ports = Ports::new(
        store.clone(),
        Arc::new(InProcessEventBus::new()),
        Arc::new(LogMailer),
        Arc::new(MemoryCache::new()),
    )
    .with_search(index.clone());
    let fluxer = Fluxer::new(ports, service::Config::default());

    let channels = store.all_channel_ids().await.map_err(|e| chain(&e))?;
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let (mut messages, mut since_commit) = (0usize, 0usize);
    for (i, channel) in channels.iter().enumerate() {
        let mut cursor = MessageId::new(0);
        loop {
            let page = store
                .list_messages(*channel, MessagePage::After(cursor), 100)
                .await
                .map_err(|e| chain(&e))?;
            let Some(newest) = page.iter().map(|m| m.id).max() else {
                break;
            };
            cursor = newest;
            let n = fluxer
                .index_stored_messages(&page)
                .await
                .map_err(|e| chain(&e))?;
            messages += n;
            since_commit += n;
            if since_commit >= COMMIT_EVERY {
                index.commit().await.map_err(|e| chain(&e))?;
                since_commit = 0;
            }
        }
        if tty || i + 1 == channels.len() || i % 100 == 0 {
            eprint!("{}", bar(i + 1, channels.len(), messages, started));
            let _ = std::io::stderr().flush();
        }
    }
    // Discovery entries and user names, in batches through the same code the jobs run.
    let guilds = store.all_guild_ids().await.map_err(|e| chain(&e))?;
    for batch in guilds.chunks(500) {
        fluxer
            .index_guilds_now(batch)
            .await
            .map_err(|e| chain(&e))?;
    }
    let users = store.all_user_ids().await.map_err(|e| chain(&e))?;
    for batch in users.chunks(500) {
        fluxer.index_users_now(batch).await.map_err(|e| chain(&e))?;
    }
    index.commit().await.map_err(|e| chain(&e))?;
    store.close().await;
    eprintln!(
        "reindex: {} guilds and {} users checked",
        guilds.len(),
        users.len()
    );
    eprintln!(
        "\nreindex: {messages} messages from {} channels in {:.1} s",
        channels.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
