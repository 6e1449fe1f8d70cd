//! Discovery applications: a guild asks to be listed in the instance's discovery directory, staff
//! approve or reject the request, and may later remove an approved listing.

use serde::{Deserialize, Serialize};

use crate::id::{GuildId, UserId};
use crate::time::Timestamp;

/// Where a discovery application stands (upstream's strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiscoveryStatus {
    /// Waiting for staff.
    Pending,
    /// Listed in discovery (the guild has the `DISCOVERABLE` feature).
    Approved,
    /// Refused by staff; the guild may apply again.
    Rejected,
    /// Taken out of discovery by staff after approval; the guild may apply again.
    Removed,
}

impl DiscoveryStatus {
    /// Every status, in upstream's order.
    pub const ALL: [DiscoveryStatus; 4] = [
        DiscoveryStatus::Pending,
        DiscoveryStatus::Approved,
        DiscoveryStatus::Rejected,
        DiscoveryStatus::Removed,
    ];

    /// The number backends store and filter on.
    pub fn code(self) -> i64 {
        match self {
            DiscoveryStatus::Pending => 0,
            DiscoveryStatus::Approved => 1,
            DiscoveryStatus::Rejected => 2,
            DiscoveryStatus::Removed => 3,
        }
    }

    /// Upstream's name: `pending`, `approved`, `rejected` or `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiscoveryStatus::Pending => "pending",
            DiscoveryStatus::Approved => "approved",
            DiscoveryStatus::Rejected => "rejected",
            DiscoveryStatus::Removed => "removed",
        }
    }

    /// The status named `name` (upstream's strings), if any.
    pub fn parse(name: &str) -> Option<DiscoveryStatus> {
        DiscoveryStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// One guild's discovery application (a guild has at most one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryApplication {
    /// The guild.
    pub guild_id: GuildId,
    /// Where it stands.
    pub status: DiscoveryStatus,
    /// The listing's description (10 to 300 characters).
    pub description: String,
    /// Discovery's category (0 to 8, [`DISCOVERY_CATEGORIES`](crate::service::DISCOVERY_CATEGORIES)).
    pub category_type: u8,
    /// Who applied.
    pub applied_by: UserId,
    /// When the guild applied (again, after a rejection or removal).
    pub applied_at: Timestamp,
    /// When staff approved or rejected it.
    pub reviewed_at: Option<Timestamp>,
    /// Which staff member reviewed it.
    pub reviewed_by: Option<UserId>,
    /// The reviewer's reason (required to reject).
    pub review_reason: Option<String>,
    /// When staff removed an approved listing.
    pub removed_at: Option<Timestamp>,
    /// Which staff member removed it.
    pub removed_by: Option<UserId>,
    /// Why it was removed.
    pub removal_reason: Option<String>,
}

/// An application on the wire (upstream's `DiscoveryApplicationResponse`): a removal shows as the
/// last review.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveryApplicationResponse {
    /// The guild.
    pub guild_id: GuildId,
    /// `pending`, `approved`, `rejected` or `removed`.
    pub status: &'static str,
    /// The listing's description.
    pub description: String,
    /// Discovery's category.
    pub category_type: u8,
    /// When the guild applied.
    pub applied_at: Timestamp,
    /// When it was last reviewed or removed.
    pub reviewed_at: Option<Timestamp>,
    /// Why.
    pub review_reason: Option<String>,
}

impl From<&DiscoveryApplication> for DiscoveryApplicationResponse {
    fn from(a: &DiscoveryApplication) -> Self {
        DiscoveryApplicationResponse {
            guild_id: a.guild_id,
            status: a.status.as_str(),
            description: a.description.clone(),
            category_type: a.category_type,
            applied_at: a.applied_at,
            reviewed_at: a.removed_at.or(a.reviewed_at),
            review_reason: a.removal_reason.clone().or_else(|| a.review_reason.clone()),
        }
    }
}
