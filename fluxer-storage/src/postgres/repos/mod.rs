//! The repository implementations, by concept, and the helpers they share. The helpers take any
//! [`GenericClient`], so the same statement runs on a pooled connection or inside a transaction.

mod accounts;
mod channels;
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

use super::Failure;

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
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<T>, Failure> {
    let stmt = c.prepare_cached(sql).await?;
    c.query(&stmt, params)
        .await?
        .iter()
        .map(|row| decode(row, 0))
        .collect()
}

/// At most one row of one JSON column, decoded.
pub(crate) async fn query_one_json<T: DeserializeOwned>(
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<T>, Failure> {
    let stmt = c.prepare_cached(sql).await?;
    c.query_opt(&stmt, params)
        .await?
        .map(|row| decode(&row, 0))
        .transpose()
}

/// Rows, undecoded.
pub(crate) async fn query(
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, Failure> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query(&stmt, params).await?)
}

/// Runs a statement; returns how many rows it changed.
pub(crate) async fn execute(
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, Failure> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.execute(&stmt, params).await?)
}

/// Runs a statement and fails with `NotFound` when it changed no row.
pub(crate) async fn execute_existing(
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<(), Failure> {
    if execute(c, sql, params).await? == 0 {
        Err(StoreError::NotFound.into())
    } else {
        Ok(())
    }
}
