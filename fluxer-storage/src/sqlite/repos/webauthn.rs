//! WebAuthn credentials. `user_id`, `created_at` and `sign_count` beside `data` are what the
//! lookups and the counter check read.

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::id::UserId;
use fluxer_core::model::WebAuthnCredential;
use fluxer_core::ports::{PortResult, WebAuthnCredentialRepository, conflict};
use rusqlite::{Connection, params};

use super::{execute, query_json, query_one_json, sql_id, to_json};
use crate::sqlite::SqliteStore;

fn select(c: &Connection, id: &str) -> PortResult<Option<WebAuthnCredential>> {
    query_one_json(
        c,
        "SELECT data FROM webauthn_credentials WHERE id = ?1",
        [id],
    )
}

#[async_trait]
impl WebAuthnCredentialRepository for SqliteStore {
    async fn create_webauthn_credential(&self, credential: &WebAuthnCredential) -> PortResult<()> {
        let (cred, data) = (credential.clone(), to_json(credential)?);
        self.write(move |c| {
            let inserted = execute(
                c,
                "INSERT INTO webauthn_credentials (id, user_id, created_at, sign_count, data)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING",
                params![
                    cred.id,
                    sql_id(cred.user_id.get()),
                    cred.created_at.unix_ms(),
                    cred.sign_count,
                    data
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::Conflict(conflict::WEBAUTHN_CREDENTIAL));
            }
            Ok(())
        })
        .await
    }

    async fn get_webauthn_credential(&self, id: &str) -> PortResult<Option<WebAuthnCredential>> {
        let id = id.to_owned();
        self.lookup(move |c| select(c, &id)).await
    }

    async fn list_webauthn_credentials(&self, user: UserId) -> PortResult<Vec<WebAuthnCredential>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM webauthn_credentials WHERE user_id = ?1 ORDER BY created_at, id",
                [sql_id(user.get())],
            )
        })
        .await
    }

    async fn rename_webauthn_credential(
        &self,
        user: UserId,
        id: &str,
        name: &str,
    ) -> PortResult<bool> {
        let (id, name) = (id.to_owned(), name.to_owned());
        // One writer runs writes one at a time: the read and the write see the same row.
        self.write(move |c| {
            let Some(mut cred) = select(c, &id)?.filter(|cr| cr.user_id == user) else {
                return Ok(false);
            };
            cred.name = name;
            execute(
                c,
                "UPDATE webauthn_credentials SET data = ?2 WHERE id = ?1",
                params![id, to_json(&cred)?],
            )?;
            Ok(true)
        })
        .await
    }

    async fn record_webauthn_use(&self, credential: &WebAuthnCredential) -> PortResult<bool> {
        let used = credential.clone();
        self.write(move |c| {
            let Some(stored) = select(c, &used.id)? else {
                return Ok(false);
            };
            let rises = used.sign_count > stored.sign_count
                || (used.sign_count == 0 && stored.sign_count == 0);
            if !rises {
                return Ok(false);
            }
            let next = WebAuthnCredential {
                user_id: stored.user_id,
                name: stored.name,
                created_at: stored.created_at,
                ..used
            };
            execute(
                c,
                "UPDATE webauthn_credentials SET sign_count = ?2, data = ?3 WHERE id = ?1",
                params![next.id, next.sign_count, to_json(&next)?],
            )?;
            Ok(true)
        })
        .await
    }

    async fn delete_webauthn_credential(&self, user: UserId, id: &str) -> PortResult<bool> {
        let id = id.to_owned();
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM webauthn_credentials WHERE id = ?1 AND user_id = ?2",
                params![id, sql_id(user.get())],
            )? > 0)
        })
        .await
    }

    async fn delete_user_webauthn_credentials(&self, user: UserId) -> PortResult<u64> {
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM webauthn_credentials WHERE user_id = ?1",
                [sql_id(user.get())],
            )? as u64)
        })
        .await
    }
}
