//! Reading the admin audit log (`/admin/audit-logs`, `/admin/audit-logs/search`).

use super::AdminPrincipal;
use crate::error::Result;
use crate::model::{AdminAuditEntry, AdminAuditQuery, acl};
use crate::service::Fluxer;
use crate::validation::Validator;

/// Most entries one page returns (upstream's schema limit).
pub const MAX_ADMIN_AUDIT_LIMIT: u32 = 200;
/// Longest search text or target filter accepted.
const MAX_FILTER_LEN: usize = 256;

/// One page of the admin audit log and how many entries match in all.
#[derive(Debug, Clone)]
pub struct AdminAuditPage {
    /// The entries.
    pub entries: Vec<AdminAuditEntry>,
    /// How many match the filters, over every page.
    pub total: u64,
}

impl Fluxer {
    /// Reads the admin audit log: filters by actor, target type and ID, and a text search over
    /// action, target, reason and details (case-insensitive). `query.limit` 0 means 50.
    pub async fn search_admin_audit_log(
        &self,
        who: &AdminPrincipal,
        mut query: AdminAuditQuery,
    ) -> Result<AdminAuditPage> {
        who.require(acl::AUDIT_LOG_VIEW)?;
        if query.limit == 0 {
            query.limit = 50;
        }
        let mut v = Validator::new();
        v.check(
            query.limit <= MAX_ADMIN_AUDIT_LIMIT,
            "limit",
            "NUMBER_TYPE_OUT_OF_RANGE",
            "Must be between 1 and 200.",
        );
        v.check(
            query.offset <= 9_007_199_254_740_991,
            "offset",
            "NUMBER_TYPE_OUT_OF_RANGE",
            "Too large.",
        );
        for (path, value) in [
            ("target_type", &query.target_type),
            ("target_id", &query.target_id),
            ("query", &query.text),
        ] {
            v.check(
                value.as_ref().is_none_or(|s| s.len() <= MAX_FILTER_LEN),
                path,
                "BASE_TYPE_MAX_LENGTH",
                "At most 256 characters.",
            );
        }
        v.finish()?;
        query.text = query
            .text
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty());
        let (entries, total) = self.store().search_admin_audit_entries(&query).await?;
        Ok(AdminAuditPage { entries, total })
    }
}
