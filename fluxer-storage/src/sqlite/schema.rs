//! Versioned migrations, applied in order at open, each in its own transaction.

use rusqlite::Connection;

/// Migration N brings the schema from version N to N+1 (`PRAGMA user_version`).
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        email TEXT UNIQUE,
        username_lc TEXT NOT NULL,
        discriminator INTEGER NOT NULL,
        data TEXT NOT NULL,
        UNIQUE (username_lc, discriminator)
    );
    CREATE TABLE sessions (
        token_hash BLOB PRIMARY KEY,
        user_id INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
    CREATE TABLE action_tokens (
        token_hash BLOB PRIMARY KEY,
        kind TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE guilds (
        id INTEGER PRIMARY KEY,
        vanity TEXT UNIQUE,
        data TEXT NOT NULL
    );
    CREATE TABLE channels (
        id INTEGER PRIMARY KEY,
        guild_id INTEGER,
        kind INTEGER NOT NULL,
        position INTEGER NOT NULL,
        last_message_id INTEGER,
        data TEXT NOT NULL
    );
    CREATE INDEX channels_by_guild ON channels (guild_id, position, id);
    CREATE TABLE channel_recipients (
        user_id INTEGER NOT NULL,
        channel_id INTEGER NOT NULL,
        PRIMARY KEY (user_id, channel_id)
    ) WITHOUT ROWID;
    CREATE INDEX recipients_by_channel ON channel_recipients (channel_id);
    CREATE TABLE messages (
        channel_id INTEGER NOT NULL,
        id INTEGER NOT NULL,
        pinned_at INTEGER,
        data TEXT NOT NULL,
        PRIMARY KEY (channel_id, id)
    ) WITHOUT ROWID;
    CREATE INDEX messages_pinned ON messages (channel_id, pinned_at) WHERE pinned_at IS NOT NULL;
    CREATE TABLE reactions (
        seq INTEGER PRIMARY KEY,
        channel_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        emoji_key TEXT NOT NULL,
        emoji TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        UNIQUE (message_id, emoji_key, user_id)
    );
    CREATE INDEX reactions_by_channel ON reactions (channel_id, message_id);
    CREATE TABLE members (
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX members_by_user ON members (user_id, guild_id);
    CREATE TABLE roles (
        guild_id INTEGER NOT NULL,
        id INTEGER NOT NULL,
        position INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (guild_id, id)
    ) WITHOUT ROWID;
    CREATE TABLE invites (
        code TEXT PRIMARY KEY,
        guild_id INTEGER,
        channel_id INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        vanity INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX invites_by_guild ON invites (guild_id);
    CREATE INDEX invites_by_channel ON invites (channel_id);
    CREATE TABLE bans (
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE webhooks (
        id INTEGER PRIMARY KEY,
        guild_id INTEGER NOT NULL,
        channel_id INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX webhooks_by_guild ON webhooks (guild_id);
    CREATE INDEX webhooks_by_channel ON webhooks (channel_id);
    CREATE TABLE applications (
        id INTEGER PRIMARY KEY,
        owner_id INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX applications_by_owner ON applications (owner_id);
    CREATE TABLE read_states (
        user_id INTEGER NOT NULL,
        channel_id INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (user_id, channel_id)
    ) WITHOUT ROWID;
    CREATE INDEX read_states_by_channel ON read_states (channel_id);
    CREATE TABLE relationships (
        user_id INTEGER NOT NULL,
        target_id INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (user_id, target_id)
    ) WITHOUT ROWID;
    ",
    // 2: reactions keyed by what looks them up, (channel, message, emoji, user), with a per-message
    //    sequence for first-reacted order; an index for the expired-invite sweep.
    "
    CREATE TABLE reactions_v2 (
        channel_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        emoji_key TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        emoji TEXT NOT NULL,
        PRIMARY KEY (channel_id, message_id, emoji_key, user_id)
    ) WITHOUT ROWID;
    INSERT INTO reactions_v2 (channel_id, message_id, emoji_key, user_id, seq, emoji)
        SELECT channel_id, message_id, emoji_key, user_id, seq, emoji FROM reactions;
    DROP TABLE reactions;
    ALTER TABLE reactions_v2 RENAME TO reactions;
    CREATE INDEX reactions_in_order ON reactions (channel_id, message_id, seq);
    CREATE INDEX invites_by_expiry ON invites (expires_at) WHERE expires_at IS NOT NULL;
    ",
    // 3: what users keep for themselves (settings, per-guild settings, notes, pinned DMs).
    "
    CREATE TABLE user_documents (
        user_id INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        key INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (user_id, kind, key)
    ) WITHOUT ROWID;
    ",
    // 4: guild audit logs.
    "
    CREATE TABLE audit_log (
        guild_id INTEGER NOT NULL,
        id INTEGER NOT NULL,
        user_id INTEGER,
        action_type INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (guild_id, id)
    ) WITHOUT ROWID;
    CREATE INDEX audit_log_by_id ON audit_log (id);
    ",
    // 5: guilds' custom emojis and stickers.
    "
    CREATE TABLE expressions (
        id INTEGER PRIMARY KEY,
        guild_id INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX expressions_by_guild ON expressions (guild_id, kind, id);
    ",
    // 6: users' emoji and sticker packs (their expressions are rows of `expressions` under the
    //    pack's ID), and invites to a pack, which have no channel: `invites` is rebuilt with a
    //    nullable `channel_id` and a `pack_id`.
    "
    CREATE TABLE packs (
        id INTEGER PRIMARY KEY,
        creator_id INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX packs_by_creator ON packs (creator_id, id);
    CREATE TABLE invites_v2 (
        code TEXT PRIMARY KEY,
        guild_id INTEGER,
        channel_id INTEGER,
        pack_id INTEGER,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        vanity INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    INSERT INTO invites_v2 (code, guild_id, channel_id, created_at, expires_at, vanity, data)
        SELECT code, guild_id, channel_id, created_at, expires_at, vanity, data FROM invites;
    DROP TABLE invites;
    ALTER TABLE invites_v2 RENAME TO invites;
    CREATE INDEX invites_by_guild ON invites (guild_id);
    CREATE INDEX invites_by_channel ON invites (channel_id);
    CREATE INDEX invites_by_pack ON invites (pack_id) WHERE pack_id IS NOT NULL;
    CREATE INDEX invites_by_expiry ON invites (expires_at) WHERE expires_at IS NOT NULL;
    ",
    // 7: reports filed with the instance's staff.
    "
    CREATE TABLE reports (
        id INTEGER PRIMARY KEY,
        status INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX reports_by_status ON reports (status, id);
    ",
    // 8: OAuth2 credentials (codes, access and refresh tokens), by the SHA-256 of the token.
    "
    CREATE TABLE oauth2_tokens (
        token_hash BLOB PRIMARY KEY,
        kind INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        application_id INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        data TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX oauth2_tokens_by_grant ON oauth2_tokens (user_id, application_id);
    CREATE INDEX oauth2_tokens_by_application ON oauth2_tokens (application_id);
    CREATE INDEX oauth2_tokens_by_expiry ON oauth2_tokens (expires_at);
    ",
    // 9: single sign-on identities: which account an OpenID provider's subject signs in to.
    "
    CREATE TABLE sso_identities (
        issuer TEXT NOT NULL,
        subject TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        PRIMARY KEY (issuer, subject)
    ) WITHOUT ROWID;
    CREATE INDEX sso_identities_by_user ON sso_identities (user_id);
    ",
    // 10: WebAuthn credentials (passkeys and security keys), by credential ID.
    "
    CREATE TABLE webauthn_credentials (
        id TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        sign_count INTEGER NOT NULL,
        data TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX webauthn_credentials_by_user ON webauthn_credentials (user_id, created_at);
    ",
    // 11: the admin audit log (what staff did); `search_text` is the entry's lower-cased text.
    "
    CREATE TABLE admin_audit_log (
        id INTEGER PRIMARY KEY,
        actor_id INTEGER NOT NULL,
        target_type TEXT NOT NULL,
        target_id TEXT NOT NULL,
        search_text TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX admin_audit_log_by_actor ON admin_audit_log (actor_id, id);
    CREATE INDEX admin_audit_log_by_target ON admin_audit_log (target_type, target_id, id);
    ",
    // 12: guilds' discovery applications (one per guild), listed by status for review.
    "
    CREATE TABLE discovery_applications (
        guild_id INTEGER PRIMARY KEY,
        status INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX discovery_applications_by_status ON discovery_applications (status, guild_id);
    ",
    // 13: the outbox of new messages' follow-ups (indexing, the push fan-out), written in the
    // message's own transaction; `due_at` (ms) is the lease's end once claimed, and claims walk
    // its index (the rows leased and waiting for a search commit are not scanned).
    "
    CREATE TABLE message_followups (
        message_id INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        channel_id INTEGER NOT NULL,
        due_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        PRIMARY KEY (message_id, kind)
    ) WITHOUT ROWID;
    CREATE INDEX message_followups_due ON message_followups (due_at, message_id, kind);
    ",
    // 14: who has a push subscription (private documents of kind 17), for the question a new
    // message asks in its own transaction: is there anyone to push to at all?
    "
    CREATE INDEX user_documents_push ON user_documents (user_id) WHERE kind = 17;
    ",
];

/// The schema version this build writes.
pub(super) const VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies every migration newer than the database's version. A database from a newer build is refused.
pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    migrate_to(conn, VERSION)
}

/// Applies the migrations up to version `target`.
fn migrate_to(conn: &mut Connection, target: i64) -> rusqlite::Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > VERSION {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "database schema version {current} is newer than this build's {VERSION}"
        )));
    }
    let pending = MIGRATIONS
        .iter()
        .enumerate()
        .take(target.max(0) as usize)
        .skip(current.max(0) as usize);
    for (i, sql) in pending {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_record_the_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, VERSION);
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        assert!(migrate(&mut conn).is_err(), "a newer schema is refused");
    }

    #[test]
    fn reactions_keep_their_order_across_migration_2() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 1).unwrap();
        conn.execute_batch(
            "INSERT INTO reactions (seq, channel_id, message_id, emoji_key, emoji, user_id) VALUES
                (7, 1, 10, 'b', '{}', 100), (3, 1, 10, 'a', '{}', 101), (9, 2, 20, 'a', '{}', 100);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let rows: Vec<(i64, i64, String, i64, i64)> = conn
            .prepare("SELECT channel_id, message_id, emoji_key, user_id, seq FROM reactions ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                (1, 10, "a".to_owned(), 101, 3),
                (1, 10, "b".to_owned(), 100, 7),
                (2, 20, "a".to_owned(), 100, 9),
            ]
        );
        let duplicate = conn.execute(
            "INSERT INTO reactions (channel_id, message_id, emoji_key, user_id, seq, emoji) VALUES (1, 10, 'a', 101, 11, '{}')",
            [],
        );
        assert!(duplicate.is_err(), "a user reacts once per emoji");
    }

    #[test]
    fn invites_survive_migration_6_and_may_then_have_no_channel() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 5).unwrap();
        conn.execute_batch(
            "INSERT INTO invites (code, guild_id, channel_id, created_at, expires_at, vanity, data)
                VALUES ('abc', 1, 2, 3, 4, 0, '{}'), ('vain', 1, 2, 3, NULL, 1, '{}');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        /// Code, channel, pack, expiry, vanity.
        type Row = (String, Option<i64>, Option<i64>, Option<i64>, bool);
        let rows: Vec<Row> = conn
            .prepare(
                "SELECT code, channel_id, pack_id, expires_at, vanity FROM invites ORDER BY code",
            )
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                ("abc".to_owned(), Some(2), None, Some(4), false),
                ("vain".to_owned(), Some(2), None, None, true),
            ]
        );
        conn.execute(
            "INSERT INTO invites (code, pack_id, created_at, vanity, data) VALUES ('pk', 9, 5, 0, '{}')",
            [],
        )
        .unwrap();
        let duplicate = conn.execute(
            "INSERT INTO invites (code, pack_id, created_at, vanity, data) VALUES ('abc', 9, 5, 0, '{}')",
            [],
        );
        assert!(duplicate.is_err(), "codes stay unique");
    }
}
