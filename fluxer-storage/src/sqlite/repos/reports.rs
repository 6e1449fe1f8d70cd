//! Reports filed with the instance's staff.

use async_trait::async_trait;
use fluxer_core::id::ReportId;
use fluxer_core::model::{Report, ReportStatus};
use fluxer_core::ports::{PortResult, ReportRepository};
use rusqlite::params;

use super::{execute, query_json, query_one_json, sql_id, to_json};
use crate::sqlite::SqliteStore;

#[async_trait]
impl ReportRepository for SqliteStore {
    async fn put_report(&self, report: &Report) -> PortResult<()> {
        let (id, status, data) = (report.id, report.status, to_json(report)?);
        self.write(move |c| {
            execute(
                c,
                "INSERT OR REPLACE INTO reports (id, status, data) VALUES (?1, ?2, ?3)",
                params![sql_id(id.get()), status.code(), data],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_report(&self, id: ReportId) -> PortResult<Option<Report>> {
        self.read(move |c| {
            query_one_json(
                c,
                "SELECT data FROM reports WHERE id = ?1",
                [sql_id(id.get())],
            )
        })
        .await
    }

    async fn list_reports(
        &self,
        status: Option<ReportStatus>,
        before: Option<ReportId>,
        limit: u32,
    ) -> PortResult<Vec<Report>> {
        let before = before.map_or(i64::MAX, |id| sql_id(id.get()));
        let status = status.map(ReportStatus::code);
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM reports WHERE id < ?1 AND (?2 IS NULL OR status = ?2)
                 ORDER BY id DESC LIMIT ?3",
                params![before, status, i64::from(limit)],
            )
        })
        .await
    }
}
