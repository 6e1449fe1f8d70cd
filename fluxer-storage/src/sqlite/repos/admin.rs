//! The admin audit log.

use async_trait::async_trait;
use fluxer_core::model::{AdminAuditEntry, AdminAuditQuery};
use fluxer_core::ports::{AdminAuditLogRepository, PortResult};
use rusqlite::params;

use super::{db, execute, query_json, sql_id, to_json};
use crate::sqlite::SqliteStore;

/// The filters of an [`AdminAuditQuery`], shared by the page and the count: each `?n IS NULL OR`.
const FILTERS: &str = "(?1 IS NULL OR actor_id = ?1) AND (?2 IS NULL OR target_type = ?2) \
     AND (?3 IS NULL OR target_id = ?3) AND (?4 IS NULL OR instr(search_text, ?4) > 0)";

#[async_trait]
impl AdminAuditLogRepository for SqliteStore {
    async fn add_admin_audit_entry(&self, entry: &AdminAuditEntry) -> PortResult<()> {
        let (e, data, text) = (entry.clone(), to_json(entry)?, entry.search_text());
        self.write(move |c| {
            execute(
                c,
                "INSERT OR REPLACE INTO admin_audit_log \
                 (id, actor_id, target_type, target_id, search_text, data) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    sql_id(e.id),
                    sql_id(e.actor.get()),
                    e.target_type,
                    e.target_id,
                    text,
                    data
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn search_admin_audit_entries(
        &self,
        query: &AdminAuditQuery,
    ) -> PortResult<(Vec<AdminAuditEntry>, u64)> {
        let q = query.clone();
        self.read(move |c| {
            let actor = q.actor.map(|a| sql_id(a.get()));
            let order = if q.oldest_first { "ASC" } else { "DESC" };
            let page = query_json(
                c,
                &format!(
                    "SELECT data FROM admin_audit_log WHERE {FILTERS} \
                     ORDER BY id {order} LIMIT ?5 OFFSET ?6"
                ),
                params![
                    actor,
                    q.target_type,
                    q.target_id,
                    q.text,
                    i64::from(q.limit),
                    i64::try_from(q.offset).unwrap_or(i64::MAX)
                ],
            )?;
            let total: i64 = c
                .prepare_cached(&format!(
                    "SELECT COUNT(*) FROM admin_audit_log WHERE {FILTERS}"
                ))
                .map_err(db)?
                .query_row(params![actor, q.target_type, q.target_id, q.text], |r| {
                    r.get(0)
                })
                .map_err(db)?;
            Ok((page, total as u64))
        })
        .await
    }
}
