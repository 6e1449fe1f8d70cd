//! WebAuthn credentials. `user_id`, `created_at` and `sign_count` beside `data` are what the
//! lookups and the counter check read.

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::id::UserId;
use fluxer_core::model::WebAuthnCredential;
use fluxer_core::ports::{PortResult, WebAuthnCredentialRepository, conflict};
use tokio_postgres::types::Json;

use super::{execute, query_json, query_one_json, sql_id};
use crate::postgres::PostgresStore;

#[async_trait]
impl WebAuthnCredentialRepository for PostgresStore {
    async fn create_webauthn_credential(&self, credential: &WebAuthnCredential) -> PortResult<()> {
        let c = self.client().await?;
        let inserted = execute(
            &c,
            "INSERT INTO webauthn_credentials (id, user_id, created_at, sign_count, data)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            &[
                &credential.id,
                &sql_id(credential.user_id.get()),
                &credential.created_at.unix_ms(),
                &i64::from(credential.sign_count),
                &Json(credential),
            ],
        )
        .await?;
        if inserted == 0 {
            return Err(StoreError::Conflict(conflict::WEBAUTHN_CREDENTIAL));
        }
        Ok(())
    }

    async fn get_webauthn_credential(&self, id: &str) -> PortResult<Option<WebAuthnCredential>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM webauthn_credentials WHERE id = $1",
            &[&id],
        )
        .await?)
    }

    async fn list_webauthn_credentials(&self, user: UserId) -> PortResult<Vec<WebAuthnCredential>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id",
            &[&sql_id(user.get())],
        )
        .await?)
    }

    async fn rename_webauthn_credential(
        &self,
        user: UserId,
        id: &str,
        name: &str,
    ) -> PortResult<bool> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "UPDATE webauthn_credentials SET data = jsonb_set(data, '{name}', to_jsonb($3::TEXT))
             WHERE id = $1 AND user_id = $2",
            &[&id, &sql_id(user.get()), &name],
        )
        .await?
            > 0)
    }

    async fn record_webauthn_use(&self, credential: &WebAuthnCredential) -> PortResult<bool> {
        // One statement compares and sets: of two uses with the same counter, one changes the row.
        let c = self.client().await?;
        Ok(execute(
            &c,
            "UPDATE webauthn_credentials
             SET sign_count = $2,
                 data = data || jsonb_build_object(
                     'sign_count', $2::BIGINT, 'passkey', $3::TEXT, 'last_used_at', $4::JSONB)
             WHERE id = $1 AND (sign_count < $2 OR (sign_count = 0 AND $2 = 0))",
            &[
                &credential.id,
                &i64::from(credential.sign_count),
                &credential.passkey,
                &Json(&credential.last_used_at),
            ],
        )
        .await?
            > 0)
    }

    async fn delete_webauthn_credential(&self, user: UserId, id: &str) -> PortResult<bool> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2",
            &[&id, &sql_id(user.get())],
        )
        .await?
            > 0)
    }

    async fn delete_user_webauthn_credentials(&self, user: UserId) -> PortResult<u64> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM webauthn_credentials WHERE user_id = $1",
            &[&sql_id(user.get())],
        )
        .await?)
    }
}
