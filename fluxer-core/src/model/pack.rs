//! Users' emoji and sticker packs: a named set of expressions one user makes, that others install
//! (directly or through a pack invite) to use its emojis and stickers anywhere.

use serde::{Deserialize, Serialize};

use super::{ExpressionKind, UserPartial};
use crate::id::{PackId, UserId};
use crate::time::Timestamp;

/// A pack as stored. Its emojis or stickers are [`Expression`](super::Expression)s owned by
/// [`PackId::expression_owner`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pack {
    /// Snowflake ID.
    pub id: PackId,
    /// What it holds: emojis or stickers, never both.
    pub kind: ExpressionKind,
    /// Who made it: the only one who may change it, fill it or invite to it.
    pub creator_id: UserId,
    /// 1-64 characters.
    pub name: String,
    /// 1-256 characters; `None` without one.
    pub description: Option<String>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When its name or description last changed.
    pub updated_at: Timestamp,
}

impl Pack {
    /// Its wire form; `installed_at` for the caller's installed packs.
    pub fn summary(&self, installed_at: Option<Timestamp>) -> PackSummary {
        PackSummary {
            id: self.id,
            name: self.name.clone(),
            description: self.description.clone(),
            kind: self.kind,
            creator_id: self.creator_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            installed_at,
        }
    }
}

/// A user's installation of someone's pack, kept among the user's private documents (key: the
/// pack's ID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackInstallation {
    /// The pack's kind, so the packs of one kind are counted without reading them.
    pub kind: ExpressionKind,
    /// When it was installed.
    pub installed_at: Timestamp,
}

/// `PackSummaryResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackSummary {
    /// Snowflake ID.
    pub id: PackId,
    /// Its name.
    pub name: String,
    /// Its description; `null` without one.
    pub description: Option<String>,
    /// `emoji` or `sticker`.
    #[serde(rename = "type")]
    pub kind: ExpressionKind,
    /// Who made it.
    pub creator_id: UserId,
    /// When it was made (ISO 8601).
    pub created_at: Timestamp,
    /// When it last changed (ISO 8601).
    pub updated_at: Timestamp,
    /// When the caller installed it; only in the dashboard's `installed` lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_at: Option<Timestamp>,
}

/// One kind's half of `GET /packs` (`PackDashboardSectionResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackSection {
    /// How many packs of this kind the caller may install.
    pub installed_limit: u32,
    /// How many packs of this kind the caller may make.
    pub created_limit: u32,
    /// The packs of this kind the caller installed, oldest installation first.
    pub installed: Vec<PackSummary>,
    /// The packs of this kind the caller made, oldest first.
    pub created: Vec<PackSummary>,
}

/// `GET /packs` (`PackDashboardResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackDashboard {
    /// Emoji packs.
    pub emoji: PackSection,
    /// Sticker packs.
    pub sticker: PackSection,
}

/// The pack a pack invite shows, with its creator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackInfo {
    /// The pack's summary fields.
    #[serde(flatten)]
    pub summary: PackSummary,
    /// Who made it.
    pub creator: UserPartial,
}

/// A pack invite (`PackInviteMetadataResponse`): what `/invites/{code}` and `/packs/{id}/invites`
/// answer for an invite to a pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackInviteResponse {
    /// 8 random base62 characters.
    pub code: String,
    /// 2 for an emoji pack, 3 for a sticker pack.
    #[serde(rename = "type")]
    pub kind: u8,
    /// The pack it installs.
    pub pack: PackInfo,
    /// Who made the invite (the pack's creator).
    pub inviter: Option<UserPartial>,
    /// When it expires (ISO 8601); `null` if never.
    pub expires_at: Option<Timestamp>,
    /// Always false for a pack.
    pub temporary: bool,
    /// When it was made (ISO 8601).
    pub created_at: Timestamp,
    /// How many times it has been accepted.
    pub uses: u32,
    /// Most uses allowed, 0-100; 0 = unlimited.
    pub max_uses: u32,
}

/// The invite type a pack's invites have on the wire (upstream's `InviteTypes`).
pub fn pack_invite_type(kind: ExpressionKind) -> u8 {
    match kind {
        ExpressionKind::Emoji => 2,
        ExpressionKind::Sticker => 3,
    }
}
