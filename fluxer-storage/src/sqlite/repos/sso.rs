//! Single sign-on identities: (issuer, subject) is the primary key.

use async_trait::async_trait;
use fluxer_core::id::{Snowflake, UserId};
use fluxer_core::ports::{PortResult, SsoIdentityRepository};
use rusqlite::{OptionalExtension, params};

use super::{db, execute, sql_id};
use crate::sqlite::SqliteStore;

#[async_trait]
impl SsoIdentityRepository for SqliteStore {
    async fn link_sso_identity(&self, issuer: &str, subject: &str, user: UserId) -> PortResult<()> {
        let (issuer, subject) = (issuer.to_owned(), subject.to_owned());
        self.write(move |c| {
            execute(
                c,
                "INSERT INTO sso_identities (issuer, subject, user_id) VALUES (?1, ?2, ?3)",
                params![issuer, subject, sql_id(user.get())],
            )?;
            Ok(())
        })
        .await
    }

    async fn find_sso_identity(&self, issuer: &str, subject: &str) -> PortResult<Option<UserId>> {
        let (issuer, subject) = (issuer.to_owned(), subject.to_owned());
        self.lookup(move |c| {
            let id: Option<i64> = c
                .prepare_cached(
                    "SELECT user_id FROM sso_identities WHERE issuer = ?1 AND subject = ?2",
                )
                .map_err(db)?
                .query_row(params![issuer, subject], |r| r.get(0))
                .optional()
                .map_err(db)?;
            Ok(id.map(|id| UserId(Snowflake(id as u64))))
        })
        .await
    }

    async fn delete_user_sso_identities(&self, user: UserId) -> PortResult<u64> {
        self.write(move |c| {
            let n = execute(
                c,
                "DELETE FROM sso_identities WHERE user_id = ?1",
                params![sql_id(user.get())],
            )?;
            Ok(n as u64)
        })
        .await
    }
}
