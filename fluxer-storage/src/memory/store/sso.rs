//! Single sign-on identities.

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::id::UserId;
use fluxer_core::ports::{PortResult, SsoIdentityRepository, conflict};

use super::MemoryStore;

#[async_trait]
impl SsoIdentityRepository for MemoryStore {
    async fn link_sso_identity(&self, issuer: &str, subject: &str, user: UserId) -> PortResult<()> {
        self.write(|d| {
            let key = (issuer.to_owned(), subject.to_owned());
            if d.sso_identities.contains_key(&key) {
                return Err(StoreError::Conflict(conflict::SSO_IDENTITY));
            }
            d.sso_identities.insert(key, user);
            Ok(())
        })
    }

    async fn find_sso_identity(&self, issuer: &str, subject: &str) -> PortResult<Option<UserId>> {
        Ok(self.read(|d| {
            d.sso_identities
                .get(&(issuer.to_owned(), subject.to_owned()))
                .copied()
        }))
    }

    async fn delete_user_sso_identities(&self, user: UserId) -> PortResult<u64> {
        Ok(self.write(|d| {
            let before = d.sso_identities.len();
            d.sso_identities.retain(|_, u| *u != user);
            (before - d.sso_identities.len()) as u64
        }))
    }
}
