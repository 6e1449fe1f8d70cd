//! Staff placing, reading and releasing a legal hold on a report's evidence
//! (`/admin/reports/{id}/legal-hold`, upstream's paths, bodies and ACLs). A report keeps copies of
//! what was reported (the conversation around a message, its files under `reports/{id}/`); no job
//! deletes them on this instance, and the hold records that they must be kept (until a date, or
//! until released) for whatever retention an operator adds. Upstream keeps holds only for
//! child-safety evidence; here any report may be held.

use serde::Deserialize;

use super::{AdminAction, AdminPrincipal, Fluxer};
use crate::error::{Error, Result, Unknown};
use crate::id::ReportId;
use crate::model::{LegalHold, Report, acl};
use crate::time::Timestamp;
use crate::validation::Validator;

/// `POST /admin/reports/{id}/legal-hold`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LegalHoldRequest {
    /// When the hold lapses (ISO 8601); none: until released.
    pub expires_at: Option<String>,
}

impl Fluxer {
    async fn held_report(&self, id: ReportId) -> Result<Report> {
        self.store()
            .get_report(id)
            .await?
            .ok_or(Error::Unknown(Unknown::Report))
    }

    /// `GET /admin/reports/{id}/legal-hold`: whether a hold holds now.
    pub async fn admin_legal_hold(&self, by: &AdminPrincipal, id: ReportId) -> Result<bool> {
        by.require(acl::REPORT_VIEW)?;
        let report = self.held_report(id).await?;
        Ok(report.legal_hold.is_some_and(|h| h.holds_at(self.now())))
    }

    /// `POST /admin/reports/{id}/legal-hold`: places (or replaces) the hold; an `expires_at` must
    /// be a date in the future.
    pub async fn admin_place_legal_hold(
        &self,
        by: &AdminPrincipal,
        id: ReportId,
        req: LegalHoldRequest,
    ) -> Result<bool> {
        by.require(acl::REPORT_RESOLVE)?;
        let now = self.now();
        let until = req.expires_at.as_deref().map(Timestamp::parse_iso8601);
        let mut v = Validator::new();
        if let Some(parsed) = until {
            v.check(
                parsed.is_some_and(|t| t > now),
                "expires_at",
                "INVALID_DATE",
                "Must be a date and time in the future (ISO 8601).",
            );
        }
        v.finish()?;
        let held_until = until.flatten();
        let mut report = self.held_report(id).await?;
        report.legal_hold = Some(LegalHold {
            held_by: by.id(),
            held_since: now,
            held_until,
        });
        self.store().put_report(&report).await?;
        let mut entry = AdminAction::new("report.legal_hold", "report", id);
        if let Some(until) = held_until {
            entry = entry.with("held_until", until.to_iso8601());
        }
        self.record_admin_action(by, entry).await?;
        Ok(true)
    }

    /// `DELETE /admin/reports/{id}/legal-hold`: releases the hold (none is fine).
    pub async fn admin_release_legal_hold(
        &self,
        by: &AdminPrincipal,
        id: ReportId,
    ) -> Result<bool> {
        by.require(acl::REPORT_RESOLVE)?;
        let mut report = self.held_report(id).await?;
        let was = report.legal_hold.take();
        if was.is_some() {
            self.store().put_report(&report).await?;
        }
        let entry = AdminAction::new("report.legal_hold_release", "report", id)
            .with("was_held", was.is_some());
        self.record_admin_action(by, entry).await?;
        Ok(false)
    }
}
