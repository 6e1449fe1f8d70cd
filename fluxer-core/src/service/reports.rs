//! Reporting a message, a user or a guild to the instance's staff (`POST /reports/*`), as
//! upstream: a category from the kind's list, an optional note, 5 reports per reporter per hour.
//!
//! Unlike upstream, a message is reportable only by someone who can read it: the report copies the
//! message and 25 messages on each side for staff, which must not let anyone who knows two IDs
//! capture a conversation they cannot see.

use std::time::Duration;

use serde::Deserialize;

use super::{Actor, Fluxer};
use crate::error::{Error, Result, Unknown};
use crate::id::{ChannelId, GuildId, MessageId, ReportId, UserId};
use crate::model::{Message, Report, ReportKind, ReportResponse, ReportStatus};
use crate::permission::Permissions;
use crate::ports::MessagePage;
use crate::validation::Validator;

const REPORTS_PER_HOUR: u64 = 5;
/// Messages copied on each side of a reported one.
const CONTEXT_WINDOW: u32 = 25;

/// Upstream's message report categories.
pub const MESSAGE_REPORT_CATEGORIES: &[&str] = &[
    "harassment",
    "hate_speech",
    "violent_content",
    "spam",
    "nsfw_violation",
    "illegal_activity",
    "doxxing",
    "self_harm",
    "child_safety",
    "malicious_links",
    "impersonation",
    "other",
];

/// Upstream's user report categories.
pub const USER_REPORT_CATEGORIES: &[&str] = &[
    "harassment",
    "hate_speech",
    "spam_account",
    "impersonation",
    "underage_user",
    "inappropriate_profile",
    "other",
];

/// Upstream's guild report categories.
pub const GUILD_REPORT_CATEGORIES: &[&str] = &[
    "harassment",
    "hate_speech",
    "extremist_community",
    "illegal_activity",
    "child_safety",
    "raid_coordination",
    "spam",
    "malware_distribution",
    "other",
];

/// `POST /reports/message`.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageReport {
    /// The message's channel.
    pub channel_id: ChannelId,
    /// The message.
    pub message_id: MessageId,
    /// One of [`MESSAGE_REPORT_CATEGORIES`].
    pub category: String,
    /// Up to 1000 characters.
    pub additional_info: Option<String>,
}

/// `POST /reports/user`.
#[derive(Debug, Clone, Deserialize)]
pub struct UserReport {
    /// Who is reported.
    pub user_id: UserId,
    /// One of [`USER_REPORT_CATEGORIES`].
    pub category: String,
    /// Up to 1000 characters.
    pub additional_info: Option<String>,
    /// Where it happened.
    pub guild_id: Option<GuildId>,
}

/// `POST /reports/guild`.
#[derive(Debug, Clone, Deserialize)]
pub struct GuildReport {
    /// The guild.
    pub guild_id: GuildId,
    /// One of [`GUILD_REPORT_CATEGORIES`].
    pub category: String,
    /// Up to 1000 characters.
    pub additional_info: Option<String>,
}

pub(super) fn validate(
    category: &str,
    allowed: &[&str],
    additional_info: Option<&str>,
) -> Result<()> {
    let mut v = Validator::new();
    v.check(
        allowed.contains(&category),
        "category",
        "INVALID_FORMAT",
        "Not one of this report's categories.",
    );
    v.opt_length("additional_info", additional_info, 0, 1000);
    v.finish()
}

impl Fluxer {
    /// A report with what every kind shares, pending.
    pub(super) fn new_report(
        &self,
        reporter: Option<&Actor>,
        kind: ReportKind,
        category: String,
        additional_info: Option<String>,
    ) -> Report {
        Report {
            id: self.next_id::<ReportId>(),
            reporter_id: reporter.map(Actor::id),
            reporter_email: None,
            reporter_full_legal_name: None,
            reporter_country_of_residence: None,
            reported_at: self.now(),
            status: ReportStatus::Pending,
            kind,
            category,
            additional_info: additional_info.filter(|s| !s.is_empty()),
            reported_user_id: None,
            reported_guild_id: None,
            reported_guild_name: None,
            reported_message_id: None,
            reported_channel_id: None,
            reported_channel_name: None,
            reported_guild_invite_code: None,
            message_context: Vec::new(),
            resolved_at: None,
            resolved_by: None,
            public_comment: None,
            legal_hold: None,
        }
    }

    /// At most [`REPORTS_PER_HOUR`] per reporter.
    pub(super) async fn report_allowance(&self, reporter: &str) -> Result<()> {
        let hit = self
            .ports()
            .cache
            .hit(&format!("reports:{reporter}"), Duration::from_secs(3600))
            .await?;
        if hit.count > REPORTS_PER_HOUR {
            return Err(Error::RateLimited {
                retry_after_ms: hit.reset_after_ms,
                global: false,
            });
        }
        Ok(())
    }

    pub(super) async fn file_report(&self, report: Report) -> Result<ReportResponse> {
        self.store().put_report(&report).await?;
        Ok(ReportResponse::from(&report))
    }

    /// `POST /reports/message`: the message and the conversation around it are copied for staff.
    pub async fn report_message(
        &self,
        actor: &Actor,
        req: MessageReport,
    ) -> Result<ReportResponse> {
        actor.require_person("Bots cannot file reports.")?;
        validate(
            &req.category,
            MESSAGE_REPORT_CATEGORIES,
            req.additional_info.as_deref(),
        )?;
        let access = self.channel_access(actor.id(), req.channel_id).await?;
        access.require(Permissions::READ_MESSAGE_HISTORY)?;
        let message = self.load_message(req.channel_id, req.message_id).await?;
        if message.author_id == actor.id() {
            return Err(Error::rejected(
                "CANNOT_REPORT_OWN_MESSAGE",
                "You cannot report your own message.",
            ));
        }
        self.report_allowance(&actor.id().to_string()).await?;
        let mut context = self.message_context(&message).await?;
        let mut report = self.new_report(
            Some(actor),
            ReportKind::Message,
            req.category,
            req.additional_info,
        );
        self.keep_reported_files(report.id, message.id, &mut context)
            .await?;
        report.reported_user_id = Some(message.author_id);
        report.reported_message_id = Some(message.id);
        report.reported_channel_id = Some(message.channel_id);
        report.reported_channel_name = access.channel.name.clone();
        report.reported_guild_id = access.channel.guild_id;
        report.reported_guild_name = access.guild.as_ref().map(|g| g.guild.name.clone());
        report.message_context = context;
        self.file_report(report).await
    }

    /// Copies the reported message's stored files to `reports/{report}/{attachment}/{filename}`
    /// and points the report's copy at them: deleting the message deletes its files, and staff
    /// must still see what was reported (upstream copies them to a reports bucket likewise).
    pub(super) async fn keep_reported_files(
        &self,
        report: ReportId,
        reported: MessageId,
        context: &mut [Message],
    ) -> Result<()> {
        let Some(blobs) = self.ports().blobs.clone() else {
            return Ok(());
        };
        let Some(copy) = context.iter_mut().find(|m| m.id == reported) else {
            return Ok(());
        };
        for a in &mut copy.attachments {
            if !a.url.starts_with("attachments/") {
                continue;
            }
            let Some((meta, bytes)) = blobs.get(&a.url).await? else {
                continue;
            };
            let key = format!("reports/{report}/{}/{}", a.id, a.filename);
            blobs.put(&key, bytes, meta.content_type.as_deref()).await?;
            a.url = key.clone();
            a.proxy_url = key;
        }
        Ok(())
    }

    /// The reported message with up to [`CONTEXT_WINDOW`] messages on each side, oldest first.
    async fn message_context(&self, message: &Message) -> Result<Vec<Message>> {
        let store = self.store();
        let mut before = store
            .list_messages(
                message.channel_id,
                MessagePage::Before(message.id),
                CONTEXT_WINDOW,
            )
            .await?;
        before.reverse();
        let mut after = store
            .list_messages(
                message.channel_id,
                MessagePage::After(message.id),
                CONTEXT_WINDOW,
            )
            .await?;
        // Pages come newest first; oldest first reads like the conversation.
        after.sort_by_key(|m| m.id);
        before.push(message.clone());
        before.extend(after);
        Ok(before)
    }

    /// `POST /reports/user`.
    pub async fn report_user(&self, actor: &Actor, req: UserReport) -> Result<ReportResponse> {
        actor.require_person("Bots cannot file reports.")?;
        validate(
            &req.category,
            USER_REPORT_CATEGORIES,
            req.additional_info.as_deref(),
        )?;
        if req.user_id == actor.id() {
            return Err(Error::rejected(
                "CANNOT_REPORT_YOURSELF",
                "You cannot report yourself.",
            ));
        }
        self.store()
            .get_user(req.user_id)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or(Error::Unknown(Unknown::User))?;
        // Where it happened, if that guild exists (upstream ignores an unknown one).
        let guild = match req.guild_id {
            Some(id) => self.store().get_guild(id).await?,
            None => None,
        };
        self.report_allowance(&actor.id().to_string()).await?;
        let mut report = self.new_report(
            Some(actor),
            ReportKind::User,
            req.category,
            req.additional_info,
        );
        report.reported_user_id = Some(req.user_id);
        report.reported_guild_id = guild.as_ref().map(|g| g.id);
        report.reported_guild_name = guild.map(|g| g.name);
        self.file_report(report).await
    }

    /// `POST /reports/guild`.
    pub async fn report_guild(&self, actor: &Actor, req: GuildReport) -> Result<ReportResponse> {
        actor.require_person("Bots cannot file reports.")?;
        validate(
            &req.category,
            GUILD_REPORT_CATEGORIES,
            req.additional_info.as_deref(),
        )?;
        let guild = self
            .store()
            .get_guild(req.guild_id)
            .await?
            .ok_or(Error::Unknown(Unknown::Guild))?;
        if guild.owner_id == actor.id() {
            return Err(Error::rejected(
                "CANNOT_REPORT_OWN_GUILD",
                "You cannot report your own guild.",
            ));
        }
        self.report_allowance(&actor.id().to_string()).await?;
        let mut report = self.new_report(
            Some(actor),
            ReportKind::Guild,
            req.category,
            req.additional_info,
        );
        report.reported_guild_id = Some(guild.id);
        report.reported_guild_name = Some(guild.name);
        self.file_report(report).await
    }
}
