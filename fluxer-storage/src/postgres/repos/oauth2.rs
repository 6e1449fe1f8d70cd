//! OAuth2 credentials. The columns beside `data` are what the lookups and sweeps filter on.

use async_trait::async_trait;
use fluxer_core::id::{ApplicationId, UserId};
use fluxer_core::model::{OAuth2Token, OAuth2TokenKind};
use fluxer_core::ports::{OAuth2TokenRepository, PortResult};
use fluxer_core::time::Timestamp;
use tokio_postgres::types::Json;

use super::{column, decode, execute, query, query_json, query_one_json, sql_id};
use crate::postgres::PostgresStore;

#[async_trait]
impl OAuth2TokenRepository for PostgresStore {
    async fn put_oauth2_token(&self, token: &OAuth2Token) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO oauth2_tokens (token_hash, kind, user_id, application_id, expires_at, data)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (token_hash) DO UPDATE
                 SET kind = EXCLUDED.kind, user_id = EXCLUDED.user_id,
                     application_id = EXCLUDED.application_id, expires_at = EXCLUDED.expires_at,
                     data = EXCLUDED.data",
            &[
                &token.token_hash.as_slice(),
                &token.kind.code(),
                &sql_id(token.user_id.get()),
                &sql_id(token.application_id.get()),
                &token.expires_at.unix_ms(),
                &Json(token),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_oauth2_token(
        &self,
        kind: OAuth2TokenKind,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> PortResult<Option<OAuth2Token>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM oauth2_tokens WHERE token_hash = $1 AND kind = $2 AND expires_at > $3",
            &[&token_hash.as_slice(), &kind.code(), &now.unix_ms()],
        )
        .await?)
    }

    async fn take_oauth2_token(
        &self,
        kind: OAuth2TokenKind,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> PortResult<Option<OAuth2Token>> {
        // Deleting and reading in one statement makes the take atomic: of two concurrent takes, one
        // gets the row. An expired token of the right kind is deleted too.
        let c = self.client().await?;
        let rows = query(
            &c,
            "DELETE FROM oauth2_tokens WHERE token_hash = $1 AND kind = $2 RETURNING expires_at, data",
            &[&token_hash.as_slice(), &kind.code()],
        )
        .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let expires_at: i64 = column(row, 0)?;
        if expires_at <= now.unix_ms() {
            return Ok(None);
        }
        Ok(Some(decode(row, 1)?))
    }

    async fn list_user_oauth2_tokens(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> PortResult<Vec<OAuth2Token>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM oauth2_tokens WHERE user_id = $1 AND expires_at > $2",
            &[&sql_id(user.get()), &now.unix_ms()],
        )
        .await?)
    }

    async fn delete_oauth2_grant(
        &self,
        user: UserId,
        application: ApplicationId,
    ) -> PortResult<u64> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM oauth2_tokens WHERE user_id = $1 AND application_id = $2",
            &[&sql_id(user.get()), &sql_id(application.get())],
        )
        .await?)
    }

    async fn delete_user_oauth2_tokens(&self, user: UserId) -> PortResult<u64> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM oauth2_tokens WHERE user_id = $1",
            &[&sql_id(user.get())],
        )
        .await?)
    }

    async fn delete_application_oauth2_tokens(
        &self,
        application: ApplicationId,
    ) -> PortResult<u64> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM oauth2_tokens WHERE application_id = $1",
            &[&sql_id(application.get())],
        )
        .await?)
    }

    async fn delete_expired_oauth2_tokens(&self, now: Timestamp) -> PortResult<u64> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM oauth2_tokens WHERE expires_at <= $1",
            &[&now.unix_ms()],
        )
        .await?)
    }
}
