//! Guild audit logs: every moderation and configuration change recorded with who did it, to what,
//! what changed and the reason given (`X-Audit-Log-Reason`), read back with
//! `GET /guilds/{id}/audit-logs` by members with VIEW_AUDIT_LOG. Entries are kept 45 days.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::{Actor, Fluxer};
use crate::error::Result;
use crate::id::{AuditLogId, GuildId, UserId, WebhookId};
use crate::model::{AuditChange, AuditEntry, AuditQuery, UserPartial};
use crate::permission::Permissions;
use crate::validation::Validator;

/// How long entries are kept.
pub(crate) const AUDIT_LOG_RETENTION_MS: i64 = 45 * 24 * 3600 * 1000;
/// Longest reason kept.
const MAX_REASON_CHARS: usize = 512;

/// `GET /guilds/{id}/audit-logs`.
#[derive(Debug, Clone, Serialize)]
pub struct AuditLogPage {
    /// The entries, newest first.
    pub audit_log_entries: Vec<AuditEntry>,
    /// The users the entries name (actors and user targets).
    pub users: Vec<UserPartial>,
    /// The webhooks the entries name.
    pub webhooks: Vec<AuditWebhook>,
}

/// A webhook an audit log names.
#[derive(Debug, Clone, Serialize)]
pub struct AuditWebhook {
    /// The webhook.
    pub id: WebhookId,
    /// Always 1 (incoming).
    #[serde(rename = "type")]
    pub kind: u8,
    /// Its guild.
    pub guild_id: GuildId,
    /// Its channel.
    pub channel_id: crate::id::ChannelId,
    /// Its name.
    pub name: String,
    /// Its avatar hash.
    pub avatar_hash: Option<String>,
}

/// A change of one field, for an entry.
pub(crate) fn change<T: Serialize>(key: &str, old: Option<T>, new: Option<T>) -> AuditChange {
    let value = |v: Option<T>| v.and_then(|v| serde_json::to_value(v).ok());
    AuditChange {
        key: key.to_owned(),
        old_value: value(old),
        new_value: value(new),
    }
}

/// The changes between two serializations of the same thing, field by field (`skip` left out).
pub(crate) fn diff(old: &impl Serialize, new: &impl Serialize, skip: &[&str]) -> Vec<AuditChange> {
    let (Ok(Value::Object(old)), Ok(Value::Object(new))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return Vec::new();
    };
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|k| !skip.contains(&k.as_str()))
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| AuditChange {
            key: k.clone(),
            old_value: old.get(k).filter(|v| !v.is_null()).cloned(),
            new_value: new.get(k).filter(|v| !v.is_null()).cloned(),
        })
        .collect()
}

/// What an entry records, besides who and where.
pub(crate) struct Audited {
    pub(crate) action: u16,
    pub(crate) target: Option<String>,
    pub(crate) changes: Vec<AuditChange>,
    pub(crate) options: Option<Value>,
}

impl Audited {
    /// An action on `target` with these changes.
    pub(crate) fn new(action: u16, target: impl ToString, changes: Vec<AuditChange>) -> Audited {
        Audited {
            action,
            target: Some(target.to_string()),
            changes,
            options: None,
        }
    }

    /// With action-specific details.
    pub(crate) fn options(mut self, options: Value) -> Audited {
        self.options = Some(options);
        self
    }
}

impl Fluxer {
    /// Records what `actor` did in `guild`.
    pub(crate) async fn audit(&self, actor: &Actor, guild: GuildId, what: Audited) -> Result<()> {
        let reason = actor
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let entry = AuditEntry {
            id: self.next_id(),
            guild_id: guild,
            action_type: what.action,
            user_id: Some(actor.id()),
            target_id: what.target,
            reason: reason.map(|r| r.chars().take(MAX_REASON_CHARS).collect()),
            options: what.options,
            changes: what.changes,
        };
        Ok(self.store().add_audit_entry(&entry).await?)
    }

    /// `GET /guilds/{id}/audit-logs`: needs VIEW_AUDIT_LOG.
    pub async fn guild_audit_log(
        &self,
        actor: &Actor,
        guild: GuildId,
        mut query: AuditQuery,
    ) -> Result<AuditLogPage> {
        if query.limit == 0 {
            query.limit = 50;
        }
        let mut v = Validator::new();
        v.range("limit", i64::from(query.limit), 1, 100);
        v.finish()?;
        let access = self.guild_access(actor.id(), guild).await?;
        access.require(Permissions::VIEW_AUDIT_LOG)?;
        let entries = self.store().list_audit_entries(guild, &query).await?;
        let mut user_ids: Vec<UserId> = entries.iter().filter_map(|e| e.user_id).collect();
        user_ids.extend(
            entries
                .iter()
                .filter_map(|e| e.target_id.as_deref()?.parse::<UserId>().ok()),
        );
        user_ids.sort_unstable();
        user_ids.dedup();
        let users = self.user_partials(&user_ids).await?;
        let mut webhooks = Vec::new();
        for hook in self.store().list_guild_webhooks(guild).await? {
            if entries
                .iter()
                .any(|e| e.target_id.as_deref() == Some(&hook.id.to_string()))
            {
                webhooks.push(AuditWebhook {
                    id: hook.id,
                    kind: 1,
                    guild_id: hook.guild_id,
                    channel_id: hook.channel_id,
                    name: hook.name,
                    avatar_hash: hook.avatar,
                });
            }
        }
        Ok(AuditLogPage {
            audit_log_entries: entries,
            users: user_ids
                .iter()
                .filter_map(|id| users.get(id).cloned())
                .collect(),
            webhooks,
        })
    }

    /// Drops entries past the retention period.
    pub(crate) async fn expire_audit_log(&self) -> Result<u64> {
        let cutoff = self.now().plus_ms(-AUDIT_LOG_RETENTION_MS);
        Ok(self
            .store()
            .delete_audit_entries_before(AuditLogId(crate::id::Snowflake::min_at(cutoff)))
            .await?)
    }
}
