//! The repository implementations, by concept, and the helpers they share. The helpers take any
//! [`Db`], so the same statement runs on a pooled connection or inside a transaction.

mod access;
mod accounts;
mod admin;
mod channels;
mod discovery;
mod guilds;
mod messages;
mod oauth2;
mod packs;
mod reports;
mod scan;
mod sso;
mod webauthn;

use deadpool_postgres::GenericClient;
use fluxer_core::StoreError;
use serde::de::DeserializeOwned;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Json, ToSql};

use super::{Db, Failure};
use crate::access_cache::writes_access_remembered;

/// Statement parameters.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A snowflake as PostgreSQL's signed 64-bit integer (snowflakes stay below 2^63 until 2084).
pub(crate) fn sql_id(raw: u64) -> i64 {
    raw as i64
}

/// Distinct snowflakes as SQL integers, in the order first given.
pub(crate) fn distinct_ids(ids: impl IntoIterator<Item = u64>) -> Vec<i64> {
    let mut seen = std::collections::HashSet::new();
    ids.into_iter()
        .filter(|id| seen.insert(*id))
        .map(sql_id)
        .collect()
}

/// A page size as the `BIGINT` that `LIMIT` takes.
pub(crate) fn sql_limit(limit: impl Into<i64>) -> i64 {
    limit.into()
}

/// The JSON entity in column `idx`.
pub(crate) fn decode<T: DeserializeOwned>(row: &Row, idx: usize) -> Result<T, Failure> {
    row.try_get::<_, Json<T>>(idx)
        .map(|Json(value)| value)
        .map_err(|e| corrupt(&e))
}

/// The JSON entity in column `idx`, which may be `NULL` (a `LEFT JOIN` that found nothing).
pub(crate) fn decode_optional<T: DeserializeOwned>(
    row: &Row,
    idx: usize,
) -> Result<Option<T>, Failure> {
    row.try_get::<_, Option<Json<T>>>(idx)
        .map(|value| value.map(|Json(value)| value))
        .map_err(|e| corrupt(&e))
}

/// Column `idx` as a plain value.
pub(crate) fn column<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T, Failure> {
    Ok(row.try_get(idx)?)
}

/// An entity stored as JSON text (reaction emojis, which are grouped and compared as text).
pub(crate) fn decode_text<T: DeserializeOwned>(text: &str) -> Result<T, Failure> {
    serde_json::from_str(text).map_err(|e| corrupt(&e))
}

fn corrupt(e: &dyn std::error::Error) -> Failure {
    let cause = e.source().map(|s| format!(": {s}")).unwrap_or_default();
    Failure::Store(StoreError::backend_of(
        "postgres",
        format!("corrupt row: {e}{cause}"),
    ))
}

/// Rows of one JSON column, decoded.
pub(crate) async fn query_json<T: DeserializeOwned>(
    c: &impl Db,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<T>, Failure> {
    timed(c, sql, async {
        let stmt = c.pg().prepare_cached(sql).await?;
        c.pg()
            .query(&stmt, params)
            .await?
            .iter()
            .map(|row| decode(row, 0))
            .collect()
    })
    .await
}

/// At most one row of one JSON column, decoded.
pub(crate) async fn query_one_json<T: DeserializeOwned>(
    c: &impl Db,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<T>, Failure> {
    timed(c, sql, async {
        let stmt = c.pg().prepare_cached(sql).await?;
        c.pg()
            .query_opt(&stmt, params)
            .await?
            .map(|row| decode(&row, 0))
            .transpose()
    })
    .await
}

/// Rows, undecoded.
pub(crate) async fn query(c: &impl Db, sql: &str, params: Params<'_>) -> Result<Vec<Row>, Failure> {
    timed(c, sql, async {
        let stmt = c.pg().prepare_cached(sql).await?;
        Ok(c.pg().query(&stmt, params).await?)
    })
    .await
}

/// Runs a statement; returns how many rows it changed.
pub(crate) async fn execute(c: &impl Db, sql: &str, params: Params<'_>) -> Result<u64, Failure> {
    timed(c, sql, async {
        let stmt = c.pg().prepare_cached(sql).await?;
        Ok(c.pg().execute(&stmt, params).await?)
    })
    .await
}

/// Runs one statement through [`measured`]; one that writes what the access cache holds is announced
/// once it has run (see [`Db::writing_access`]). Every statement of the store goes through here, but
/// for the two [`execute_untracked`] runs.
async fn timed<T>(c: &impl Db, sql: &str, work: impl Future<Output = T>) -> T {
    let unannounced = if writes_access_remembered(sql) {
        c.writing_access()
    } else {
        None
    };
    let result = measured(sql, work).await;
    if let Some(write) = unannounced {
        write.announce().await;
    }
    result
}

/// Runs a statement that writes a table the access cache reads, unannounced: the caller keeps the
/// cache true itself, and the other processes are left to the cache's age limit. For storing a
/// message (its channel's `last_message_id`, which the cache follows) and touching a session (its
/// `last_used_at`, forgotten here): announcing them would empty every cache on every message.
/// Returns how many rows it changed.
pub(crate) async fn execute_untracked(
    c: &impl Db,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, Failure> {
    measured(sql, async {
        let stmt = c.pg().prepare_cached(sql).await?;
        Ok(c.pg().execute(&stmt, params).await?)
    })
    .await
}

/// Runs one statement in a client span and measures it, when telemetry is on (otherwise it only
/// runs it).
async fn measured<T>(sql: &str, work: impl Future<Output = T>) -> T {
    let Some(recorder) = fluxer_core::telemetry::recorder() else {
        return work.await;
    };
    use tracing::Instrument;
    let operation = operation_name(sql);
    let span = tracing::debug_span!(
        "db",
        otel.name = %operation,
        otel.kind = "client",
        db.system.name = "postgresql",
        db.operation.name = %operation,
    );
    let started = std::time::Instant::now();
    let result = work.instrument(span).await;
    recorder.db_operation("postgresql", &operation, started.elapsed());
    result
}

/// A statement's low-cardinality name, as OpenTelemetry's conventions summarise one: its command
/// and the first table it names (`SELECT messages`, `INSERT reactions`); never a value.
fn operation_name(sql: &str) -> String {
    let mut words = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == ',')
        .filter(|w| !w.is_empty());
    let Some(command) = words.next() else {
        return "QUERY".to_owned();
    };
    let command = command.to_ascii_uppercase();
    let mut previous = String::new();
    for word in words {
        let upper = word.to_ascii_uppercase();
        if matches!(previous.as_str(), "FROM" | "INTO" | "UPDATE" | "JOIN")
            && !matches!(upper.as_str(), "ONLY" | "LATERAL" | "SELECT")
        {
            let table: String = word
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                .collect();
            if !table.is_empty() {
                return format!("{command} {table}");
            }
        }
        previous = upper;
    }
    if command == "UPDATE" {
        // `UPDATE t SET`: the table follows the command itself.
        if let Some(table) = sql.split_whitespace().nth(1) {
            return format!("UPDATE {table}");
        }
    }
    command
}

/// Runs a statement and fails with `NotFound` when it changed no row.
pub(crate) async fn execute_existing(
    c: &impl Db,
    sql: &str,
    params: Params<'_>,
) -> Result<(), Failure> {
    if execute(c, sql, params).await? == 0 {
        Err(StoreError::NotFound.into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::operation_name;

    #[test]
    fn statements_are_named_by_command_and_first_table() {
        assert_eq!(
            operation_name("SELECT data FROM messages WHERE channel_id = $1"),
            "SELECT messages"
        );
        assert_eq!(
            operation_name("\n  INSERT INTO reactions (a, b) VALUES ($1, $2)"),
            "INSERT reactions"
        );
        assert_eq!(
            operation_name("UPDATE users SET data = $2 WHERE id = $1"),
            "UPDATE users"
        );
        assert_eq!(
            operation_name("DELETE FROM oauth2_tokens WHERE token_hash = $1 RETURNING data"),
            "DELETE oauth2_tokens"
        );
        assert_eq!(
            operation_name("WITH gone AS (DELETE FROM invites WHERE code = $1) SELECT 1"),
            "WITH invites"
        );
        assert_eq!(operation_name("SELECT 1"), "SELECT");
    }
}
