//! OAuth2 credentials.

use async_trait::async_trait;
use fluxer_core::id::{ApplicationId, UserId};
use fluxer_core::model::{OAuth2Token, OAuth2TokenKind};
use fluxer_core::ports::{OAuth2TokenRepository, PortResult};
use fluxer_core::time::Timestamp;

use super::MemoryStore;

#[async_trait]
impl OAuth2TokenRepository for MemoryStore {
    async fn put_oauth2_token(&self, token: &OAuth2Token) -> PortResult<()> {
        self.write(|d| d.oauth2_tokens.insert(token.token_hash, token.clone()));
        Ok(())
    }

    async fn get_oauth2_token(
        &self,
        kind: OAuth2TokenKind,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> PortResult<Option<OAuth2Token>> {
        Ok(self.read(|d| {
            d.oauth2_tokens
                .get(token_hash)
                .filter(|t| t.kind == kind && t.expires_at > now)
                .cloned()
        }))
    }

    async fn take_oauth2_token(
        &self,
        kind: OAuth2TokenKind,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> PortResult<Option<OAuth2Token>> {
        Ok(self.write(|d| {
            if !d
                .oauth2_tokens
                .get(token_hash)
                .is_some_and(|t| t.kind == kind)
            {
                return None;
            }
            d.oauth2_tokens
                .remove(token_hash)
                .filter(|t| t.expires_at > now)
        }))
    }

    async fn list_user_oauth2_tokens(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> PortResult<Vec<OAuth2Token>> {
        Ok(self.read(|d| {
            d.oauth2_tokens
                .values()
                .filter(|t| t.user_id == user && t.expires_at > now)
                .cloned()
                .collect()
        }))
    }

    async fn delete_oauth2_grant(
        &self,
        user: UserId,
        application: ApplicationId,
    ) -> PortResult<u64> {
        Ok(self.delete_where(|t| t.user_id == user && t.application_id == application))
    }

    async fn delete_user_oauth2_tokens(&self, user: UserId) -> PortResult<u64> {
        Ok(self.delete_where(|t| t.user_id == user))
    }

    async fn delete_application_oauth2_tokens(
        &self,
        application: ApplicationId,
    ) -> PortResult<u64> {
        Ok(self.delete_where(|t| t.application_id == application))
    }

    async fn delete_expired_oauth2_tokens(&self, now: Timestamp) -> PortResult<u64> {
        Ok(self.delete_where(|t| t.expires_at <= now))
    }
}

impl MemoryStore {
    fn delete_where(&self, doomed: impl Fn(&OAuth2Token) -> bool) -> u64 {
        self.write(|d| {
            let before = d.oauth2_tokens.len();
            d.oauth2_tokens.retain(|_, t| !doomed(t));
            (before - d.oauth2_tokens.len()) as u64
        })
    }
}
