//! OAuth2 credentials. The columns beside `data` are what the lookups and sweeps filter on.

use async_trait::async_trait;
use fluxer_core::id::{ApplicationId, UserId};
use fluxer_core::model::{OAuth2Token, OAuth2TokenKind};
use fluxer_core::ports::{OAuth2TokenRepository, PortResult};
use fluxer_core::time::Timestamp;
use rusqlite::params;

use super::{db, execute, from_json, query_json, query_one_json, sql_id, to_json};
use crate::sqlite::SqliteStore;

#[async_trait]
impl OAuth2TokenRepository for SqliteStore {
    async fn put_oauth2_token(&self, token: &OAuth2Token) -> PortResult<()> {
        let (t, data) = (token.clone(), to_json(token)?);
        self.write(move |c| {
            execute(
                c,
                "INSERT OR REPLACE INTO oauth2_tokens (token_hash, kind, user_id, application_id, expires_at, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    &t.token_hash[..],
                    t.kind.code(),
                    sql_id(t.user_id.get()),
                    sql_id(t.application_id.get()),
                    t.expires_at.unix_ms(),
                    data
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_oauth2_token(
        &self,
        kind: OAuth2TokenKind,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> PortResult<Option<OAuth2Token>> {
        let hash = *token_hash;
        self.lookup(move |c| {
            query_one_json(
                c,
                "SELECT data FROM oauth2_tokens WHERE token_hash = ?1 AND kind = ?2 AND expires_at > ?3",
                params![&hash[..], kind.code(), now.unix_ms()],
            )
        })
        .await
    }

    async fn take_oauth2_token(
        &self,
        kind: OAuth2TokenKind,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> PortResult<Option<OAuth2Token>> {
        let hash = *token_hash;
        // One writer runs writes one at a time: of two takes, the second finds the row gone.
        self.write(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "DELETE FROM oauth2_tokens WHERE token_hash = ?1 AND kind = ?2
                     RETURNING expires_at, data",
                )
                .map_err(db)?;
            let mut rows = stmt.query(params![&hash[..], kind.code()]).map_err(db)?;
            let Some(row) = rows.next().map_err(db)? else {
                return Ok(None);
            };
            let expires_at: i64 = row.get(0).map_err(db)?;
            let data: String = row.get(1).map_err(db)?;
            if expires_at <= now.unix_ms() {
                return Ok(None);
            }
            from_json(&data).map(Some)
        })
        .await
    }

    async fn list_user_oauth2_tokens(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> PortResult<Vec<OAuth2Token>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM oauth2_tokens WHERE user_id = ?1 AND expires_at > ?2",
                params![sql_id(user.get()), now.unix_ms()],
            )
        })
        .await
    }

    async fn delete_oauth2_grant(
        &self,
        user: UserId,
        application: ApplicationId,
    ) -> PortResult<u64> {
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM oauth2_tokens WHERE user_id = ?1 AND application_id = ?2",
                params![sql_id(user.get()), sql_id(application.get())],
            )? as u64)
        })
        .await
    }

    async fn delete_user_oauth2_tokens(&self, user: UserId) -> PortResult<u64> {
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM oauth2_tokens WHERE user_id = ?1",
                [sql_id(user.get())],
            )? as u64)
        })
        .await
    }

    async fn delete_application_oauth2_tokens(
        &self,
        application: ApplicationId,
    ) -> PortResult<u64> {
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM oauth2_tokens WHERE application_id = ?1",
                [sql_id(application.get())],
            )? as u64)
        })
        .await
    }

    async fn delete_expired_oauth2_tokens(&self, now: Timestamp) -> PortResult<u64> {
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM oauth2_tokens WHERE expires_at <= ?1",
                [now.unix_ms()],
            )? as u64)
        })
        .await
    }
}
