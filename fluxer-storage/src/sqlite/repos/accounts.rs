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
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    db, distinct_ids, execute, execute_existing, placeholders, query_json, query_json_by_ids,
    query_one_json, sql_id, to_json,
};
use crate::sqlite::SqliteStore;

fn kind_name(kind: ActionTokenKind) -> &'static str {
    match kind {
        ActionTokenKind::VerifyEmail => "verify_email",
        ActionTokenKind::ResetPassword => "reset_password",
        ActionTokenKind::MfaTicket => "mfa_ticket",
        ActionTokenKind::EmailRevert => "email_revert",
    }
}

#[async_trait]
impl UserRepository for SqliteStore {
    async fn create_user(&self, user: &User) -> PortResult<()> {
        let (user, data) = (user.clone(), to_json(user)?);
        self.write(move |c| {
            execute(
                c,
                "INSERT INTO users (id, email, username_lc, discriminator, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![sql_id(user.id.get()), user.email.as_deref().map(str::to_lowercase), user.username.to_lowercase(), user.discriminator, data],
            )?;
            Ok(())
        })
        .await
    }

    async fn update_user(&self, user: &User) -> PortResult<()> {
        let (user, data) = (user.clone(), to_json(user)?);
        self.write(move |c| {
            execute_existing(
                c,
                "UPDATE users SET email = ?2, username_lc = ?3, discriminator = ?4, data = ?5 WHERE id = ?1",
                params![sql_id(user.id.get()), user.email.as_deref().map(str::to_lowercase), user.username.to_lowercase(), user.discriminator, data],
            )
        })
        .await
    }

    async fn get_user(&self, id: UserId) -> PortResult<Option<User>> {
        self.lookup(move |c| select_user(c, id)).await
    }

    async fn get_users(&self, ids: &[UserId]) -> PortResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = distinct_ids(ids.iter().map(|i| i.get()));
        self.lookup(move |c| query_json_by_ids(c, "users", &ids))
            .await
    }

    async fn find_user_by_email(&self, email: &str) -> PortResult<Option<User>> {
        let email = email.to_lowercase();
        self.lookup(move |c| query_one_json(c, "SELECT data FROM users WHERE email = ?1", [email]))
            .await
    }

    async fn find_user_by_tag(
        &self,
        username: &str,
        discriminator: u16,
    ) -> PortResult<Option<User>> {
        let username = username.to_lowercase();
        self.lookup(move |c| {
            query_one_json(
                c,
                "SELECT data FROM users WHERE username_lc = ?1 AND discriminator = ?2",
                params![username, discriminator],
            )
        })
        .await
    }

    // Timestamps are stored as fixed-width ISO 8601 (UTC, milliseconds), so they compare as strings.
    // A scan of the users table: the cron job that calls this runs hourly.
    async fn list_users_pending_deletion(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> PortResult<Vec<User>> {
        let (before, limit) = (before.to_iso8601(), limit as i64);
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM users
                 WHERE json_extract(data, '$.deletion_requested_at') < ?1
                 ORDER BY json_extract(data, '$.deletion_requested_at'), id LIMIT ?2",
                params![before, limit],
            )
        })
        .await
    }
}

#[async_trait]
impl SessionRepository for SqliteStore {
    async fn create_session(&self, session: &AuthSession) -> PortResult<()> {
        let (s, data) = (session.clone(), to_json(session)?);
        self.write(move |c| {
            execute(
                c,
                "INSERT OR REPLACE INTO sessions (token_hash, user_id, created_at, data) VALUES (?1, ?2, ?3, ?4)",
                params![&s.token_hash[..], sql_id(s.user_id.get()), s.created_at.unix_ms(), data],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_session(&self, token_hash: &[u8; 32]) -> PortResult<Option<AuthSession>> {
        let hash = *token_hash;
        self.lookup(move |c| select_session(c, &hash)).await
    }

    async fn touch_session(&self, token_hash: &[u8; 32], at: Timestamp) -> PortResult<()> {
        let hash = *token_hash;
        self.write(move |c| {
            if let Some(mut s) = query_one_json::<AuthSession>(
                c,
                "SELECT data FROM sessions WHERE token_hash = ?1",
                [&hash[..]],
            )? {
                s.last_used_at = at;
                execute(
                    c,
                    "UPDATE sessions SET data = ?2 WHERE token_hash = ?1",
                    params![&hash[..], to_json(&s)?],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn list_sessions(&self, user: UserId) -> PortResult<Vec<AuthSession>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM sessions WHERE user_id = ?1 ORDER BY created_at, token_hash",
                [sql_id(user.get())],
            )
        })
        .await
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> PortResult<bool> {
        let hash = *token_hash;
        self.write(move |c| {
            Ok(execute(c, "DELETE FROM sessions WHERE token_hash = ?1", [&hash[..]])? > 0)
        })
        .await
    }

    async fn delete_user_sessions(&self, user: UserId) -> PortResult<u64> {
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM sessions WHERE user_id = ?1",
                [sql_id(user.get())],
            )? as u64)
        })
        .await
    }

    async fn delete_idle_sessions(&self, before: Timestamp) -> PortResult<u64> {
        let before = before.to_iso8601();
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM sessions WHERE json_extract(data, '$.last_used_at') < ?1",
                [before],
            )? as u64)
        })
        .await
    }

    async fn create_action_token(&self, token: &ActionToken) -> PortResult<()> {
        let t = token.clone();
        self.write(move |c| {
            execute(
                c,
                "INSERT OR REPLACE INTO action_tokens (token_hash, kind, user_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![&t.token_hash[..], kind_name(t.kind), sql_id(t.user_id.get()), t.expires_at.unix_ms()],
            )?;
            Ok(())
        })
        .await
    }

    async fn take_action_token(
        &self,
        kind: ActionTokenKind,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> PortResult<Option<ActionToken>> {
        let hash = *token_hash;
        self.write(move |c| {
            let row: Option<(i64, i64)> = c
                .prepare_cached("SELECT user_id, expires_at FROM action_tokens WHERE token_hash = ?1 AND kind = ?2")
                .map_err(db)?
                .query_row(params![&hash[..], kind_name(kind)], |r| Ok((r.get(0)?, r.get(1)?)))
                .map(Some)
                .or_else(|e| if matches!(e, rusqlite::Error::QueryReturnedNoRows) { Ok(None) } else { Err(e) })
                .map_err(db)?;
            let Some((user, expires)) = row else { return Ok(None) };
            execute(c, "DELETE FROM action_tokens WHERE token_hash = ?1", [&hash[..]])?;
            let expires_at = Timestamp::from_unix_ms(expires);
            Ok((expires_at > now).then_some(ActionToken {
                kind,
                token_hash: hash,
                user_id: UserId::new(user as u64),
                expires_at,
            }))
        })
        .await
    }
}

#[async_trait]
impl ApplicationRepository for SqliteStore {
    async fn create_application(&self, app: &Application) -> PortResult<()> {
        let (a, data) = (app.clone(), to_json(app)?);
        self.write(move |c| {
            execute(
                c,
                "INSERT INTO applications (id, owner_id, data) VALUES (?1, ?2, ?3)",
                params![sql_id(a.id.get()), sql_id(a.owner_id.get()), data],
            )?;
            Ok(())
        })
        .await
    }

    async fn update_application(&self, app: &Application) -> PortResult<()> {
        let (a, data) = (app.clone(), to_json(app)?);
        self.write(move |c| {
            execute_existing(
                c,
                "UPDATE applications SET owner_id = ?2, data = ?3 WHERE id = ?1",
                params![sql_id(a.id.get()), sql_id(a.owner_id.get()), data],
            )
        })
        .await
    }

    async fn get_application(&self, id: ApplicationId) -> PortResult<Option<Application>> {
        self.lookup(move |c| {
            query_one_json(
                c,
                "SELECT data FROM applications WHERE id = ?1",
                [sql_id(id.get())],
            )
        })
        .await
    }

    async fn list_applications(&self, owner: UserId) -> PortResult<Vec<Application>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM applications WHERE owner_id = ?1 ORDER BY id",
                [sql_id(owner.get())],
            )
        })
        .await
    }

    async fn delete_application(&self, id: ApplicationId) -> PortResult<bool> {
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM applications WHERE id = ?1",
                [sql_id(id.get())],
            )? > 0)
        })
        .await
    }
}

#[async_trait]
impl ReadStateRepository for SqliteStore {
    async fn put_read_state(&self, state: &ReadState) -> PortResult<()> {
        let (s, data) = (state.clone(), to_json(state)?);
        self.write(move |c| {
            execute(
                c,
                "INSERT OR REPLACE INTO read_states (user_id, channel_id, data) VALUES (?1, ?2, ?3)",
                params![sql_id(s.user_id.get()), sql_id(s.channel_id.get()), data],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_read_state(
        &self,
        user: UserId,
        channel: ChannelId,
    ) -> PortResult<Option<ReadState>> {
        self.lookup(move |c| {
            query_one_json(
                c,
                "SELECT data FROM read_states WHERE user_id = ?1 AND channel_id = ?2",
                params![sql_id(user.get()), sql_id(channel.get())],
            )
        })
        .await
    }

    async fn list_read_states(&self, user: UserId) -> PortResult<Vec<ReadState>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM read_states WHERE user_id = ?1 ORDER BY channel_id",
                [sql_id(user.get())],
            )
        })
        .await
    }

    async fn delete_read_state(&self, user: UserId, channel: ChannelId) -> PortResult<bool> {
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM read_states WHERE user_id = ?1 AND channel_id = ?2",
                params![sql_id(user.get()), sql_id(channel.get())],
            )? > 0)
        })
        .await
    }

    async fn add_mentions(&self, user: UserId, channel: ChannelId, count: u32) -> PortResult<()> {
        self.write(move |c| {
            let existing: Option<ReadState> = query_one_json(
                c,
                "SELECT data FROM read_states WHERE user_id = ?1 AND channel_id = ?2",
                params![sql_id(user.get()), sql_id(channel.get())],
            )?;
            let mut state = existing.unwrap_or_else(|| ReadState::unread(user, channel));
            state.mention_count = state.mention_count.saturating_add(count);
            execute(
                c,
                "INSERT OR REPLACE INTO read_states (user_id, channel_id, data) VALUES (?1, ?2, ?3)",
                params![sql_id(user.get()), sql_id(channel.get()), to_json(&state)?],
            )?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl RelationshipRepository for SqliteStore {
    async fn put_relationship(&self, relationship: &Relationship) -> PortResult<()> {
        let (r, data) = (relationship.clone(), to_json(relationship)?);
        self.write(move |c| {
            execute(
                c,
                "INSERT OR REPLACE INTO relationships (user_id, target_id, data) VALUES (?1, ?2, ?3)",
                params![sql_id(r.user_id.get()), sql_id(r.target_id.get()), data],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_relationship(
        &self,
        user: UserId,
        target: UserId,
    ) -> PortResult<Option<Relationship>> {
        self.lookup(move |c| {
            query_one_json(
                c,
                "SELECT data FROM relationships WHERE user_id = ?1 AND target_id = ?2",
                params![sql_id(user.get()), sql_id(target.get())],
            )
        })
        .await
    }

    async fn list_relationships(&self, user: UserId) -> PortResult<Vec<Relationship>> {
        self.read(move |c| {
            query_json(
                c,
                "SELECT data FROM relationships WHERE user_id = ?1 ORDER BY target_id",
                [sql_id(user.get())],
            )
        })
        .await
    }

    async fn delete_relationship(&self, user: UserId, target: UserId) -> PortResult<bool> {
        self.write(move |c| {
            Ok(execute(
                c,
                "DELETE FROM relationships WHERE user_id = ?1 AND target_id = ?2",
                params![sql_id(user.get()), sql_id(target.get())],
            )? > 0)
        })
        .await
    }
}

#[async_trait]
impl PrivateDocumentRepository for SqliteStore {
    async fn put_private_document(
        &self,
        user: UserId,
        kind: PrivateDocument,
        key: u64,
        data: Option<&str>,
    ) -> PortResult<()> {
        let data = data.map(str::to_owned);
        self.write(move |c| {
            let (user, kind, key) = (sql_id(user.get()), kind.code(), sql_id(key));
            match data {
                Some(data) => execute(
                    c,
                    "INSERT OR REPLACE INTO user_documents (user_id, kind, key, data) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![user, kind, key, data],
                )?,
                None => execute(
                    c,
                    "DELETE FROM user_documents WHERE user_id = ?1 AND kind = ?2 AND key = ?3",
                    params![user, kind, key],
                )?,
            };
            Ok(())
        })
        .await
    }

    async fn get_private_document(
        &self,
        user: UserId,
        kind: PrivateDocument,
        key: u64,
    ) -> PortResult<Option<String>> {
        self.lookup(move |c| {
            c.prepare_cached(
                "SELECT data FROM user_documents WHERE user_id = ?1 AND kind = ?2 AND key = ?3",
            )
            .map_err(db)?
            .query_row(params![sql_id(user.get()), kind.code(), sql_id(key)], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn list_private_documents(
        &self,
        user: UserId,
        kind: PrivateDocument,
    ) -> PortResult<Vec<(u64, String)>> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT key, data FROM user_documents WHERE user_id = ?1 AND kind = ?2 \
                     ORDER BY key",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![sql_id(user.get()), kind.code()], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
                })
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
        .await
    }

    async fn list_private_documents_of(
        &self,
        users: &[UserId],
        kind: PrivateDocument,
    ) -> PortResult<Vec<(UserId, u64, String)>> {
        let mut users = distinct_ids(users.iter().map(|u| u.get()));
        if users.is_empty() {
            return Ok(Vec::new());
        }
        users.sort_unstable();
        let kind = kind.code();
        self.read(move |c| {
            let mut out = Vec::new();
            // Ascending chunks of ascending users: the rows come out by user, then key.
            for chunk in users.chunks(500) {
                let sql = format!(
                    "SELECT user_id, key, data FROM user_documents \
                     WHERE kind = ? AND user_id IN ({}) ORDER BY user_id, key",
                    placeholders(chunk.len())
                );
                let mut stmt = c.prepare_cached(&sql).map_err(db)?;
                let params = std::iter::once(&kind).chain(chunk);
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(params), |r| {
                        Ok((
                            UserId::new(r.get::<_, i64>(0)? as u64),
                            r.get::<_, i64>(1)? as u64,
                            r.get::<_, String>(2)?,
                        ))
                    })
                    .map_err(db)?;
                for row in rows {
                    out.push(row.map_err(db)?);
                }
            }
            Ok(out)
        })
        .await
    }
}

pub(super) fn select_user(c: &Connection, id: UserId) -> PortResult<Option<User>> {
    query_one_json(
        c,
        "SELECT data FROM users WHERE id = ?1",
        [sql_id(id.get())],
    )
}

pub(super) fn select_session(c: &Connection, hash: &[u8; 32]) -> PortResult<Option<AuthSession>> {
    query_one_json(
        c,
        "SELECT data FROM sessions WHERE token_hash = ?1",
        [&hash[..]],
    )
}
