//! The admin audit log.

use async_trait::async_trait;
use fluxer_core::model::{AdminAuditEntry, AdminAuditQuery};
use fluxer_core::ports::{AdminAuditLogRepository, PortResult};
use tokio_postgres::types::Json;

use super::{column, execute, query, query_json, sql_id};
use crate::postgres::PostgresStore;

/// The filters of an [`AdminAuditQuery`], shared by the page and the count.
const FILTERS: &str = "($1::BIGINT IS NULL OR actor_id = $1) \
     AND ($2::TEXT IS NULL OR target_type = $2) AND ($3::TEXT IS NULL OR target_id = $3) \
     AND ($4::TEXT IS NULL OR strpos(search_text, $4) > 0)";

#[async_trait]
impl AdminAuditLogRepository for PostgresStore {
    async fn add_admin_audit_entry(&self, entry: &AdminAuditEntry) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO admin_audit_log (id, actor_id, target_type, target_id, search_text, data)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data",
            &[
                &sql_id(entry.id),
                &sql_id(entry.actor.get()),
                &entry.target_type,
                &entry.target_id,
                &entry.search_text(),
                &Json(entry),
            ],
        )
        .await?;
        Ok(())
    }

    async fn search_admin_audit_entries(
        &self,
        query_: &AdminAuditQuery,
    ) -> PortResult<(Vec<AdminAuditEntry>, u64)> {
        let c = self.client().await?;
        let actor = query_.actor.map(|a| sql_id(a.get()));
        let order = if query_.oldest_first { "ASC" } else { "DESC" };
        let offset = i64::try_from(query_.offset).unwrap_or(i64::MAX);
        let page = query_json(
            &c,
            &format!(
                "SELECT data FROM admin_audit_log WHERE {FILTERS} \
                 ORDER BY id {order} LIMIT $5 OFFSET $6"
            ),
            &[
                &actor,
                &query_.target_type,
                &query_.target_id,
                &query_.text,
                &i64::from(query_.limit),
                &offset,
            ],
        )
        .await?;
        let rows = query(
            &c,
            &format!("SELECT COUNT(*) FROM admin_audit_log WHERE {FILTERS}"),
            &[&actor, &query_.target_type, &query_.target_id, &query_.text],
        )
        .await?;
        let total: i64 = match rows.first() {
            Some(row) => column(row, 0)?,
            None => 0,
        };
        Ok((page, total as u64))
    }
}
