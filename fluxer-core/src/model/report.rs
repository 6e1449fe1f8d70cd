//! Reports users file with the instance's staff (`/reports/*`): a message, a user or a guild, with
//! a category and a note. A message report keeps a copy of the message and the conversation around
//! it, so staff read what was reported even if it is edited or deleted later.

use serde::{Deserialize, Serialize};

use crate::id::{ChannelId, GuildId, MessageId, ReportId, UserId};
use crate::model::Message;
use crate::time::Timestamp;

/// What a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReportKind {
    /// A message (upstream's type 0).
    Message,
    /// A user (1).
    User,
    /// A guild (2).
    Guild,
}

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReportStatus {
    /// Waiting for staff (upstream's 0).
    Pending,
    /// Dealt with (1).
    Resolved,
}

impl ReportStatus {
    /// The number backends store and filter on.
    pub fn code(self) -> i64 {
        match self {
            ReportStatus::Pending => 0,
            ReportStatus::Resolved => 1,
        }
    }

    /// Upstream's name: `pending` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Pending => "pending",
            ReportStatus::Resolved => "resolved",
        }
    }
}

/// One report, as staff see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Its snowflake; orders reports by age.
    pub id: ReportId,
    /// Who filed it: the account, for reports from the app.
    pub reporter_id: Option<UserId>,
    /// The verified email of a legal notice's sender (`/reports/dsa`), who may have no account.
    pub reporter_email: Option<String>,
    /// A legal notice's sender's full legal name.
    pub reporter_full_legal_name: Option<String>,
    /// A legal notice's sender's EU country of residence (ISO 3166-1 alpha-2).
    pub reporter_country_of_residence: Option<String>,
    /// When.
    pub reported_at: Timestamp,
    /// Pending or resolved.
    pub status: ReportStatus,
    /// Message, user or guild.
    pub kind: ReportKind,
    /// Upstream's category (`harassment`, `spam`, ...), checked against the kind's list.
    pub category: String,
    /// The reporter's note, up to 1000 characters.
    pub additional_info: Option<String>,
    /// The reported user, or the reported message's author.
    pub reported_user_id: Option<UserId>,
    /// The reported guild, or the guild the message or user was reported in.
    pub reported_guild_id: Option<GuildId>,
    /// The guild's name at the time.
    pub reported_guild_name: Option<String>,
    /// The reported message.
    pub reported_message_id: Option<MessageId>,
    /// Its channel.
    pub reported_channel_id: Option<ChannelId>,
    /// The channel's name at the time.
    pub reported_channel_name: Option<String>,
    /// The invite through which a legal notice's sender saw a reported guild.
    pub reported_guild_invite_code: Option<String>,
    /// For a message report: copies of the reported message and up to 25 messages on each side,
    /// oldest first.
    pub message_context: Vec<Message>,
    /// When staff resolved it.
    pub resolved_at: Option<Timestamp>,
    /// Which staff member.
    pub resolved_by: Option<UserId>,
    /// What staff told the reporter.
    pub public_comment: Option<String>,
    /// Staff's legal hold on the report's evidence (`/admin/reports/{id}/legal-hold`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_hold: Option<LegalHold>,
}

/// A legal hold on a report: its kept copies (messages, files under `reports/{id}/`) must not be
/// deleted while it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalHold {
    /// The staff member who placed it.
    pub held_by: UserId,
    /// When.
    pub held_since: Timestamp,
    /// When it lapses by itself; `None`: until released.
    pub held_until: Option<Timestamp>,
}

impl LegalHold {
    /// Whether it holds at `now`.
    pub fn holds_at(&self, now: Timestamp) -> bool {
        self.held_until.is_none_or(|until| until > now)
    }
}

/// `POST /reports/*`: what the reporter gets back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportResponse {
    /// The new report's ID.
    pub report_id: ReportId,
    /// `pending`.
    pub status: &'static str,
    /// When it was filed.
    pub reported_at: Timestamp,
}

impl From<&Report> for ReportResponse {
    fn from(r: &Report) -> Self {
        ReportResponse {
            report_id: r.id,
            status: r.status.as_str(),
            reported_at: r.reported_at,
        }
    }
}
