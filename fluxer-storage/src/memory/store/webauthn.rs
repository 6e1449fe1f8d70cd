//! WebAuthn credentials.

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::id::UserId;
use fluxer_core::model::WebAuthnCredential;
use fluxer_core::ports::{PortResult, WebAuthnCredentialRepository, conflict};

use super::MemoryStore;

#[async_trait]
impl WebAuthnCredentialRepository for MemoryStore {
    async fn create_webauthn_credential(&self, credential: &WebAuthnCredential) -> PortResult<()> {
        self.write(|d| {
            if d.webauthn_credentials.contains_key(&credential.id) {
                return Err(StoreError::Conflict(conflict::WEBAUTHN_CREDENTIAL));
            }
            d.webauthn_credentials
                .insert(credential.id.clone(), credential.clone());
            Ok(())
        })
    }

    async fn get_webauthn_credential(&self, id: &str) -> PortResult<Option<WebAuthnCredential>> {
        Ok(self.read(|d| d.webauthn_credentials.get(id).cloned()))
    }

    async fn list_webauthn_credentials(&self, user: UserId) -> PortResult<Vec<WebAuthnCredential>> {
        let mut list: Vec<WebAuthnCredential> = self.read(|d| {
            d.webauthn_credentials
                .values()
                .filter(|c| c.user_id == user)
                .cloned()
                .collect()
        });
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(list)
    }

    async fn rename_webauthn_credential(
        &self,
        user: UserId,
        id: &str,
        name: &str,
    ) -> PortResult<bool> {
        Ok(self.write(|d| {
            match d
                .webauthn_credentials
                .get_mut(id)
                .filter(|c| c.user_id == user)
            {
                Some(c) => {
                    c.name = name.to_owned();
                    true
                }
                None => false,
            }
        }))
    }

    async fn record_webauthn_use(&self, credential: &WebAuthnCredential) -> PortResult<bool> {
        Ok(self.write(|d| {
            let Some(stored) = d.webauthn_credentials.get_mut(&credential.id) else {
                return false;
            };
            let rises = credential.sign_count > stored.sign_count
                || (credential.sign_count == 0 && stored.sign_count == 0);
            if rises {
                *stored = WebAuthnCredential {
                    user_id: stored.user_id,
                    name: stored.name.clone(),
                    created_at: stored.created_at,
                    ..credential.clone()
                };
            }
            rises
        }))
    }

    async fn delete_webauthn_credential(&self, user: UserId, id: &str) -> PortResult<bool> {
        Ok(self.write(|d| {
            if d.webauthn_credentials
                .get(id)
                .is_some_and(|c| c.user_id == user)
            {
                d.webauthn_credentials.remove(id);
                true
            } else {
                false
            }
        }))
    }

    async fn delete_user_webauthn_credentials(&self, user: UserId) -> PortResult<u64> {
        Ok(self.write(|d| {
            let before = d.webauthn_credentials.len();
            d.webauthn_credentials.retain(|_, c| c.user_id != user);
            (before - d.webauthn_credentials.len()) as u64
        }))
    }
}
