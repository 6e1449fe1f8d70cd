//! The limit config staff set through `/admin/limit-config/*`: upstream's rule-based limits
//! (`packages/limits`). A config is a list of rules, each with optional filters (user traits,
//! guild features) and a value per limit key. Upstream's keys are all accepted and kept; those this
//! server has a limit for ([`LimitKeyInfo::enforced`]) replace the built-in value when a rule
//! without filters sets them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// When a rule applies: every listed trait and guild feature must be present. No filter: always.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitFilter {
    /// User traits the rule needs (upstream's `traits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traits: Option<Vec<String>>,
    /// Guild features the rule needs (upstream's `guildFeatures`).
    #[serde(
        default,
        rename = "guildFeatures",
        skip_serializing_if = "Option::is_none"
    )]
    pub guild_features: Option<Vec<String>>,
}

impl LimitFilter {
    /// How many conditions the filter has (upstream's rule specificity).
    pub fn specificity(&self) -> usize {
        self.traits.as_ref().map_or(0, Vec::len) + self.guild_features.as_ref().map_or(0, Vec::len)
    }
}

/// One rule: its ID, when it applies, and the limits it sets (by upstream's limit keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitRule {
    /// Unique within the config; `default` is the rule every account gets.
    pub id: String,
    /// When the rule applies; absent: always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<LimitFilter>,
    /// Limit key → value (bytes, counts, or 0/1 for toggles).
    pub limits: BTreeMap<String, u64>,
}

impl LimitRule {
    /// Whether the rule applies to everyone (no filter, or an empty one).
    pub fn unconditional(&self) -> bool {
        self.filters.as_ref().is_none_or(|f| f.specificity() == 0)
    }
}

/// The whole limit config, as upstream's `LimitConfigSnapshot`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitConfig {
    /// Traits rules may name (upstream's `traitDefinitions`).
    #[serde(default, rename = "traitDefinitions")]
    pub trait_definitions: Vec<String>,
    /// The rules, applied from the least to the most specific.
    pub rules: Vec<LimitRule>,
}

/// The ID of the rule that holds the instance's defaults.
pub const DEFAULT_LIMIT_RULE: &str = "default";

/// What one limit key means, for `/admin/limit-config/get` and validation.
#[derive(Debug, Clone, Copy)]
pub struct LimitKeyInfo {
    /// Upstream's key (`max_message_length`).
    pub key: &'static str,
    /// A short label.
    pub label: &'static str,
    /// `messages`, `guilds`, `channels`, `expressions`, `files`, `social` or `features`.
    pub category: &'static str,
    /// `user`, `guild` or `both`: what the limit is evaluated for.
    pub scope: &'static str,
    /// A 0/1 feature switch rather than an amount.
    pub toggle: bool,
    /// `bytes` or `count`; `None` for toggles.
    pub unit: Option<&'static str>,
    /// Smallest accepted value.
    pub min: u64,
    /// Largest accepted value (upstream's bounds).
    pub max: u64,
    /// Upstream's default on a self-hosted instance (its premium set).
    pub upstream_default: u64,
    /// Whether this server has the limit and applies the configured value.
    pub enforced: bool,
}

macro_rules! keys {
    ($( $key:literal, $label:literal, $cat:literal, $scope:literal, $unit:expr, $min:expr, $max:expr, $def:expr, $enf:expr; )*) => {
        &[$(LimitKeyInfo {
            key: $key,
            label: $label,
            category: $cat,
            scope: $scope,
            toggle: $unit.is_none(),
            unit: $unit,
            min: $min,
            max: $max,
            upstream_default: $def,
            enforced: $enf,
        }),*]
    };
}

const B: Option<&str> = Some("bytes");
const C: Option<&str> = Some("count");
const T: Option<&str> = None;
const MIB: u64 = 1024 * 1024;

/// Every limit key upstream knows, in its order, with its bounds and default.
pub const LIMIT_KEYS: &[LimitKeyInfo] = keys![
    "avatar_max_size", "Avatar max size", "files", "user", B, 1024, 10 * MIB, 10 * MIB, false;
    "emoji_max_size", "Emoji max size", "expressions", "guild", B, 1024, 393_216, 393_216, true;
    "feature_animated_avatar", "Animated avatar", "features", "user", T, 0, 1, 1, false;
    "feature_animated_banner", "Animated banner", "features", "user", T, 0, 1, 1, false;
    "feature_custom_discriminator", "Custom discriminator", "features", "user", T, 0, 1, 1, false;
    "feature_custom_notification_sounds", "Custom notification sounds", "features", "user", T, 0, 1, 1, false;
    "feature_early_access", "Early access", "features", "user", T, 0, 1, 1, false;
    "feature_global_expressions", "Global expressions", "features", "user", T, 0, 1, 1, false;
    "feature_higher_video_quality", "Higher video quality", "features", "user", T, 0, 1, 1, false;
    "feature_per_guild_profiles", "Per-guild profiles", "features", "user", T, 0, 1, 1, false;
    "feature_voice_entrance_sounds", "Voice entrance sounds", "features", "user", T, 0, 1, 1, false;
    "max_attachments_per_message", "Attachments per message", "messages", "both", C, 1, 10, 10, true;
    "max_bio_length", "Bio length", "social", "user", C, 1, 320, 320, false;
    "max_bookmarks", "Bookmarks", "social", "user", C, 0, 300, 300, false;
    "max_channels_per_category", "Channels per category", "channels", "guild", C, 1, 50, 50, false;
    "max_created_packs", "Created packs", "expressions", "user", C, 0, 50, 50, true;
    "max_custom_backgrounds", "Custom backgrounds", "files", "user", C, 0, 15, 15, false;
    "max_embeds_per_message", "Embeds per message", "messages", "both", C, 0, 10, 10, true;
    "max_favorite_meme_tags", "Favorite meme tags", "social", "user", C, 1, 10, 10, false;
    "max_favorite_memes", "Favorite memes", "social", "user", C, 0, 500, 500, false;
    "max_group_dm_recipients", "Group DM recipients", "social", "user", C, 2, 25, 25, false;
    "max_group_dms_per_user", "Group DMs per user", "social", "user", C, 0, 150, 150, false;
    "max_guild_channels", "Channels per guild", "channels", "guild", C, 1, 500, 500, true;
    "max_guild_emojis_animated_more", "Animated emojis (more emoji)", "expressions", "guild", C, 0, 250, 250, false;
    "max_guild_emojis_animated", "Animated emojis", "expressions", "guild", C, 0, 50, 50, true;
    "max_guild_emojis_static_more", "Static emojis (more emoji)", "expressions", "guild", C, 0, 250, 250, false;
    "max_guild_emojis_static", "Static emojis", "expressions", "guild", C, 0, 50, 50, true;
    "max_guild_invites", "Invites per guild", "guilds", "guild", C, 0, 1000, 1000, true;
    "max_guild_members", "Members per guild", "guilds", "guild", C, 1, 10_000_000, 1_000_000, false;
    "max_guild_roles", "Roles per guild", "guilds", "guild", C, 1, 250, 250, true;
    "max_guild_stickers_more", "Stickers (more stickers)", "expressions", "guild", C, 0, 250, 250, false;
    "max_guild_stickers", "Stickers", "expressions", "guild", C, 0, 50, 50, true;
    "max_guilds", "Guilds per user", "guilds", "user", C, 1, 200, 200, true;
    "max_installed_packs", "Installed packs", "expressions", "user", C, 0, 50, 50, true;
    "max_attachment_file_size", "Attachment size", "files", "both", B, 0, 500 * MIB, 500 * MIB, true;
    "max_message_length", "Message length", "messages", "both", C, 1, 4000, 4000, true;
    "max_pack_expressions", "Expressions per pack", "expressions", "guild", C, 1, 200, 200, true;
    "max_private_channels_per_user", "Private channels per user", "social", "user", C, 1, 250, 250, false;
    "max_reactions_per_message", "Reactions per message", "messages", "guild", C, 0, 30, 30, true;
    "max_relationships", "Relationships", "social", "user", C, 0, 1000, 1000, true;
    "max_users_per_message_reaction", "Users per reaction", "messages", "guild", C, 1, 5000, 5000, false;
    "max_voice_message_duration", "Voice message duration (s)", "messages", "both", C, 1, 1200, 1200, false;
    "max_webhooks_per_channel", "Webhooks per channel", "channels", "guild", C, 0, 15, 15, true;
    "max_webhooks_per_guild", "Webhooks per guild", "channels", "guild", C, 0, 1000, 1000, false;
    "sticker_max_size", "Sticker max size", "expressions", "guild", B, 1024, 524_288, 524_288, true;
];

/// The label of each category.
pub const LIMIT_CATEGORIES: &[(&str, &str)] = &[
    ("messages", "Messages"),
    ("guilds", "Guilds"),
    ("channels", "Channels"),
    ("expressions", "Expressions & Stickers"),
    ("files", "Files & Attachments"),
    ("social", "Social & Private"),
    ("features", "Premium Features"),
];

/// The description of a key's limit, for the admin API.
pub fn limit_key_info(key: &str) -> Option<&'static LimitKeyInfo> {
    LIMIT_KEYS.iter().find(|k| k.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_defaults_in_bounds() {
        let mut seen = std::collections::HashSet::new();
        for k in LIMIT_KEYS {
            assert!(seen.insert(k.key), "duplicate {}", k.key);
            assert!(
                k.min <= k.upstream_default && k.upstream_default <= k.max,
                "{}",
                k.key
            );
        }
        assert_eq!(LIMIT_KEYS.len(), 45);
    }

    #[test]
    fn config_reads_upstream_shape() {
        let c: LimitConfig = serde_json::from_str(
            r#"{"rules":[{"id":"default","limits":{"max_message_length":100}},
                {"id":"vip","filters":{"traits":["vip"]},"limits":{"max_guilds":200}}]}"#,
        )
        .unwrap();
        assert!(c.rules[0].unconditional());
        assert!(!c.rules[1].unconditional());
        assert_eq!(
            serde_json::to_value(&c).unwrap()["rules"][1]["filters"],
            serde_json::json!({"traits":["vip"]})
        );
    }
}
