//! The limit config (`/admin/limit-config/{get,update}`): upstream's rule-based limits, stored
//! as one instance document ([`PrivateDocument::LimitConfig`]) once staff change it.
//!
//! What is enforced: the values of rules without filters (the `default` rule and any other
//! unconditional one) replace this server's built-in [`Limits`] for the keys it has (see
//! [`LimitKeyInfo::enforced`]); where several unconditional rules set one key, the largest wins
//! (upstream's "most generous rule"). Unlike upstream, whose values never go below its free-tier
//! floor, a stored value may lower a limit: a self-hosted instance has no tiers. A rule that
//! filters on user traits (set with `/admin/users/set-traits`) raises the limits of the accounts
//! holding them where the limit is checked against its sender (message content, attachments and
//! embeds, guilds created); rules that need guild features are validated and kept but not applied.
//!
//! Every node reads the stored config at most every [`LIMIT_REFRESH_MS`]; the node that changed
//! it applies the change at once.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};

use super::{AdminAction, AdminPrincipal};
use crate::error::Result;
use crate::model::{
    DEFAULT_LIMIT_RULE, LIMIT_KEYS, LimitConfig, LimitRule, User, acl, limit_key_info,
};
use crate::ports::PrivateDocument;
use crate::service::{Fluxer, Limits};
use crate::time::Timestamp;
use crate::validation::Validator;

/// How old (ms) a node's copy of the stored limit config may get before it reads it again.
pub const LIMIT_REFRESH_MS: i64 = 10_000;
/// Most rules one limit config may hold.
pub const MAX_LIMIT_RULES: usize = 100;
/// Most trait definitions, and most traits or guild features in one filter.
const MAX_NAMES: usize = 100;
/// Longest rule ID, trait or guild feature name.
const MAX_NAME_LEN: usize = 64;
/// Most before/after pairs one update writes to the admin audit log.
const MAX_AUDITED_CHANGES: usize = 100;
/// The trait upstream reserves for paid accounts, stripped on a self-hosted instance.
const PREMIUM_TRAIT: &str = "premium";

impl Limits {
    /// This server's value for an upstream limit key, when it has that limit.
    pub fn by_key(&self, key: &str) -> Option<u64> {
        Some(match key {
            "max_message_length" => self.message_content as u64,
            "max_attachments_per_message" => self.attachments_per_message as u64,
            "max_attachment_file_size" => self.attachment_bytes,
            "max_embeds_per_message" => self.embeds_per_message as u64,
            "max_reactions_per_message" => u64::from(self.reactions_per_message),
            "max_guilds" => self.guilds_per_user as u64,
            "max_guild_channels" => self.channels_per_guild as u64,
            "max_guild_roles" => self.roles_per_guild as u64,
            "max_guild_invites" => self.invites_per_guild as u64,
            "max_webhooks_per_channel" => self.webhooks_per_channel as u64,
            "max_relationships" => self.relationships as u64,
            "max_guild_emojis_static" => self.emojis_per_guild as u64,
            "max_guild_emojis_animated" => self.animated_emojis_per_guild as u64,
            "max_guild_stickers" => self.stickers_per_guild as u64,
            "emoji_max_size" => self.emoji_bytes,
            "sticker_max_size" => self.sticker_bytes,
            "max_created_packs" => self.packs_created as u64,
            "max_installed_packs" => self.packs_installed as u64,
            "max_pack_expressions" => self.expressions_per_pack as u64,
            _ => return None,
        })
    }

    /// Sets the limit an upstream key names; `false` when this server has no such limit.
    fn set_by_key(&mut self, key: &str, value: u64) -> bool {
        let size = usize::try_from(value).unwrap_or(usize::MAX);
        match key {
            "max_message_length" => self.message_content = size,
            "max_attachments_per_message" => self.attachments_per_message = size,
            "max_attachment_file_size" => self.attachment_bytes = value,
            "max_embeds_per_message" => self.embeds_per_message = size,
            "max_reactions_per_message" => {
                self.reactions_per_message = u32::try_from(value).unwrap_or(u32::MAX)
            }
            "max_guilds" => self.guilds_per_user = size,
            "max_guild_channels" => self.channels_per_guild = size,
            "max_guild_roles" => self.roles_per_guild = size,
            "max_guild_invites" => self.invites_per_guild = size,
            "max_webhooks_per_channel" => self.webhooks_per_channel = size,
            "max_relationships" => self.relationships = size,
            "max_guild_emojis_static" => self.emojis_per_guild = size,
            "max_guild_emojis_animated" => self.animated_emojis_per_guild = size,
            "max_guild_stickers" => self.stickers_per_guild = size,
            "emoji_max_size" => self.emoji_bytes = value,
            "sticker_max_size" => self.sticker_bytes = value,
            "max_created_packs" => self.packs_created = size,
            "max_installed_packs" => self.packs_installed = size,
            "max_pack_expressions" => self.expressions_per_pack = size,
            _ => return false,
        }
        true
    }

    /// These limits with `config`'s unconditional rules applied (see the module docs).
    pub fn with_config(&self, config: &LimitConfig) -> Limits {
        let mut chosen: BTreeMap<&str, u64> = BTreeMap::new();
        for rule in config.rules.iter().filter(|r| r.unconditional()) {
            for (key, value) in &rule.limits {
                let slot = chosen.entry(key.as_str()).or_insert(*value);
                *slot = (*slot).max(*value);
            }
        }
        let mut out = self.clone();
        for (key, value) in chosen {
            out.set_by_key(key, value);
        }
        out
    }

    /// These limits (the instance's, unconditional rules applied) raised by the rules whose
    /// trait filter `traits` satisfies, the most generous value winning as upstream. Rules that
    /// need guild features are not applied here.
    pub fn with_trait_rules(&self, config: &LimitConfig, traits: &[String]) -> Limits {
        let mut out = self.clone();
        for rule in config
            .rules
            .iter()
            .filter(|r| trait_rule_matches(r, traits))
        {
            for (key, value) in &rule.limits {
                if let Some(current) = out.by_key(key) {
                    out.set_by_key(key, current.max(*value));
                }
            }
        }
        out
    }
}

/// Whether `rule` filters on traits only, all of which the account has.
fn trait_rule_matches(rule: &LimitRule, traits: &[String]) -> bool {
    let Some(filters) = &rule.filters else {
        return false;
    };
    let needed = filters.traits.as_deref().unwrap_or_default();
    !needed.is_empty()
        && filters.guild_features.as_ref().is_none_or(Vec::is_empty)
        && needed.iter().all(|t| traits.contains(t))
}

/// What a node read: the stored config (if any) and the limits it makes.
struct LimitSnapshot {
    config: Option<Arc<LimitConfig>>,
    limits: Arc<Limits>,
}

/// This process's copy of the limits in effect and when it was read; `None` until first read or
/// after a local change.
#[derive(Default)]
pub(crate) struct LimitCache {
    snapshot: RwLock<Option<(Timestamp, Arc<LimitSnapshot>)>>,
}

impl LimitCache {
    fn fresh(&self, now: Timestamp) -> Option<Arc<LimitSnapshot>> {
        let guard = self.snapshot.read().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .filter(|(at, _)| now.ms_since(*at) < LIMIT_REFRESH_MS)
            .map(|(_, snap)| snap.clone())
    }

    fn store(&self, at: Timestamp, snap: Arc<LimitSnapshot>) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Some((at, snap));
    }
}

/// Drops what a self-hosted instance has no use for, as upstream: the `premium` trait and the
/// rules that need it.
fn sanitize(mut config: LimitConfig) -> LimitConfig {
    config.trait_definitions.retain(|t| t != PREMIUM_TRAIT);
    config.rules.retain(|r| {
        r.filters
            .as_ref()
            .and_then(|f| f.traits.as_ref())
            .is_none_or(|t| !t.iter().any(|t| t == PREMIUM_TRAIT))
    });
    config
}

fn check_names(v: &mut Validator, path: &str, names: Option<&Vec<String>>) {
    let Some(names) = names else { return };
    v.count(path, names.len(), MAX_NAMES);
    for (i, name) in names.iter().take(MAX_NAMES).enumerate() {
        v.length(&format!("{path}.{i}"), name, 1, MAX_NAME_LEN);
    }
}

fn validate(config: &LimitConfig) -> Result<()> {
    let mut v = Validator::new();
    check_names(
        &mut v,
        "limit_config.traitDefinitions",
        Some(&config.trait_definitions),
    );
    v.count("limit_config.rules", config.rules.len(), MAX_LIMIT_RULES);
    let mut ids = HashSet::new();
    for (i, rule) in config.rules.iter().take(MAX_LIMIT_RULES).enumerate() {
        let path = format!("limit_config.rules.{i}");
        v.length(&format!("{path}.id"), &rule.id, 1, MAX_NAME_LEN);
        v.check(
            ids.insert(rule.id.as_str()),
            &format!("{path}.id"),
            "DUPLICATE_VALUE",
            "Rule IDs must be unique.",
        );
        if let Some(f) = &rule.filters {
            check_names(&mut v, &format!("{path}.filters.traits"), f.traits.as_ref());
            check_names(
                &mut v,
                &format!("{path}.filters.guildFeatures"),
                f.guild_features.as_ref(),
            );
        }
        for (key, value) in &rule.limits {
            let path = format!("{path}.limits.{key}");
            match limit_key_info(key) {
                None => v.check(
                    false,
                    &path,
                    "BASE_TYPE_CHOICES",
                    "Invalid limit key detected",
                ),
                Some(info) => v.check(
                    (info.min..=info.max).contains(value),
                    &path,
                    "NUMBER_TYPE_OUT_OF_RANGE",
                    &format!("Must be between {} and {}.", info.min, info.max),
                ),
            }
        }
    }
    v.finish()
}

/// The audit log's before/after pairs: every rule key whose value changed, `unset` for absent.
fn audit_changes(
    mut action: AdminAction,
    before: &LimitConfig,
    after: &LimitConfig,
) -> AdminAction {
    let find = |c: &LimitConfig, id: &str| -> Option<LimitRule> {
        c.rules.iter().find(|r| r.id == id).cloned()
    };
    let mut ids: Vec<&str> = before.rules.iter().map(|r| r.id.as_str()).collect();
    ids.extend(after.rules.iter().map(|r| r.id.as_str()));
    ids.sort_unstable();
    ids.dedup();
    let show = |v: Option<&u64>| v.map_or_else(|| "unset".to_owned(), u64::to_string);
    let mut changes = 0;
    for id in ids {
        let (old, new) = (find(before, id), find(after, id));
        let empty = BTreeMap::new();
        let old_limits = old.as_ref().map_or(&empty, |r| &r.limits);
        let new_limits = new.as_ref().map_or(&empty, |r| &r.limits);
        let keys: std::collections::BTreeSet<&String> =
            old_limits.keys().chain(new_limits.keys()).collect();
        for key in keys {
            let (a, b) = (old_limits.get(key), new_limits.get(key));
            if a != b && changes < MAX_AUDITED_CHANGES {
                action = action.change(&format!("{id}.{key}"), show(a), show(b));
                changes += 1;
            }
        }
        if old.as_ref().map(|r| &r.filters) != new.as_ref().map(|r| &r.filters) {
            let filters = |r: Option<&LimitRule>| {
                r.map_or_else(
                    || "absent".to_owned(),
                    |r| serde_json::to_string(&r.filters).unwrap_or_default(),
                )
            };
            action = action.change(
                &format!("{id}.filters"),
                filters(old.as_ref()),
                filters(new.as_ref()),
            );
        }
    }
    action.with("rules", after.rules.len())
}

impl Fluxer {
    /// The limits in effect: the built-in ones with the stored limit config applied. Read from
    /// memory; the database at most every [`LIMIT_REFRESH_MS`].
    pub(crate) async fn limits(&self) -> Result<Arc<Limits>> {
        Ok(self.limit_snapshot().await?.limits.clone())
    }

    /// The limits in effect for `user`: the instance's, raised by the rules for its traits.
    pub(crate) async fn limits_for(&self, user: &User) -> Result<Arc<Limits>> {
        let snap = self.limit_snapshot().await?;
        match &snap.config {
            Some(config)
                if !user.traits.is_empty()
                    && config
                        .rules
                        .iter()
                        .any(|r| trait_rule_matches(r, &user.traits)) =>
            {
                Ok(Arc::new(snap.limits.with_trait_rules(config, &user.traits)))
            }
            _ => Ok(snap.limits.clone()),
        }
    }

    /// The limit config staff stored, if any, as this node last read it (for clients, through
    /// instance discovery).
    pub async fn stored_limit_config_cached(&self) -> Result<Option<Arc<LimitConfig>>> {
        Ok(self.limit_snapshot().await?.config.clone())
    }

    async fn limit_snapshot(&self) -> Result<Arc<LimitSnapshot>> {
        let now = self.now();
        if let Some(snap) = self.inner.limits.fresh(now) {
            return Ok(snap);
        }
        let config = self.stored_limit_config().await?;
        let snap = Arc::new(self.snapshot_of(config));
        self.inner.limits.store(now, snap.clone());
        Ok(snap)
    }

    fn snapshot_of(&self, config: Option<LimitConfig>) -> LimitSnapshot {
        let base = &self.config().limits;
        LimitSnapshot {
            limits: Arc::new(match &config {
                Some(config) => base.with_config(config),
                None => base.clone(),
            }),
            config: config.map(Arc::new),
        }
    }

    async fn stored_limit_config(&self) -> Result<Option<LimitConfig>> {
        self.instance_doc::<LimitConfig>(PrivateDocument::LimitConfig, 0)
            .await
    }

    /// Every limit key's default on this instance: this server's configured value where it has
    /// the limit, upstream's self-hosted default otherwise.
    pub fn default_limits(&self) -> BTreeMap<String, u64> {
        let base = &self.config().limits;
        LIMIT_KEYS
            .iter()
            .map(|k| {
                (
                    k.key.to_owned(),
                    base.by_key(k.key).unwrap_or(k.upstream_default),
                )
            })
            .collect()
    }

    /// The limit config until staff change it: one `default` rule holding [`default_limits`](Self::default_limits).
    pub fn default_limit_config(&self) -> LimitConfig {
        LimitConfig {
            trait_definitions: Vec::new(),
            rules: vec![LimitRule {
                id: DEFAULT_LIMIT_RULE.to_owned(),
                filters: None,
                limits: self.default_limits(),
            }],
        }
    }

    /// The limit config in effect: the stored one, else the default.
    pub async fn limit_config(&self) -> Result<LimitConfig> {
        Ok(self
            .stored_limit_config()
            .await?
            .unwrap_or_else(|| self.default_limit_config()))
    }

    /// The limit config, for staff (`instance:limit_config:view`).
    pub async fn get_limit_config(&self, who: &AdminPrincipal) -> Result<LimitConfig> {
        who.require(acl::INSTANCE_LIMIT_CONFIG_VIEW)?;
        self.limit_config().await
    }

    /// Replaces the limit config (`instance:limit_config:update`): every key must be one of
    /// upstream's, within its bounds; the `premium` trait and its rules are dropped, as upstream
    /// does on a self-hosted instance. Takes effect on this node at once, on the others within
    /// [`LIMIT_REFRESH_MS`]. Each changed value is logged with its old and new value.
    pub async fn update_limit_config(
        &self,
        who: &AdminPrincipal,
        config: LimitConfig,
    ) -> Result<LimitConfig> {
        who.require(acl::INSTANCE_LIMIT_CONFIG_UPDATE)?;
        validate(&config)?;
        let after = sanitize(config);
        let before = self.limit_config().await?;
        self.put_instance_doc(PrivateDocument::LimitConfig, 0, Some(&after))
            .await?;
        let snap = Arc::new(self.snapshot_of(Some(after.clone())));
        self.inner.limits.store(self.now(), snap);
        let action = AdminAction::new("limit_config.update", "limit_config", "instance");
        self.record_admin_action(who, audit_changes(action, &before, &after))
            .await?;
        Ok(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LimitFilter;

    fn rule(id: &str, filters: Option<LimitFilter>, limits: &[(&str, u64)]) -> LimitRule {
        LimitRule {
            id: id.to_owned(),
            filters,
            limits: limits.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        }
    }

    #[test]
    fn unconditional_rules_replace_builtin_limits_and_filtered_ones_do_not() {
        let base = Limits::default();
        let vip = LimitFilter {
            traits: Some(vec!["vip".into()]),
            guild_features: None,
        };
        let config = LimitConfig {
            trait_definitions: vec!["vip".into()],
            rules: vec![
                rule(
                    "default",
                    None,
                    &[("max_message_length", 100), ("max_guilds", 5)],
                ),
                rule("other", None, &[("max_guilds", 7), ("max_bookmarks", 3)]),
                rule("vip", Some(vip), &[("max_message_length", 4000)]),
            ],
        };
        let got = base.with_config(&config);
        assert_eq!(got.message_content, 100);
        assert_eq!(got.guilds_per_user, 7);
        assert_eq!(got.channels_per_guild, base.channels_per_guild);
    }

    #[test]
    fn trait_rules_raise_the_limits_of_accounts_holding_the_traits() {
        let vip = LimitFilter {
            traits: Some(vec!["vip".into()]),
            guild_features: None,
        };
        let config = LimitConfig {
            trait_definitions: vec!["vip".into()],
            rules: vec![
                rule("default", None, &[("max_message_length", 100)]),
                rule(
                    "vip",
                    Some(vip),
                    &[("max_message_length", 3000), ("max_guilds", 1)],
                ),
            ],
        };
        let shared = Limits::default().with_config(&config);
        let plain = shared.with_trait_rules(&config, &["other".into()]);
        assert_eq!(plain.message_content, 100);
        let raised = shared.with_trait_rules(&config, &["vip".into()]);
        assert_eq!(raised.message_content, 3000);
        // Never lowered by a trait rule.
        assert_eq!(raised.guilds_per_user, shared.guilds_per_user);
    }

    #[test]
    fn every_enforced_key_round_trips() {
        let mut l = Limits::default();
        for k in LIMIT_KEYS {
            assert_eq!(l.by_key(k.key).is_some(), k.enforced, "{}", k.key);
            if k.enforced {
                assert!(l.set_by_key(k.key, k.min));
                assert_eq!(l.by_key(k.key), Some(k.min), "{}", k.key);
            }
        }
    }

    #[test]
    fn validation_refuses_unknown_keys_out_of_range_values_and_duplicate_ids() {
        let ok = LimitConfig {
            trait_definitions: vec![],
            rules: vec![rule("default", None, &[("max_message_length", 1)])],
        };
        assert!(validate(&ok).is_ok());
        for bad in [
            vec![rule("default", None, &[("max_wat", 1)])],
            vec![rule("default", None, &[("max_message_length", 0)])],
            vec![rule("default", None, &[("max_message_length", 4001)])],
            vec![rule("a", None, &[]), rule("a", None, &[])],
            vec![rule("", None, &[])],
        ] {
            let config = LimitConfig {
                trait_definitions: vec![],
                rules: bad,
            };
            assert!(validate(&config).is_err(), "{config:?}");
        }
    }

    #[test]
    fn sanitize_drops_premium() {
        let premium = LimitFilter {
            traits: Some(vec![PREMIUM_TRAIT.into()]),
            guild_features: None,
        };
        let c = sanitize(LimitConfig {
            trait_definitions: vec![PREMIUM_TRAIT.into(), "vip".into()],
            rules: vec![
                rule("premium", Some(premium), &[]),
                rule("default", None, &[]),
            ],
        });
        assert_eq!(c.trait_definitions, vec!["vip".to_owned()]);
        assert_eq!(c.rules.len(), 1);
    }
}
