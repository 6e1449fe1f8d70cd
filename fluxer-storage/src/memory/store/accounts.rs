//! Users, sessions and one-time tokens, applications, read states and relationships.

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::id::{ApplicationId, ChannelId, UserId};
use fluxer_core::model::{
    ActionToken, ActionTokenKind, Application, AuthSession, ReadState, Relationship, User,
};
use fluxer_core::ports::{
    ApplicationRepository, PortResult, PrivateDocument, PrivateDocumentRepository,
    ReadStateRepository, RelationshipRepository, SessionRepository, UserRepository,
};
use fluxer_core::time::Timestamp;

use super::MemoryStore;

#[async_trait]
impl UserRepository for MemoryStore {
    async fn create_user(&self, user: &User) -> PortResult<()> {
        self.write(|d| {
            if d.users.contains_key(&user.id) {
                return Err(StoreError::backend_of(
                    "memory",
                    format!("user {} exists", user.id),
                ));
            }
            d.check_user_unique(user)?;
            d.index_user(user, None);
            d.users.insert(user.id, user.clone());
            Ok(())
        })
    }

    async fn update_user(&self, user: &User) -> PortResult<()> {
        self.write(|d| {
            let old = d.users.get(&user.id).cloned().ok_or(StoreError::NotFound)?;
            d.check_user_unique(user)?;
            d.index_user(user, Some(&old));
            d.users.insert(user.id, user.clone());
            Ok(())
        })
    }

    async fn get_user(&self, id: UserId) -> PortResult<Option<User>> {
        Ok(self.read(|d| d.users.get(&id).cloned()))
    }

    async fn get_users(&self, ids: &[UserId]) -> PortResult<Vec<User>> {
        Ok(self.read(|d| {
            ids.iter()
                .filter_map(|id| d.users.get(id).cloned())
                .collect()
        }))
    }

    async fn find_user_by_email(&self, email: &str) -> PortResult<Option<User>> {
        Ok(self.read(|d| {
            d.emails
                .get(&email.to_lowercase())
                .and_then(|id| d.users.get(id).cloned())
        }))
    }

    async fn find_user_by_tag(
        &self,
        username: &str,
        discriminator: u16,
    ) -> PortResult<Option<User>> {
        Ok(self.read(|d| {
            d.tags
                .get(&(username.to_lowercase(), discriminator))
                .and_then(|id| d.users.get(id).cloned())
        }))
    }

    async fn list_users_pending_deletion(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> PortResult<Vec<User>> {
        Ok(self.read(|d| {
            let mut due: Vec<User> = d
                .users
                .values()
                .filter(|u| u.deletion_requested_at.is_some_and(|t| t < before))
                .cloned()
                .collect();
            due.sort_by_key(|u| (u.deletion_requested_at, u.id));
            due.truncate(limit);
            due
        }))
    }
}

#[async_trait]
impl SessionRepository for MemoryStore {
    async fn create_session(&self, session: &AuthSession) -> PortResult<()> {
        self.write(|d| d.sessions.insert(session.token_hash, session.clone()));
        Ok(())
    }

    async fn get_session(&self, token_hash: &[u8; 32]) -> PortResult<Option<AuthSession>> {
        Ok(self.read(|d| d.sessions.get(token_hash).cloned()))
    }

    async fn touch_session(&self, token_hash: &[u8; 32], at: Timestamp) -> PortResult<()> {
        self.write(|d| {
            if let Some(s) = d.sessions.get_mut(token_hash) {
                s.last_used_at = at;
            }
        });
        Ok(())
    }

    async fn list_sessions(&self, user: UserId) -> PortResult<Vec<AuthSession>> {
        let mut list: Vec<AuthSession> = self.read(|d| {
            d.sessions
                .values()
                .filter(|s| s.user_id == user)
                .cloned()
                .collect()
        });
        list.sort_by_key(|s| (s.created_at, s.token_hash));
        Ok(list)
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> PortResult<bool> {
        Ok(self.write(|d| d.sessions.remove(token_hash).is_some()))
    }

    async fn delete_user_sessions(&self, user: UserId) -> PortResult<u64> {
        Ok(self.write(|d| {
            let before = d.sessions.len();
            d.sessions.retain(|_, s| s.user_id != user);
            (before - d.sessions.len()) as u64
        }))
    }

    async fn delete_idle_sessions(&self, before: Timestamp) -> PortResult<u64> {
        Ok(self.write(|d| {
            let count = d.sessions.len();
            d.sessions.retain(|_, s| s.last_used_at >= before);
            (count - d.sessions.len()) as u64
        }))
    }

    async fn create_action_token(&self, token: &ActionToken) -> PortResult<()> {
        self.write(|d| d.action_tokens.insert(token.token_hash, token.clone()));
        Ok(())
    }

    async fn take_action_token(
        &self,
        kind: ActionTokenKind,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> PortResult<Option<ActionToken>> {
        Ok(self.write(|d| {
            let ok = d
                .action_tokens
                .get(token_hash)
                .is_some_and(|t| t.kind == kind);
            if !ok {
                return None;
            }
            d.action_tokens
                .remove(token_hash)
                .filter(|t| t.expires_at > now)
        }))
    }
}

#[async_trait]
impl ApplicationRepository for MemoryStore {
    async fn create_application(&self, app: &Application) -> PortResult<()> {
        self.write(|d| d.applications.insert(app.id, app.clone()));
        Ok(())
    }

    async fn update_application(&self, app: &Application) -> PortResult<()> {
        self.write(|d| {
            let slot = d
                .applications
                .get_mut(&app.id)
                .ok_or(StoreError::NotFound)?;
            *slot = app.clone();
            Ok(())
        })
    }

    async fn get_application(&self, id: ApplicationId) -> PortResult<Option<Application>> {
        Ok(self.read(|d| d.applications.get(&id).cloned()))
    }

    async fn list_applications(&self, owner: UserId) -> PortResult<Vec<Application>> {
        let mut v: Vec<Application> = self.read(|d| {
            d.applications
                .values()
                .filter(|a| a.owner_id == owner)
                .cloned()
                .collect()
        });
        v.sort_by_key(|a| a.id);
        Ok(v)
    }

    async fn delete_application(&self, id: ApplicationId) -> PortResult<bool> {
        Ok(self.write(|d| d.applications.remove(&id).is_some()))
    }
}

#[async_trait]
impl ReadStateRepository for MemoryStore {
    async fn put_read_state(&self, state: &ReadState) -> PortResult<()> {
        self.write(|d| {
            d.read_states
                .entry(state.user_id)
                .or_default()
                .insert(state.channel_id, state.clone())
        });
        Ok(())
    }

    async fn delete_read_state(&self, user: UserId, channel: ChannelId) -> PortResult<bool> {
        Ok(self.write(|d| {
            d.read_states
                .get_mut(&user)
                .is_some_and(|m| m.remove(&channel).is_some())
        }))
    }

    async fn get_read_state(
        &self,
        user: UserId,
        channel: ChannelId,
    ) -> PortResult<Option<ReadState>> {
        Ok(self.read(|d| {
            d.read_states
                .get(&user)
                .and_then(|m| m.get(&channel))
                .cloned()
        }))
    }

    async fn list_read_states(&self, user: UserId) -> PortResult<Vec<ReadState>> {
        let mut v: Vec<ReadState> = self.read(|d| {
            d.read_states
                .get(&user)
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default()
        });
        v.sort_by_key(|s| s.channel_id);
        Ok(v)
    }

    async fn add_mentions(&self, user: UserId, channel: ChannelId, count: u32) -> PortResult<()> {
        self.write(|d| {
            let state = d
                .read_states
                .entry(user)
                .or_default()
                .entry(channel)
                .or_insert_with(|| ReadState::unread(user, channel));
            state.mention_count = state.mention_count.saturating_add(count);
        });
        Ok(())
    }
}

#[async_trait]
impl RelationshipRepository for MemoryStore {
    async fn put_relationship(&self, relationship: &Relationship) -> PortResult<()> {
        self.write(|d| {
            d.relationships
                .entry(relationship.user_id)
                .or_default()
                .insert(relationship.target_id, relationship.clone())
        });
        Ok(())
    }

    async fn get_relationship(
        &self,
        user: UserId,
        target: UserId,
    ) -> PortResult<Option<Relationship>> {
        Ok(self.read(|d| {
            d.relationships
                .get(&user)
                .and_then(|m| m.get(&target))
                .cloned()
        }))
    }

    async fn list_relationships(&self, user: UserId) -> PortResult<Vec<Relationship>> {
        Ok(self.read(|d| {
            d.relationships
                .get(&user)
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default()
        }))
    }

    async fn delete_relationship(&self, user: UserId, target: UserId) -> PortResult<bool> {
        Ok(self.write(|d| {
            d.relationships
                .get_mut(&user)
                .and_then(|m| m.remove(&target))
                .is_some()
        }))
    }
}

/// Every piece is an in-memory map lookup: composing them is as fast as anything else.
impl fluxer_core::ports::AccessRepository for MemoryStore {}

#[async_trait]
impl PrivateDocumentRepository for MemoryStore {
    async fn put_private_document(
        &self,
        user: UserId,
        kind: PrivateDocument,
        key: u64,
        data: Option<&str>,
    ) -> PortResult<()> {
        self.write(|d| {
            let docs = d.documents.entry((user, kind)).or_default();
            match data {
                Some(data) => {
                    docs.insert(key, data.to_owned());
                }
                None => {
                    docs.remove(&key);
                }
            }
            if kind == PrivateDocument::PushSubscription {
                if docs.is_empty() {
                    d.push_subscribers.remove(&user);
                } else {
                    d.push_subscribers.insert(user);
                }
            }
        });
        Ok(())
    }

    async fn get_private_document(
        &self,
        user: UserId,
        kind: PrivateDocument,
        key: u64,
    ) -> PortResult<Option<String>> {
        Ok(self.read(|d| {
            d.documents
                .get(&(user, kind))
                .and_then(|docs| docs.get(&key))
                .cloned()
        }))
    }

    async fn list_private_documents(
        &self,
        user: UserId,
        kind: PrivateDocument,
    ) -> PortResult<Vec<(u64, String)>> {
        Ok(self.read(|d| {
            d.documents
                .get(&(user, kind))
                .map(|docs| docs.iter().map(|(k, v)| (*k, v.clone())).collect())
                .unwrap_or_default()
        }))
    }

    async fn list_private_documents_of(
        &self,
        users: &[UserId],
        kind: PrivateDocument,
    ) -> PortResult<Vec<(UserId, u64, String)>> {
        let users: std::collections::BTreeSet<UserId> = users.iter().copied().collect();
        Ok(self.read(|d| {
            let mut out = Vec::new();
            for user in users {
                if let Some(docs) = d.documents.get(&(user, kind)) {
                    out.extend(docs.iter().map(|(k, v)| (user, *k, v.clone())));
                }
            }
            out
        }))
    }
}
