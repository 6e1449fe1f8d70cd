//! Single sign-on identities: (issuer, subject) is the primary key.

use async_trait::async_trait;
use fluxer_core::id::{Snowflake, UserId};
use fluxer_core::ports::{PortResult, SsoIdentityRepository};

use super::{column, execute, query, sql_id};
use crate::postgres::PostgresStore;

#[async_trait]
impl SsoIdentityRepository for PostgresStore {
    async fn link_sso_identity(&self, issuer: &str, subject: &str, user: UserId) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO sso_identities (issuer, subject, user_id) VALUES ($1, $2, $3)",
            &[&issuer, &subject, &sql_id(user.get())],
        )
        .await?;
        Ok(())
    }

    async fn find_sso_identity(&self, issuer: &str, subject: &str) -> PortResult<Option<UserId>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT user_id FROM sso_identities WHERE issuer = $1 AND subject = $2",
            &[&issuer, &subject],
        )
        .await?;
        match rows.first() {
            Some(row) => {
                let id: i64 = column(row, 0)?;
                Ok(Some(UserId(Snowflake(id as u64))))
            }
            None => Ok(None),
        }
    }

    async fn delete_user_sso_identities(&self, user: UserId) -> PortResult<u64> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM sso_identities WHERE user_id = $1",
            &[&sql_id(user.get())],
        )
        .await?)
    }
}
