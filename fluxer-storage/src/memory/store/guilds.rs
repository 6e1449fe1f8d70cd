//! Guilds with their channels, members, roles, invites, bans and webhooks.

use std::ops::Bound;

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::id::{
    AuditLogId, ChannelId, ExpressionId, GuildId, PackId, RoleId, UserId, WebhookId,
};
use fluxer_core::model::{
    AuditEntry, AuditQuery, Ban, Channel, ChannelType, Expression, ExpressionKind, Guild, Invite,
    Member, Role, Webhook,
};
use fluxer_core::ports::{
    AuditLogRepository, BanRepository, ChannelRepository, ExpressionRepository, GuildRepository,
    InviteRepository, MemberRepository, PortResult, RoleRepository, WebhookRepository, conflict,
};
use fluxer_core::time::Timestamp;

use super::MemoryStore;

#[async_trait]
impl GuildRepository for MemoryStore {
    async fn create_guild(
        &self,
        guild: &Guild,
        roles: &[Role],
        channels: &[Channel],
        owner: &Member,
    ) -> PortResult<()> {
        self.write(|d| {
            if let Some(code) = &guild.vanity_url_code
                && d.vanity.contains_key(code)
            {
                return Err(StoreError::Conflict(conflict::GUILD_VANITY));
            }
            if let Some(code) = &guild.vanity_url_code {
                d.vanity.insert(code.clone(), guild.id);
            }
            d.guilds.insert(guild.id, guild.clone());
            let r = d.roles.entry(guild.id).or_default();
            for role in roles {
                r.insert(role.id, role.clone());
            }
            for c in channels {
                d.channels.insert(c.id, c.clone());
            }
            d.members
                .entry(guild.id)
                .or_default()
                .insert(owner.user_id, owner.clone());
            d.user_guilds
                .entry(owner.user_id)
                .or_default()
                .insert(guild.id);
            Ok(())
        })
    }

    async fn update_guild(&self, guild: &Guild) -> PortResult<()> {
        self.write(|d| {
            let old = d
                .guilds
                .get(&guild.id)
                .cloned()
                .ok_or(StoreError::NotFound)?;
            if let Some(code) = &guild.vanity_url_code
                && d.vanity.get(code).is_some_and(|g| *g != guild.id)
            {
                return Err(StoreError::Conflict(conflict::GUILD_VANITY));
            }
            if let Some(code) = &old.vanity_url_code {
                d.vanity.remove(code);
            }
            if let Some(code) = &guild.vanity_url_code {
                d.vanity.insert(code.clone(), guild.id);
            }
            d.guilds.insert(guild.id, guild.clone());
            Ok(())
        })
    }

    async fn get_guild(&self, id: GuildId) -> PortResult<Option<Guild>> {
        Ok(self.read(|d| d.guilds.get(&id).cloned()))
    }

    async fn get_guilds(&self, ids: &[GuildId]) -> PortResult<Vec<Guild>> {
        Ok(self.read(|d| {
            ids.iter()
                .filter_map(|id| d.guilds.get(id).cloned())
                .collect()
        }))
    }

    async fn find_guild_by_vanity(&self, code: &str) -> PortResult<Option<Guild>> {
        Ok(self.read(|d| d.vanity.get(code).and_then(|id| d.guilds.get(id).cloned())))
    }

    async fn delete_guild(&self, id: GuildId) -> PortResult<()> {
        self.write(|d| {
            if let Some(g) = d.guilds.remove(&id)
                && let Some(code) = g.vanity_url_code
            {
                d.vanity.remove(&code);
            }
            let channels: Vec<ChannelId> = d
                .channels
                .values()
                .filter(|c| c.guild_id == Some(id))
                .map(|c| c.id)
                .collect();
            for c in channels {
                d.delete_channel_cascade(c);
            }
            d.roles.remove(&id);
            if let Some(members) = d.members.remove(&id) {
                for user in members.keys() {
                    if let Some(set) = d.user_guilds.get_mut(user) {
                        set.remove(&id);
                    }
                }
            }
            d.invites.retain(|_, i| i.guild_id != Some(id));
            d.bans.remove(&id);
            d.discovery.remove(&id);
            d.webhooks.retain(|_, w| w.guild_id != id);
            d.expressions.retain(|_, e| e.guild_id != id);
        });
        Ok(())
    }
}

#[async_trait]
impl ChannelRepository for MemoryStore {
    async fn create_channel(&self, channel: &Channel) -> PortResult<()> {
        self.write(|d| d.channels.insert(channel.id, channel.clone()));
        Ok(())
    }

    async fn update_channel(&self, channel: &Channel) -> PortResult<()> {
        self.write(|d| {
            if !d.channels.contains_key(&channel.id) {
                return Err(StoreError::NotFound);
            }
            d.put_channel(channel.clone());
            Ok(())
        })
    }

    async fn update_channels(&self, channels: &[Channel]) -> PortResult<()> {
        self.write(|d| {
            if channels.iter().any(|c| !d.channels.contains_key(&c.id)) {
                return Err(StoreError::NotFound);
            }
            for c in channels {
                d.put_channel(c.clone());
            }
            Ok(())
        })
    }

    async fn get_channel(&self, id: ChannelId) -> PortResult<Option<Channel>> {
        Ok(self.read(|d| d.channels.get(&id).cloned()))
    }

    async fn list_guild_channels(&self, guild: GuildId) -> PortResult<Vec<Channel>> {
        let mut list: Vec<Channel> = self.read(|d| {
            d.channels
                .values()
                .filter(|c| c.guild_id == Some(guild))
                .cloned()
                .collect()
        });
        list.sort_by_key(|c| (c.position, c.id));
        Ok(list)
    }

    async fn delete_channel(&self, id: ChannelId) -> PortResult<()> {
        self.write(|d| d.delete_channel_cascade(id));
        Ok(())
    }

    async fn find_dm_channel(&self, a: UserId, b: UserId) -> PortResult<Option<Channel>> {
        Ok(self.read(|d| {
            d.channels
                .values()
                .find(|c| {
                    c.kind == ChannelType::Dm
                        && c.recipient_ids.contains(&a)
                        && c.recipient_ids.contains(&b)
                })
                .cloned()
        }))
    }

    async fn list_private_channels(&self, user: UserId) -> PortResult<Vec<Channel>> {
        let mut list: Vec<Channel> = self.read(|d| {
            d.channels
                .values()
                .filter(|c| c.guild_id.is_none() && c.recipient_ids.contains(&user))
                .cloned()
                .collect()
        });
        list.sort_by_key(|c| c.id);
        Ok(list)
    }
}

#[async_trait]
impl MemberRepository for MemoryStore {
    async fn add_member(&self, member: &Member) -> PortResult<()> {
        self.write(|d| {
            let members = d.members.entry(member.guild_id).or_default();
            if members.contains_key(&member.user_id) {
                return Err(StoreError::Conflict(conflict::MEMBER));
            }
            members.insert(member.user_id, member.clone());
            d.user_guilds
                .entry(member.user_id)
                .or_default()
                .insert(member.guild_id);
            Ok(())
        })
    }

    async fn update_member(&self, member: &Member) -> PortResult<()> {
        self.write(|d| {
            let slot = d
                .members
                .get_mut(&member.guild_id)
                .and_then(|m| m.get_mut(&member.user_id))
                .ok_or(StoreError::NotFound)?;
            *slot = member.clone();
            Ok(())
        })
    }

    async fn get_member(&self, guild: GuildId, user: UserId) -> PortResult<Option<Member>> {
        Ok(self.read(|d| d.members.get(&guild).and_then(|m| m.get(&user)).cloned()))
    }

    async fn get_members(&self, guild: GuildId, users: &[UserId]) -> PortResult<Vec<Member>> {
        Ok(self.read(|d| {
            d.members
                .get(&guild)
                .map(|m| users.iter().filter_map(|u| m.get(u).cloned()).collect())
                .unwrap_or_default()
        }))
    }

    async fn list_members(
        &self,
        guild: GuildId,
        after: Option<UserId>,
        limit: u32,
    ) -> PortResult<Vec<Member>> {
        Ok(self.read(|d| {
            d.members
                .get(&guild)
                .map(|m| {
                    let start = after.map_or(Bound::Unbounded, Bound::Excluded);
                    m.range((start, Bound::Unbounded))
                        .take(limit as usize)
                        .map(|(_, m)| m.clone())
                        .collect()
                })
                .unwrap_or_default()
        }))
    }

    async fn remove_member(&self, guild: GuildId, user: UserId) -> PortResult<bool> {
        Ok(self.write(|d| {
            let removed = d
                .members
                .get_mut(&guild)
                .and_then(|m| m.remove(&user))
                .is_some();
            if let Some(set) = d.user_guilds.get_mut(&user) {
                set.remove(&guild);
            }
            removed
        }))
    }

    async fn count_members(&self, guild: GuildId) -> PortResult<u64> {
        Ok(self.read(|d| d.members.get(&guild).map_or(0, |m| m.len() as u64)))
    }

    async fn list_user_guild_ids(&self, user: UserId) -> PortResult<Vec<GuildId>> {
        Ok(self.read(|d| {
            d.user_guilds
                .get(&user)
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default()
        }))
    }
}

#[async_trait]
impl RoleRepository for MemoryStore {
    async fn create_role(&self, role: &Role) -> PortResult<()> {
        self.write(|d| {
            d.roles
                .entry(role.guild_id)
                .or_default()
                .insert(role.id, role.clone())
        });
        Ok(())
    }

    async fn update_roles(&self, roles: &[Role]) -> PortResult<()> {
        self.write(|d| {
            if roles.iter().any(|r| {
                d.roles
                    .get(&r.guild_id)
                    .is_none_or(|m| !m.contains_key(&r.id))
            }) {
                return Err(StoreError::NotFound);
            }
            for r in roles {
                d.roles
                    .entry(r.guild_id)
                    .or_default()
                    .insert(r.id, r.clone());
            }
            Ok(())
        })
    }

    async fn get_role(&self, guild: GuildId, id: RoleId) -> PortResult<Option<Role>> {
        Ok(self.read(|d| d.roles.get(&guild).and_then(|r| r.get(&id)).cloned()))
    }

    async fn list_roles(&self, guild: GuildId) -> PortResult<Vec<Role>> {
        let mut roles: Vec<Role> = self.read(|d| {
            d.roles
                .get(&guild)
                .map(|r| r.values().cloned().collect())
                .unwrap_or_default()
        });
        roles.sort_by_key(|r| (r.position, r.id));
        Ok(roles)
    }

    async fn delete_role(&self, guild: GuildId, id: RoleId) -> PortResult<bool> {
        Ok(self.write(|d| {
            let removed = d
                .roles
                .get_mut(&guild)
                .and_then(|r| r.remove(&id))
                .is_some();
            if removed && let Some(members) = d.members.get_mut(&guild) {
                for m in members.values_mut() {
                    m.roles.retain(|r| *r != id);
                }
            }
            removed
        }))
    }
}

#[async_trait]
impl InviteRepository for MemoryStore {
    async fn create_invite(&self, invite: &Invite) -> PortResult<()> {
        self.write(|d| {
            if d.invites.contains_key(&invite.code) {
                return Err(StoreError::Conflict(conflict::INVITE_CODE));
            }
            d.invites.insert(invite.code.clone(), invite.clone());
            Ok(())
        })
    }

    async fn get_invite(&self, code: &str) -> PortResult<Option<Invite>> {
        Ok(self.read(|d| d.invites.get(code).cloned()))
    }

    async fn list_guild_invites(&self, guild: GuildId) -> PortResult<Vec<Invite>> {
        let mut v: Vec<Invite> = self.read(|d| {
            d.invites
                .values()
                .filter(|i| i.guild_id == Some(guild))
                .cloned()
                .collect()
        });
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.code.cmp(&b.code)));
        Ok(v)
    }

    async fn list_channel_invites(&self, channel: ChannelId) -> PortResult<Vec<Invite>> {
        let mut v: Vec<Invite> = self.read(|d| {
            d.invites
                .values()
                .filter(|i| i.channel_id == Some(channel))
                .cloned()
                .collect()
        });
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.code.cmp(&b.code)));
        Ok(v)
    }

    async fn list_pack_invites(&self, pack: PackId) -> PortResult<Vec<Invite>> {
        let mut v: Vec<Invite> = self.read(|d| {
            d.invites
                .values()
                .filter(|i| i.pack_id == Some(pack))
                .cloned()
                .collect()
        });
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.code.cmp(&b.code)));
        Ok(v)
    }

    async fn delete_invite(&self, code: &str) -> PortResult<bool> {
        Ok(self.write(|d| d.invites.remove(code).is_some()))
    }

    async fn use_invite(&self, code: &str, now: Timestamp) -> PortResult<Option<Invite>> {
        Ok(self.write(|d| {
            let invite = d.invites.get_mut(code)?;
            if invite.is_expired(now) || invite.is_used_up() {
                return None;
            }
            invite.uses += 1;
            Some(invite.clone())
        }))
    }

    async fn delete_expired_invites(&self, now: Timestamp) -> PortResult<u64> {
        Ok(self.write(|d| {
            let before = d.invites.len();
            d.invites.retain(|_, i| !i.is_expired(now));
            (before - d.invites.len()) as u64
        }))
    }
}

#[async_trait]
impl BanRepository for MemoryStore {
    async fn put_ban(&self, ban: &Ban) -> PortResult<()> {
        self.write(|d| {
            d.bans
                .entry(ban.guild_id)
                .or_default()
                .insert(ban.user_id, ban.clone())
        });
        Ok(())
    }

    async fn get_ban(&self, guild: GuildId, user: UserId) -> PortResult<Option<Ban>> {
        Ok(self.read(|d| d.bans.get(&guild).and_then(|b| b.get(&user)).cloned()))
    }

    async fn list_bans(
        &self,
        guild: GuildId,
        after: Option<UserId>,
        limit: u32,
    ) -> PortResult<Vec<Ban>> {
        Ok(self.read(|d| {
            d.bans
                .get(&guild)
                .map(|b| {
                    let start = after.map_or(Bound::Unbounded, Bound::Excluded);
                    b.range((start, Bound::Unbounded))
                        .take(limit as usize)
                        .map(|(_, b)| b.clone())
                        .collect()
                })
                .unwrap_or_default()
        }))
    }

    async fn delete_ban(&self, guild: GuildId, user: UserId) -> PortResult<bool> {
        Ok(self.write(|d| {
            d.bans
                .get_mut(&guild)
                .and_then(|b| b.remove(&user))
                .is_some()
        }))
    }
}

#[async_trait]
impl WebhookRepository for MemoryStore {
    async fn create_webhook(&self, webhook: &Webhook) -> PortResult<()> {
        self.write(|d| d.webhooks.insert(webhook.id, webhook.clone()));
        Ok(())
    }

    async fn update_webhook(&self, webhook: &Webhook) -> PortResult<()> {
        self.write(|d| {
            let slot = d
                .webhooks
                .get_mut(&webhook.id)
                .ok_or(StoreError::NotFound)?;
            *slot = webhook.clone();
            Ok(())
        })
    }

    async fn get_webhook(&self, id: WebhookId) -> PortResult<Option<Webhook>> {
        Ok(self.read(|d| d.webhooks.get(&id).cloned()))
    }

    async fn list_channel_webhooks(&self, channel: ChannelId) -> PortResult<Vec<Webhook>> {
        let mut v: Vec<Webhook> = self.read(|d| {
            d.webhooks
                .values()
                .filter(|w| w.channel_id == channel)
                .cloned()
                .collect()
        });
        v.sort_by_key(|w| w.id);
        Ok(v)
    }

    async fn list_guild_webhooks(&self, guild: GuildId) -> PortResult<Vec<Webhook>> {
        let mut v: Vec<Webhook> = self.read(|d| {
            d.webhooks
                .values()
                .filter(|w| w.guild_id == guild)
                .cloned()
                .collect()
        });
        v.sort_by_key(|w| w.id);
        Ok(v)
    }

    async fn delete_webhook(&self, id: WebhookId) -> PortResult<bool> {
        Ok(self.write(|d| d.webhooks.remove(&id).is_some()))
    }
}

#[async_trait]
impl AuditLogRepository for MemoryStore {
    async fn add_audit_entry(&self, entry: &AuditEntry) -> PortResult<()> {
        self.write(|d| {
            d.audit_log
                .entry(entry.guild_id)
                .or_default()
                .insert(entry.id.get(), entry.clone())
        });
        Ok(())
    }

    async fn list_audit_entries(
        &self,
        guild: GuildId,
        query: &AuditQuery,
    ) -> PortResult<Vec<AuditEntry>> {
        Ok(self.read(|d| {
            d.audit_log
                .get(&guild)
                .map(|log| {
                    log.values()
                        .rev()
                        .filter(|e| {
                            query.before.is_none_or(|b| e.id < b)
                                && query.after.is_none_or(|a| e.id > a)
                                && query.user_id.is_none_or(|u| e.user_id == Some(u))
                                && query.action_type.is_none_or(|t| e.action_type == t)
                        })
                        .take(query.limit as usize)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        }))
    }

    async fn delete_audit_entries_before(&self, before: AuditLogId) -> PortResult<u64> {
        Ok(self.write(|d| {
            let mut gone = 0;
            for log in d.audit_log.values_mut() {
                let keep = log.split_off(&before.get());
                gone += log.len() as u64;
                *log = keep;
            }
            gone
        }))
    }
}

#[async_trait]
impl ExpressionRepository for MemoryStore {
    async fn put_expression(&self, expression: &Expression) -> PortResult<()> {
        self.write(|d| d.expressions.insert(expression.id, expression.clone()));
        Ok(())
    }

    async fn get_expression(&self, id: ExpressionId) -> PortResult<Option<Expression>> {
        Ok(self.read(|d| d.expressions.get(&id).cloned()))
    }

    async fn get_expressions(&self, ids: &[ExpressionId]) -> PortResult<Vec<Expression>> {
        Ok(self.read(|d| {
            ids.iter()
                .filter_map(|id| d.expressions.get(id).cloned())
                .collect()
        }))
    }

    async fn list_guild_expressions(
        &self,
        guild: GuildId,
        kind: ExpressionKind,
    ) -> PortResult<Vec<Expression>> {
        Ok(self.read(|d| {
            d.expressions
                .values()
                .filter(|e| e.guild_id == guild && e.kind == kind)
                .cloned()
                .collect()
        }))
    }

    async fn delete_expression(&self, id: ExpressionId) -> PortResult<bool> {
        Ok(self.write(|d| d.expressions.remove(&id).is_some()))
    }
}
