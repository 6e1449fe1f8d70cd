//! The admin audit log.

use async_trait::async_trait;
use fluxer_core::model::{AdminAuditEntry, AdminAuditQuery};
use fluxer_core::ports::{AdminAuditLogRepository, PortResult};

use super::MemoryStore;

#[async_trait]
impl AdminAuditLogRepository for MemoryStore {
    async fn add_admin_audit_entry(&self, entry: &AdminAuditEntry) -> PortResult<()> {
        self.write(|d| d.admin_audit_log.insert(entry.id, entry.clone()));
        Ok(())
    }

    async fn search_admin_audit_entries(
        &self,
        query: &AdminAuditQuery,
    ) -> PortResult<(Vec<AdminAuditEntry>, u64)> {
        Ok(self.read(|d| {
            let matching = |e: &&AdminAuditEntry| {
                query.actor.is_none_or(|a| e.actor == a)
                    && query
                        .target_type
                        .as_deref()
                        .is_none_or(|t| e.target_type == t)
                    && query.target_id.as_deref().is_none_or(|t| e.target_id == t)
                    && query
                        .text
                        .as_deref()
                        .is_none_or(|t| e.search_text().contains(t))
            };
            let all: Vec<&AdminAuditEntry> = if query.oldest_first {
                d.admin_audit_log.values().filter(matching).collect()
            } else {
                d.admin_audit_log.values().rev().filter(matching).collect()
            };
            let total = all.len() as u64;
            let page = all
                .into_iter()
                .skip(usize::try_from(query.offset).unwrap_or(usize::MAX))
                .take(query.limit as usize)
                .cloned()
                .collect();
            (page, total)
        }))
    }
}
