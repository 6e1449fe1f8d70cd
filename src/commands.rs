//! The operator's commands, as `fluxer-server` runs them: create a staff account, rebuild the
//! search index, back up and restore. Each opens what it needs from the configuration, does its
//! work and closes it.

use std::sync::Arc;

use fluxer_core::error::chain;
use fluxer_core::model::User;
use fluxer_core::service::ReindexProgress;

use crate::backup::{self, BackupError, BackupOptions, BackupReport, Progress, RestoreReport};
use crate::config::{self, Config};
use crate::node::{self, StartError};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// What it needs could not be opened.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The use-case refused or failed (the message has the whole chain).
    #[error("{0}")]
    Failed(String),
    /// A backup or a restore refused or failed.
    #[error(transparent)]
    Backup(#[from] BackupError),
}

impl From<fluxer_core::Error> for CommandError {
    fn from(e: fluxer_core::Error) -> Self {
        CommandError::Failed(chain(&e))
    }
}

/// Creates a staff account with a verified email. Safe while a server runs on the same database.
pub async fn create_admin(
    config: &Config,
    email: &str,
    username: &str,
    password: &str,
) -> Result<User, CommandError> {
    let (fluxer, database) = node::tool_use_cases(config, None).await?;
    let created = fluxer.create_operator(email, username, password).await;
    drop(fluxer);
    database.close().await;
    Ok(created?)
}

/// Rebuilds the search index from the database, from empty (so documents of messages deleted
/// while indexing was off do not linger), calling `progress` as channels are done. The index has
/// one writer: run it with the server (or the cluster's worker) stopped; a running one is detected
/// before anything is removed.
pub async fn reindex(
    config: &Config,
    progress: impl FnMut(&ReindexProgress),
) -> Result<ReindexProgress, CommandError> {
    let index: Arc<dyn fluxer_core::ports::SearchIndex> = match &config.integrations.search {
        config::Search::Tantivy { path } => {
            empty_tantivy_index(&node::ports::search_dir(config, path.as_deref()))?
        }
        #[cfg(feature = "postgres")]
        config::Search::Postgres { .. } => {
            // Every node writes this index and none holds a lock on it: emptying it while the
            // server runs only leaves searches short until the rebuild reaches them.
            let index = node::ports::postgres_search(config).await?;
            index
                .clear()
                .await
                .map_err(|e| CommandError::Failed(chain(&e)))?;
            Arc::new(index)
        }
        _ => {
            return Err(CommandError::Failed(
                "search is disabled (integrations.search.engine = \"none\")".to_owned(),
            ));
        }
    };
    let (fluxer, database) = node::tool_use_cases(config, Some(index)).await?;
    let rebuilt = fluxer.rebuild_search_index(progress).await;
    drop(fluxer);
    database.close().await;
    Ok(rebuilt?)
}

/// Backs the instance up into `dir` while it runs (see [`backup`](crate::backup)), calling
/// `progress` as it goes.
pub async fn backup(
    config: &Config,
    dir: &std::path::Path,
    options: BackupOptions,
    progress: impl FnMut(&Progress) + Send + 'static,
) -> Result<BackupReport, CommandError> {
    let (config, dir) = (config.clone(), dir.to_owned());
    tokio::task::spawn_blocking(move || backup::backup(&config, &dir, &options, progress))
        .await
        .map_err(|e| CommandError::Failed(format!("the backup stopped: {e}")))?
        .map_err(CommandError::from)
}

/// Restores the backup in `dir` into the empty places `config` names, checking it whole first;
/// then rebuilds the search index from the restored database (`reindex_progress` as it goes).
pub async fn restore(
    config: &Config,
    dir: &std::path::Path,
    progress: impl FnMut(&Progress) + Send + 'static,
    reindex_progress: impl FnMut(&ReindexProgress),
) -> Result<(RestoreReport, Option<ReindexProgress>), CommandError> {
    let (owned, dir) = (config.clone(), dir.to_owned());
    let restored = tokio::task::spawn_blocking(move || backup::restore(&owned, &dir, progress))
        .await
        .map_err(|e| CommandError::Failed(format!("the restore stopped: {e}")))??;
    let reindexed = if restored.needs_reindex {
        Some(reindex(config, reindex_progress).await?)
    } else {
        None
    };
    Ok((restored, reindexed))
}

#[cfg(feature = "search")]
fn empty_tantivy_index(
    dir: &std::path::Path,
) -> Result<Arc<dyn fluxer_core::ports::SearchIndex>, CommandError> {
    use fluxer_storage::tantivy::TantivySearchIndex;
    // Opening takes the writer lock: a running server is found before anything is removed.
    let probe = TantivySearchIndex::open(dir).map_err(|e| {
        CommandError::Failed(format!(
            "cannot open the index at {} (is the server running?): {}",
            dir.display(),
            chain(&e)
        ))
    })?;
    drop(probe);
    std::fs::remove_dir_all(dir)
        .map_err(|e| CommandError::Failed(format!("cannot clear {}: {e}", dir.display())))?;
    let index = TantivySearchIndex::open(dir)
        .map_err(|e| CommandError::Failed(format!("cannot create the index: {}", chain(&e))))?;
    Ok(Arc::new(index))
}

#[cfg(not(feature = "search"))]
fn empty_tantivy_index(
    _dir: &std::path::Path,
) -> Result<Arc<dyn fluxer_core::ports::SearchIndex>, CommandError> {
    Err(CommandError::Failed(
        "this build has no tantivy search (build with the `search` feature)".to_owned(),
    ))
}
