//! Versioned migrations, applied in order at connect, each in its own transaction and recorded in
//! `fluxer_schema_migrations`.

use deadpool_postgres::Object;
use fluxer_core::StoreError;
use tokio_postgres::error::SqlState;

use super::Failure;

/// Migration N brings the schema from version N to N+1. Constraint names matter: unique violations are
/// reported by them (`conflict_of` in the parent module).
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "
    CREATE TABLE users (
        id BIGINT NOT NULL,
        email TEXT,
        username_lc TEXT NOT NULL,
        discriminator INTEGER NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT users_pkey PRIMARY KEY (id),
        CONSTRAINT users_email_key UNIQUE (email),
        CONSTRAINT users_tag_key UNIQUE (username_lc, discriminator)
    );
    CREATE TABLE sessions (
        token_hash BYTEA NOT NULL,
        user_id BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT sessions_pkey PRIMARY KEY (token_hash)
    );
    CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
    CREATE TABLE action_tokens (
        token_hash BYTEA NOT NULL,
        kind TEXT NOT NULL,
        user_id BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        CONSTRAINT action_tokens_pkey PRIMARY KEY (token_hash)
    );
    CREATE TABLE guilds (
        id BIGINT NOT NULL,
        vanity TEXT,
        data JSONB NOT NULL,
        CONSTRAINT guilds_pkey PRIMARY KEY (id),
        CONSTRAINT guilds_vanity_key UNIQUE (vanity)
    );
    CREATE TABLE channels (
        id BIGINT NOT NULL,
        guild_id BIGINT,
        kind INTEGER NOT NULL,
        position INTEGER NOT NULL,
        last_message_id BIGINT,
        data JSONB NOT NULL,
        CONSTRAINT channels_pkey PRIMARY KEY (id)
    );
    CREATE INDEX channels_by_guild ON channels (guild_id, position, id);
    CREATE TABLE channel_recipients (
        user_id BIGINT NOT NULL,
        channel_id BIGINT NOT NULL,
        CONSTRAINT channel_recipients_pkey PRIMARY KEY (user_id, channel_id)
    );
    CREATE INDEX channel_recipients_by_channel ON channel_recipients (channel_id);
    CREATE TABLE messages (
        channel_id BIGINT NOT NULL,
        id BIGINT NOT NULL,
        pinned_at BIGINT,
        data JSONB NOT NULL,
        CONSTRAINT messages_pkey PRIMARY KEY (channel_id, id)
    );
    CREATE INDEX messages_pinned ON messages (channel_id, pinned_at) WHERE pinned_at IS NOT NULL;
    CREATE TABLE reactions (
        channel_id BIGINT NOT NULL,
        message_id BIGINT NOT NULL,
        emoji_key TEXT NOT NULL,
        user_id BIGINT NOT NULL,
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        emoji TEXT NOT NULL,
        CONSTRAINT reactions_pkey PRIMARY KEY (channel_id, message_id, emoji_key, user_id)
    );
    CREATE INDEX reactions_in_order ON reactions (channel_id, message_id, seq);
    CREATE TABLE members (
        guild_id BIGINT NOT NULL,
        user_id BIGINT NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT members_pkey PRIMARY KEY (guild_id, user_id)
    );
    CREATE INDEX members_by_user ON members (user_id, guild_id);
    CREATE TABLE roles (
        guild_id BIGINT NOT NULL,
        id BIGINT NOT NULL,
        position INTEGER NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT roles_pkey PRIMARY KEY (guild_id, id)
    );
    CREATE TABLE invites (
        code TEXT NOT NULL,
        guild_id BIGINT,
        channel_id BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        vanity BOOLEAN NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT invites_pkey PRIMARY KEY (code)
    );
    CREATE INDEX invites_by_guild ON invites (guild_id);
    CREATE INDEX invites_by_channel ON invites (channel_id);
    CREATE INDEX invites_by_expiry ON invites (expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE bans (
        guild_id BIGINT NOT NULL,
        user_id BIGINT NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT bans_pkey PRIMARY KEY (guild_id, user_id)
    );
    CREATE TABLE webhooks (
        id BIGINT NOT NULL,
        guild_id BIGINT NOT NULL,
        channel_id BIGINT NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT webhooks_pkey PRIMARY KEY (id)
    );
    CREATE INDEX webhooks_by_guild ON webhooks (guild_id);
    CREATE INDEX webhooks_by_channel ON webhooks (channel_id);
    CREATE TABLE applications (
        id BIGINT NOT NULL,
        owner_id BIGINT NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT applications_pkey PRIMARY KEY (id)
    );
    CREATE INDEX applications_by_owner ON applications (owner_id);
    CREATE TABLE read_states (
        user_id BIGINT NOT NULL,
        channel_id BIGINT NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT read_states_pkey PRIMARY KEY (user_id, channel_id)
    );
    CREATE INDEX read_states_by_channel ON read_states (channel_id);
    CREATE TABLE relationships (
        user_id BIGINT NOT NULL,
        target_id BIGINT NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT relationships_pkey PRIMARY KEY (user_id, target_id)
    );
    ",
    // 2: what users keep for themselves (settings, per-guild settings, notes, pinned DMs).
    "
    CREATE TABLE user_documents (
        user_id BIGINT NOT NULL,
        kind SMALLINT NOT NULL,
        key BIGINT NOT NULL,
        data TEXT NOT NULL,
        CONSTRAINT user_documents_pkey PRIMARY KEY (user_id, kind, key)
    );
    ",
    // 3: guild audit logs.
    "
    CREATE TABLE audit_log (
        guild_id BIGINT NOT NULL,
        id BIGINT NOT NULL,
        user_id BIGINT,
        action_type INTEGER NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT audit_log_pkey PRIMARY KEY (guild_id, id)
    );
    CREATE INDEX audit_log_by_id ON audit_log (id);
    ",
    // 4: guilds' custom emojis and stickers.
    "
    CREATE TABLE expressions (
        id BIGINT NOT NULL,
        guild_id BIGINT NOT NULL,
        kind SMALLINT NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT expressions_pkey PRIMARY KEY (id)
    );
    CREATE INDEX expressions_by_guild ON expressions (guild_id, kind, id);
    ",
    // 5: users' emoji and sticker packs (their expressions are rows of `expressions` under the
    //    pack's ID), and invites to a pack, which have no channel.
    "
    CREATE TABLE packs (
        id BIGINT NOT NULL,
        creator_id BIGINT NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT packs_pkey PRIMARY KEY (id)
    );
    CREATE INDEX packs_by_creator ON packs (creator_id, id);
    ALTER TABLE invites ALTER COLUMN channel_id DROP NOT NULL;
    ALTER TABLE invites ADD COLUMN pack_id BIGINT;
    CREATE INDEX invites_by_pack ON invites (pack_id) WHERE pack_id IS NOT NULL;
    ",
    // 6: reports filed with the instance's staff.
    "
    CREATE TABLE reports (
        id BIGINT NOT NULL,
        status SMALLINT NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT reports_pkey PRIMARY KEY (id)
    );
    CREATE INDEX reports_by_status ON reports (status, id);
    ",
    // 7: OAuth2 credentials (codes, access and refresh tokens), by the SHA-256 of the token.
    "
    CREATE TABLE oauth2_tokens (
        token_hash BYTEA NOT NULL,
        kind SMALLINT NOT NULL,
        user_id BIGINT NOT NULL,
        application_id BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT oauth2_tokens_pkey PRIMARY KEY (token_hash)
    );
    CREATE INDEX oauth2_tokens_by_grant ON oauth2_tokens (user_id, application_id);
    CREATE INDEX oauth2_tokens_by_application ON oauth2_tokens (application_id);
    CREATE INDEX oauth2_tokens_by_expiry ON oauth2_tokens (expires_at);
    ",
    // 8: single sign-on identities: which account an OpenID provider's subject signs in to.
    "
    CREATE TABLE sso_identities (
        issuer TEXT NOT NULL,
        subject TEXT NOT NULL,
        user_id BIGINT NOT NULL,
        CONSTRAINT sso_identities_pkey PRIMARY KEY (issuer, subject)
    );
    CREATE INDEX sso_identities_by_user ON sso_identities (user_id);
    ",
    // 9: WebAuthn credentials (passkeys and security keys), by credential ID.
    "
    CREATE TABLE webauthn_credentials (
        id TEXT NOT NULL,
        user_id BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        sign_count BIGINT NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT webauthn_credentials_pkey PRIMARY KEY (id)
    );
    CREATE INDEX webauthn_credentials_by_user ON webauthn_credentials (user_id, created_at);
    ",
    // 10: the admin audit log (what staff did); `search_text` is the entry's lower-cased text.
    "
    CREATE TABLE admin_audit_log (
        id BIGINT NOT NULL,
        actor_id BIGINT NOT NULL,
        target_type TEXT NOT NULL,
        target_id TEXT NOT NULL,
        search_text TEXT NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT admin_audit_log_pkey PRIMARY KEY (id)
    );
    CREATE INDEX admin_audit_log_by_actor ON admin_audit_log (actor_id, id);
    CREATE INDEX admin_audit_log_by_target ON admin_audit_log (target_type, target_id, id);
    ",
    // 11: guilds' discovery applications (one per guild), listed by status for review.
    "
    CREATE TABLE discovery_applications (
        guild_id BIGINT NOT NULL,
        status SMALLINT NOT NULL,
        data JSONB NOT NULL,
        CONSTRAINT discovery_applications_pkey PRIMARY KEY (guild_id)
    );
    CREATE INDEX discovery_applications_by_status ON discovery_applications (status, guild_id);
    ",
    // 12: messages are stored as `json` (their text as written) instead of `jsonb`. Nothing queries
    // inside a message, and reading history spent a fifth of the server's time turning `jsonb`
    // back into text for every message of every page.
    "
    ALTER TABLE messages ALTER COLUMN data TYPE JSON USING data::json;
    ",
    // 13: the outbox of new messages' follow-ups (indexing, the push fan-out), written in the
    // message's own statement; `due_at` (ms) is the lease's end once claimed, and claims walk its
    // index (the rows leased and waiting for a search commit are not scanned).
    "
    CREATE TABLE message_followups (
        message_id BIGINT NOT NULL,
        kind SMALLINT NOT NULL,
        channel_id BIGINT NOT NULL,
        due_at BIGINT NOT NULL,
        attempts INTEGER NOT NULL,
        CONSTRAINT message_followups_pkey PRIMARY KEY (message_id, kind)
    );
    CREATE INDEX message_followups_due ON message_followups (due_at, message_id, kind);
    ",
    // 14: who has a push subscription (private documents of kind 17), for the question a new
    // message asks in its own transaction: is there anyone to push to at all?
    "
    CREATE INDEX user_documents_push ON user_documents (user_id) WHERE kind = 17;
    ",
];

/// The schema version this build writes.
pub(super) const VERSION: i32 = MIGRATIONS.len() as i32;

/// The storage schema's ledger.
const LEDGER: &str = "fluxer_schema_migrations";

/// Applies every migration newer than the database's version. A database from a newer build is refused.
pub(super) async fn migrate(client: &mut Object) -> Result<(), Failure> {
    migrate_to(client, LEDGER, MIGRATIONS, VERSION).await
}

/// Applies `migrations` up to version `target`, recording them in the table `ledger` (a constant:
/// each migration list, such as the search index's, keeps its own versions).
pub(super) async fn migrate_to(
    client: &mut Object,
    ledger: &'static str,
    migrations: &[&str],
    target: i32,
) -> Result<(), Failure> {
    let create_ledger = format!(
        "CREATE TABLE IF NOT EXISTS {ledger} (
            version INTEGER NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            CONSTRAINT {ledger}_pkey PRIMARY KEY (version)
        )"
    );
    let latest = migrations.len() as i32;
    if let Err(e) = client.batch_execute(&create_ledger).await {
        // Instances creating the ledger at once: even with IF NOT EXISTS, PostgreSQL may report the
        // loser's attempt as a duplicate (of the table, its row type or its catalog entry). The ledger
        // exists either way.
        if !matches!(
            e.code(),
            Some(&SqlState::UNIQUE_VIOLATION)
                | Some(&SqlState::DUPLICATE_TABLE)
                | Some(&SqlState::DUPLICATE_OBJECT)
        ) {
            return Err(e.into());
        }
    }
    let current = current_version(client, ledger).await?;
    if current > latest {
        return Err(StoreError::backend_of(
            "postgres",
            format!(
                "database schema version {current} ({ledger}) is newer than this build's {latest}"
            ),
        )
        .into());
    }
    for (i, sql) in migrations
        .iter()
        .enumerate()
        .take(target.max(0) as usize)
        .skip(current.max(0) as usize)
    {
        let version = i as i32 + 1;
        let tx = client.transaction().await?;
        // Claiming the version first serializes instances migrating at once: the second insert waits
        // for the first transaction and fails if it committed.
        match tx
            .execute(
                &format!("INSERT INTO {ledger} (version) VALUES ($1)"),
                &[&version],
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                tx.rollback().await?;
                tracing::debug!(version, ledger, "migration applied by another instance");
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        tx.batch_execute(sql).await?;
        tx.commit().await?;
        tracing::info!(version, ledger, "applied PostgreSQL migration");
    }
    Ok(())
}

async fn current_version(client: &Object, ledger: &str) -> Result<i32, Failure> {
    let row = client
        .query_one(
            &format!("SELECT COALESCE(MAX(version), 0) FROM {ledger}"),
            &[],
        )
        .await?;
    Ok(row.try_get(0)?)
}
