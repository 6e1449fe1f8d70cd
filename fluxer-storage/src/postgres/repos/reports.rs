//! Reports filed with the instance's staff.

use async_trait::async_trait;
use fluxer_core::id::ReportId;
use fluxer_core::model::{Report, ReportStatus};
use fluxer_core::ports::{PortResult, ReportRepository};
use tokio_postgres::types::Json;

use super::{execute, query_json, query_one_json, sql_id, sql_limit};
use crate::postgres::PostgresStore;

#[async_trait]
impl ReportRepository for PostgresStore {
    async fn put_report(&self, report: &Report) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO reports (id, status, data) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, data = EXCLUDED.data",
            &[
                &sql_id(report.id.get()),
                &(report.status.code() as i16),
                &Json(report),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_report(&self, id: ReportId) -> PortResult<Option<Report>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM reports WHERE id = $1",
            &[&sql_id(id.get())],
        )
        .await?)
    }

    async fn list_reports(
        &self,
        status: Option<ReportStatus>,
        before: Option<ReportId>,
        limit: u32,
    ) -> PortResult<Vec<Report>> {
        let before = before.map_or(i64::MAX, |id| sql_id(id.get()));
        let status = status.map(|s| s.code() as i16);
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM reports WHERE id < $1 AND ($2::SMALLINT IS NULL OR status = $2)
             ORDER BY id DESC LIMIT $3",
            &[&before, &status, &sql_limit(i64::from(limit))],
        )
        .await?)
    }
}
