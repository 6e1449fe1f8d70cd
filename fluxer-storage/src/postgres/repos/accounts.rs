//! Users, sessions and one-time tokens, applications, read states, relationships.

use async_trait::async_trait;
use fluxer_core::id::{ApplicationId, ChannelId, UserId};
use fluxer_core::model::{
    ActionToken, ActionTokenKind, Application, AuthSession, ReadState, Relationship, User,
};
use fluxer_core::ports::{
    ApplicationRepository, PortResult, PrivateDocument, PrivateDocumentRepository,
    ReadStateRepository, RelationshipRepository, SessionRepository, UserRepository,
};
use fluxer_core::time::Timestamp;
use tokio_postgres::types::Json;

use super::{
    column, distinct_ids, execute, execute_existing, execute_untracked, query, query_json,
    query_one_json, sql_id,
};
use crate::postgres::PostgresStore;

fn kind_name(kind: ActionTokenKind) -> &'static str {
    match kind {
        ActionTokenKind::VerifyEmail => "verify_email",
        ActionTokenKind::ResetPassword => "reset_password",
        ActionTokenKind::MfaTicket => "mfa_ticket",
        ActionTokenKind::EmailRevert => "email_revert",
    }
}

#[async_trait]
impl UserRepository for PostgresStore {
    async fn create_user(&self, user: &User) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO users (id, email, username_lc, discriminator, data) VALUES ($1, $2, $3, $4, $5)",
            &[
                &sql_id(user.id.get()),
                &user.email.as_deref().map(str::to_lowercase),
                &user.username.to_lowercase(),
                &i32::from(user.discriminator),
                &Json(user),
            ],
        )
        .await?;
        Ok(())
    }

    async fn update_user(&self, user: &User) -> PortResult<()> {
        let c = self.client().await?;
        execute_existing(
            &c,
            "UPDATE users SET email = $2, username_lc = $3, discriminator = $4, data = $5 WHERE id = $1",
            &[
                &sql_id(user.id.get()),
                &user.email.as_deref().map(str::to_lowercase),
                &user.username.to_lowercase(),
                &i32::from(user.discriminator),
                &Json(user),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> PortResult<Option<User>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM users WHERE id = $1",
            &[&sql_id(id.get())],
        )
        .await?)
    }

    async fn get_users(&self, ids: &[UserId]) -> PortResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct_ids(ids.iter().map(|i| i.get()));
        let c = self.client().await?;
        Ok(query_json(&c, "SELECT data FROM users WHERE id = ANY($1)", &[&ids]).await?)
    }

    async fn find_user_by_email(&self, email: &str) -> PortResult<Option<User>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM users WHERE email = $1",
            &[&email.to_lowercase()],
        )
        .await?)
    }

    async fn find_user_by_tag(
        &self,
        username: &str,
        discriminator: u16,
    ) -> PortResult<Option<User>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM users WHERE username_lc = $1 AND discriminator = $2",
            &[&username.to_lowercase(), &i32::from(discriminator)],
        )
        .await?)
    }

    // Timestamps are stored as fixed-width ISO 8601 (UTC, milliseconds), so they compare as text.
    async fn list_users_pending_deletion(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> PortResult<Vec<User>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM users
             WHERE (data->>'deletion_requested_at') COLLATE \"C\" < $1
             ORDER BY (data->>'deletion_requested_at') COLLATE \"C\", id LIMIT $2",
            &[&before.to_iso8601(), &(limit as i64)],
        )
        .await?)
    }
}

#[async_trait]
impl SessionRepository for PostgresStore {
    async fn create_session(&self, session: &AuthSession) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO sessions (token_hash, user_id, created_at, data) VALUES ($1, $2, $3, $4)
             ON CONFLICT (token_hash) DO UPDATE
                 SET user_id = EXCLUDED.user_id, created_at = EXCLUDED.created_at, data = EXCLUDED.data",
            &[
                &session.token_hash.as_slice(),
                &sql_id(session.user_id.get()),
                &session.created_at.unix_ms(),
                &Json(session),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_session(&self, token_hash: &[u8; 32]) -> PortResult<Option<AuthSession>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM sessions WHERE token_hash = $1",
            &[&token_hash.as_slice()],
        )
        .await?)
    }

    async fn touch_session(&self, token_hash: &[u8; 32], at: Timestamp) -> PortResult<()> {
        // One statement edits the stored JSON in place: no read-modify-write race with another touch.
        let c = self.client().await?;
        execute_untracked(
            &c,
            "UPDATE sessions SET data = jsonb_set(data, '{last_used_at}', $2) WHERE token_hash = $1",
            &[&token_hash.as_slice(), &Json(at)],
        )
        .await?;
        self.session_touched(token_hash);
        Ok(())
    }

    async fn list_sessions(&self, user: UserId) -> PortResult<Vec<AuthSession>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM sessions WHERE user_id = $1 ORDER BY created_at, token_hash",
            &[&sql_id(user.get())],
        )
        .await?)
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> PortResult<bool> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM sessions WHERE token_hash = $1",
            &[&token_hash.as_slice()],
        )
        .await?
            > 0)
    }

    async fn delete_user_sessions(&self, user: UserId) -> PortResult<u64> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM sessions WHERE user_id = $1",
            &[&sql_id(user.get())],
        )
        .await?)
    }

    async fn delete_idle_sessions(&self, before: Timestamp) -> PortResult<u64> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM sessions WHERE (data->>'last_used_at') COLLATE \"C\" < $1",
            &[&before.to_iso8601()],
        )
        .await?)
    }

    async fn create_action_token(&self, token: &ActionToken) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO action_tokens (token_hash, kind, user_id, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (token_hash) DO UPDATE
                 SET kind = EXCLUDED.kind, user_id = EXCLUDED.user_id, expires_at = EXCLUDED.expires_at",
            &[
                &token.token_hash.as_slice(),
                &kind_name(token.kind),
                &sql_id(token.user_id.get()),
                &token.expires_at.unix_ms(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn take_action_token(
        &self,
        kind: ActionTokenKind,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> PortResult<Option<ActionToken>> {
        // Deleting and reading in one statement makes the take atomic: of two concurrent takes, one
        // gets the row. An expired token of the right kind is deleted too.
        let c = self.client().await?;
        let rows = query(
            &c,
            "DELETE FROM action_tokens WHERE token_hash = $1 AND kind = $2 RETURNING user_id, expires_at",
            &[&token_hash.as_slice(), &kind_name(kind)],
        )
        .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let (user, expires): (i64, i64) = (column(row, 0)?, column(row, 1)?);
        let expires_at = Timestamp::from_unix_ms(expires);
        Ok((expires_at > now).then_some(ActionToken {
            kind,
            token_hash: *token_hash,
            user_id: UserId::new(user as u64),
            expires_at,
        }))
    }
}

#[async_trait]
impl ApplicationRepository for PostgresStore {
    async fn create_application(&self, app: &Application) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO applications (id, owner_id, data) VALUES ($1, $2, $3)",
            &[
                &sql_id(app.id.get()),
                &sql_id(app.owner_id.get()),
                &Json(app),
            ],
        )
        .await?;
        Ok(())
    }

    async fn update_application(&self, app: &Application) -> PortResult<()> {
        let c = self.client().await?;
        execute_existing(
            &c,
            "UPDATE applications SET owner_id = $2, data = $3 WHERE id = $1",
            &[
                &sql_id(app.id.get()),
                &sql_id(app.owner_id.get()),
                &Json(app),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_application(&self, id: ApplicationId) -> PortResult<Option<Application>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM applications WHERE id = $1",
            &[&sql_id(id.get())],
        )
        .await?)
    }

    async fn list_applications(&self, owner: UserId) -> PortResult<Vec<Application>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM applications WHERE owner_id = $1 ORDER BY id",
            &[&sql_id(owner.get())],
        )
        .await?)
    }

    async fn delete_application(&self, id: ApplicationId) -> PortResult<bool> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM applications WHERE id = $1",
            &[&sql_id(id.get())],
        )
        .await?
            > 0)
    }
}

#[async_trait]
impl ReadStateRepository for PostgresStore {
    async fn put_read_state(&self, state: &ReadState) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO read_states (user_id, channel_id, data) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, channel_id) DO UPDATE SET data = EXCLUDED.data",
            &[
                &sql_id(state.user_id.get()),
                &sql_id(state.channel_id.get()),
                &Json(state),
            ],
        )
        .await?;
        Ok(())
    }

    async fn delete_read_state(&self, user: UserId, channel: ChannelId) -> PortResult<bool> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM read_states WHERE user_id = $1 AND channel_id = $2",
            &[&sql_id(user.get()), &sql_id(channel.get())],
        )
        .await?
            > 0)
    }

    async fn get_read_state(
        &self,
        user: UserId,
        channel: ChannelId,
    ) -> PortResult<Option<ReadState>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM read_states WHERE user_id = $1 AND channel_id = $2",
            &[&sql_id(user.get()), &sql_id(channel.get())],
        )
        .await?)
    }

    async fn list_read_states(&self, user: UserId) -> PortResult<Vec<ReadState>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM read_states WHERE user_id = $1 ORDER BY channel_id",
            &[&sql_id(user.get())],
        )
        .await?)
    }

    async fn add_mentions(&self, user: UserId, channel: ChannelId, count: u32) -> PortResult<()> {
        // An upsert that adds in SQL: concurrent mentions of one user in one channel all count. The
        // count saturates at u32::MAX, like the domain's.
        let fresh = ReadState {
            mention_count: count,
            ..ReadState::unread(user, channel)
        };
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO read_states (user_id, channel_id, data) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, channel_id) DO UPDATE SET data = jsonb_set(
                 read_states.data, '{mention_count}',
                 to_jsonb(LEAST(COALESCE((read_states.data->>'mention_count')::BIGINT, 0) + $4, 4294967295)))",
            &[
                &sql_id(user.get()),
                &sql_id(channel.get()),
                &Json(&fresh),
                &i64::from(count),
            ],
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl RelationshipRepository for PostgresStore {
    async fn put_relationship(&self, relationship: &Relationship) -> PortResult<()> {
        let c = self.client().await?;
        execute(
            &c,
            "INSERT INTO relationships (user_id, target_id, data) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, target_id) DO UPDATE SET data = EXCLUDED.data",
            &[
                &sql_id(relationship.user_id.get()),
                &sql_id(relationship.target_id.get()),
                &Json(relationship),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_relationship(
        &self,
        user: UserId,
        target: UserId,
    ) -> PortResult<Option<Relationship>> {
        let c = self.client().await?;
        Ok(query_one_json(
            &c,
            "SELECT data FROM relationships WHERE user_id = $1 AND target_id = $2",
            &[&sql_id(user.get()), &sql_id(target.get())],
        )
        .await?)
    }

    async fn list_relationships(&self, user: UserId) -> PortResult<Vec<Relationship>> {
        let c = self.client().await?;
        Ok(query_json(
            &c,
            "SELECT data FROM relationships WHERE user_id = $1 ORDER BY target_id",
            &[&sql_id(user.get())],
        )
        .await?)
    }

    async fn delete_relationship(&self, user: UserId, target: UserId) -> PortResult<bool> {
        let c = self.client().await?;
        Ok(execute(
            &c,
            "DELETE FROM relationships WHERE user_id = $1 AND target_id = $2",
            &[&sql_id(user.get()), &sql_id(target.get())],
        )
        .await?
            > 0)
    }
}

#[async_trait]
impl PrivateDocumentRepository for PostgresStore {
    async fn put_private_document(
        &self,
        user: UserId,
        kind: PrivateDocument,
        key: u64,
        data: Option<&str>,
    ) -> PortResult<()> {
        let c = self.client().await?;
        let (user, kind, key) = (sql_id(user.get()), kind.code() as i16, sql_id(key));
        match data {
            Some(data) => {
                execute(
                    &c,
                    "INSERT INTO user_documents (user_id, kind, key, data) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (user_id, kind, key) DO UPDATE SET data = EXCLUDED.data",
                    &[&user, &kind, &key, &data],
                )
                .await?
            }
            None => {
                execute(
                    &c,
                    "DELETE FROM user_documents WHERE user_id = $1 AND kind = $2 AND key = $3",
                    &[&user, &kind, &key],
                )
                .await?
            }
        };
        Ok(())
    }

    async fn get_private_document(
        &self,
        user: UserId,
        kind: PrivateDocument,
        key: u64,
    ) -> PortResult<Option<String>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT data FROM user_documents WHERE user_id = $1 AND kind = $2 AND key = $3",
            &[&sql_id(user.get()), &(kind.code() as i16), &sql_id(key)],
        )
        .await?;
        match rows.first() {
            Some(row) => Ok(Some(column::<String>(row, 0)?)),
            None => Ok(None),
        }
    }

    async fn list_private_documents(
        &self,
        user: UserId,
        kind: PrivateDocument,
    ) -> PortResult<Vec<(u64, String)>> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT key, data FROM user_documents WHERE user_id = $1 AND kind = $2 ORDER BY key",
            &[&sql_id(user.get()), &(kind.code() as i16)],
        )
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push((column::<i64>(row, 0)? as u64, column::<String>(row, 1)?));
        }
        Ok(out)
    }

    async fn list_private_documents_of(
        &self,
        users: &[UserId],
        kind: PrivateDocument,
    ) -> PortResult<Vec<(UserId, u64, String)>> {
        let users = distinct_ids(users.iter().map(|u| u.get()));
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT user_id, key, data FROM user_documents WHERE user_id = ANY($1) AND kind = $2 \
             ORDER BY user_id, key",
            &[&users, &(kind.code() as i16)],
        )
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push((
                UserId::new(column::<i64>(row, 0)? as u64),
                column::<i64>(row, 1)? as u64,
                column::<String>(row, 2)?,
            ));
        }
        Ok(out)
    }
}
