//! The repository implementations, by concept, and the helpers they share.

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

use fluxer_core::StoreError;
use fluxer_core::ports::{PortResult, conflict};
use rusqlite::{Connection, Params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backend;
use super::writer::note_write;

pub(crate) fn to_json<T: Serialize>(value: &T) -> PortResult<String> {
    // Most rows are a few hundred bytes: start there rather than grow from serde_json's 128.
    let mut text = Vec::with_capacity(512);
    serde_json::to_writer(&mut text, value).map_err(backend)?;
    String::from_utf8(text).map_err(backend)
}

pub(crate) fn from_json<T: DeserializeOwned>(text: &str) -> PortResult<T> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::backend_of("sqlite", format!("corrupt row: {e}")))
}

/// A snowflake as SQLite's signed 64-bit integer (snowflakes stay below 2^63 until 2084).
pub(crate) fn sql_id(raw: u64) -> i64 {
    raw as i64
}

/// Maps a driver error, turning unique violations into the named conflicts of the storage contract.
/// SQLite names the violated columns in its message (`UNIQUE constraint failed: users.email`).
pub(crate) fn db(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(err, Some(msg)) = &e
        && (err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    {
        let name = if msg.contains("users.email") {
            Some(conflict::USER_EMAIL)
        } else if msg.contains("users.username_lc") {
            Some(conflict::USER_TAG)
        } else if msg.contains("guilds.vanity") {
            Some(conflict::GUILD_VANITY)
        } else if msg.contains("invites.code") {
            Some(conflict::INVITE_CODE)
        } else if msg.contains("members.") {
            Some(conflict::MEMBER)
        } else if msg.contains("sso_identities.") {
            Some(conflict::SSO_IDENTITY)
        } else {
            None
        };
        if let Some(name) = name {
            return StoreError::Conflict(name);
        }
    }
    backend(e)
}

/// Rows of one `data` column, decoded.
pub(crate) fn query_json<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> PortResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let rows = stmt
        .query_map(params, |r| r.get::<_, String>(0))
        .map_err(db)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(from_json(&row.map_err(db)?)?);
    }
    Ok(out)
}

/// At most one row of one `data` column, decoded.
pub(crate) fn query_one_json<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> PortResult<Option<T>> {
    Ok(query_json(conn, sql, params)?.into_iter().next())
}

/// Runs a statement and fails with `NotFound` when it changed no row.
pub(crate) fn execute_existing(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> PortResult<()> {
    note_write(sql);
    let changed = conn
        .prepare_cached(sql)
        .map_err(db)?
        .execute(params)
        .map_err(db)?;
    if changed == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Runs a write statement.
pub(crate) fn execute(conn: &Connection, sql: &str, params: impl Params) -> PortResult<usize> {
    note_write(sql);
    conn.prepare_cached(sql)
        .map_err(db)?
        .execute(params)
        .map_err(db)
}

/// Distinct snowflakes as SQL integers, in the order first given.
pub(crate) fn distinct_ids(ids: impl IntoIterator<Item = u64>) -> Vec<i64> {
    let mut seen = std::collections::HashSet::new();
    ids.into_iter()
        .filter(|id| seen.insert(*id))
        .map(sql_id)
        .collect()
}

/// The `data` of the rows of `table` whose `id` is among `ids` (distinct), in chunks that stay
/// under SQLite's limit on parameters.
pub(crate) fn query_json_by_ids<T: DeserializeOwned>(
    conn: &Connection,
    table: &str,
    ids: &[i64],
) -> PortResult<Vec<T>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT data FROM {table} WHERE id IN ({})",
            placeholders(chunk.len())
        );
        out.extend(query_json::<T>(
            conn,
            &sql,
            rusqlite::params_from_iter(chunk),
        )?);
    }
    Ok(out)
}

/// The `data` of the rows of `table` whose `scope.0` column is `scope.1` and whose `column` is
/// among `ids` (distinct): a guild's members among some users, a channel's messages among some
/// IDs. In chunks that stay under SQLite's limit on parameters.
pub(crate) fn query_json_scoped_by_ids<T: DeserializeOwned>(
    conn: &Connection,
    table: &str,
    scope: (&str, i64),
    column: &str,
    ids: &[i64],
) -> PortResult<Vec<T>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT data FROM {table} WHERE {} = ? AND {column} IN ({})",
            scope.0,
            placeholders(chunk.len())
        );
        let params = std::iter::once(&scope.1).chain(chunk);
        out.extend(query_json::<T>(
            conn,
            &sql,
            rusqlite::params_from_iter(params),
        )?);
    }
    Ok(out)
}

/// `?,?,?` for `n` placeholders.
pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}
