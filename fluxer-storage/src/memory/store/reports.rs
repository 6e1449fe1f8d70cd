//! Reports filed with the instance's staff.

use async_trait::async_trait;
use fluxer_core::id::ReportId;
use fluxer_core::model::{Report, ReportStatus};
use fluxer_core::ports::{PortResult, ReportRepository};

use super::MemoryStore;

#[async_trait]
impl ReportRepository for MemoryStore {
    async fn put_report(&self, report: &Report) -> PortResult<()> {
        self.write(|d| d.reports.insert(report.id, report.clone()));
        Ok(())
    }

    async fn get_report(&self, id: ReportId) -> PortResult<Option<Report>> {
        Ok(self.read(|d| d.reports.get(&id).cloned()))
    }

    async fn list_reports(
        &self,
        status: Option<ReportStatus>,
        before: Option<ReportId>,
        limit: u32,
    ) -> PortResult<Vec<Report>> {
        Ok(self.read(|d| {
            let older = match before {
                Some(before) => d.reports.range(..before),
                None => d.reports.range(..),
            };
            older
                .rev()
                .map(|(_, r)| r)
                .filter(|r| status.is_none_or(|s| r.status == s))
                .take(limit as usize)
                .cloned()
                .collect()
        }))
    }
}
