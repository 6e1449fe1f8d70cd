//! Staff reading and resolving the reports users file (`/admin/reports/*`, upstream's paths and
//! bodies): list by status, search with filters, one report with its evidence, resolve with a
//! public comment (mailed to the reporter, as upstream).
//!
//! Listing and search page with `offset`, as upstream; the store pages reports newest first by
//! cursor, so an offset walks that many reports (bounded by [`MAX_OFFSET`]) and a search reads at
//! most [`SEARCH_SCAN`] reports, the newest.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{AdminAction, AdminPrincipal, Fluxer};
use crate::error::{Error, Result, Unknown};
use crate::id::{ChannelId, GuildId, MessageId, ReportId, UserId};
use crate::model::acl;
use crate::model::{Message, Report, ReportKind, ReportStatus, UserPartial};
use crate::ports::Email;
use crate::time::Timestamp;
use crate::validation::{Validator, escape_html};

/// Largest page of reports.
pub(crate) const MAX_REPORT_PAGE: u32 = 200;
/// Largest `offset` a list or search accepts.
pub(crate) const MAX_OFFSET: u64 = 10_000;
/// How many of the newest reports a search reads at most.
pub(crate) const SEARCH_SCAN: usize = 20_000;
/// Store page size while walking reports.
const WALK_PAGE: u32 = 200;

/// Upstream's number for a report's kind (`report_type`).
pub(crate) fn report_type_code(kind: ReportKind) -> u8 {
    match kind {
        ReportKind::Message => 0,
        ReportKind::User => 1,
        ReportKind::Guild => 2,
    }
}

fn status_from_code(code: u8) -> Option<ReportStatus> {
    match code {
        0 => Some(ReportStatus::Pending),
        1 => Some(ReportStatus::Resolved),
        _ => None,
    }
}

fn kind_from_code(code: u8) -> Option<ReportKind> {
    match code {
        0 => Some(ReportKind::Message),
        1 => Some(ReportKind::User),
        2 => Some(ReportKind::Guild),
        _ => None,
    }
}

/// `POST /admin/reports/list`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReportListRequest {
    /// 0 pending (the default), 1 resolved.
    pub status: Option<u8>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    /// Reports to skip, newest first; at most [`MAX_OFFSET`].
    pub offset: Option<u64>,
}

/// `POST /admin/reports/search`: every filter given must match.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReportSearchRequest {
    /// Case-insensitive text found in the category, the note, the names kept with the report or
    /// the reported message's copy; empty or absent matches all.
    pub query: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    /// Matches to skip; at most [`MAX_OFFSET`].
    pub offset: Option<u64>,
    /// Who filed it.
    pub reporter_id: Option<UserId>,
    /// 0 pending, 1 resolved.
    pub status: Option<u8>,
    /// 0 message, 1 user, 2 guild.
    pub report_type: Option<u8>,
    /// Exact category.
    pub category: Option<String>,
    /// The reported user (or message author).
    pub reported_user_id: Option<UserId>,
    /// The reported guild (or where the message or user was reported).
    pub reported_guild_id: Option<GuildId>,
    /// The reported message's channel.
    pub reported_channel_id: Option<ChannelId>,
    /// Upstream's guild context: the guild a report concerns, whatever its kind.
    pub guild_context_id: Option<GuildId>,
    /// Which staff member resolved it.
    pub resolved_by_admin_id: Option<UserId>,
    /// `createdAt` / `reportedAt` (the same here) or `resolvedAt`.
    pub sort_by: Option<String>,
    /// `asc` or `desc` (the default).
    pub sort_order: Option<String>,
}

/// `POST /admin/reports/resolve`.
#[derive(Debug, Clone, Deserialize)]
pub struct ReportResolve {
    /// The report.
    pub report_id: ReportId,
    /// Up to 1000 characters, shown (and mailed) to the reporter.
    pub public_comment: Option<String>,
}

/// `POST /admin/reports/resolve`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct ReportResolved {
    /// The report.
    pub report_id: ReportId,
    /// 1 (resolved).
    pub status: u8,
    /// When.
    pub resolved_at: Option<Timestamp>,
    /// What the reporter was told.
    pub public_comment: Option<String>,
}

/// A copied message as staff see it in a report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportMessageView {
    /// The message's ID.
    pub id: MessageId,
    /// Its channel.
    pub channel_id: ChannelId,
    /// Its guild.
    pub guild_id: Option<GuildId>,
    /// Its text when reported.
    pub content: String,
    /// When it was sent.
    pub timestamp: Timestamp,
    /// Its files: the copies kept with the report for the reported message.
    pub attachments: Vec<AttachmentView>,
    /// Its author.
    pub author_id: UserId,
    /// The author's name now (empty when the account is gone).
    pub author_username: String,
    /// The author's discriminator now.
    pub author_discriminator: String,
}

/// A file in an admin view.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentView {
    /// Its name.
    pub filename: String,
    /// Where staff fetch it.
    pub url: String,
}

/// One report as staff see it (upstream's `ReportAdminResponseSchema`).
#[derive(Debug, Clone, Serialize)]
pub struct AdminReportView {
    /// The report.
    pub report_id: ReportId,
    /// Who filed it.
    pub reporter_id: Option<UserId>,
    /// `username#discriminator`.
    pub reporter_tag: Option<String>,
    /// The reporter's name.
    pub reporter_username: Option<String>,
    /// The reporter's discriminator.
    pub reporter_discriminator: Option<String>,
    /// A legal notice's verified sender address.
    pub reporter_email: Option<String>,
    /// A legal notice's sender's name.
    pub reporter_full_legal_name: Option<String>,
    /// A legal notice's sender's country.
    pub reporter_country_of_residence: Option<String>,
    /// When it was filed.
    pub reported_at: Timestamp,
    /// 0 pending, 1 resolved.
    pub status: u8,
    /// 0 message, 1 user, 2 guild.
    pub report_type: u8,
    /// The category.
    pub category: Option<String>,
    /// The reporter's note.
    pub additional_info: Option<String>,
    /// The reported user or message author.
    pub reported_user_id: Option<UserId>,
    /// Their tag.
    pub reported_user_tag: Option<String>,
    /// Their name.
    pub reported_user_username: Option<String>,
    /// Their discriminator.
    pub reported_user_discriminator: Option<String>,
    /// Their avatar hash.
    pub reported_user_avatar_hash: Option<String>,
    /// The reported guild.
    pub reported_guild_id: Option<GuildId>,
    /// Its name when reported.
    pub reported_guild_name: Option<String>,
    /// The reported message.
    pub reported_message_id: Option<MessageId>,
    /// Its channel.
    pub reported_channel_id: Option<ChannelId>,
    /// The channel's name when reported.
    pub reported_channel_name: Option<String>,
    /// A legal notice's invite.
    pub reported_guild_invite_code: Option<String>,
    /// When it was resolved.
    pub resolved_at: Option<Timestamp>,
    /// By whom.
    pub resolved_by_admin_id: Option<UserId>,
    /// What the reporter was told.
    pub public_comment: Option<String>,
    /// Detail only: the DM channel between reporter and reported user, for a user report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutual_dm_channel_id: Option<Option<ChannelId>>,
    /// Detail only: the copies of the reported message and its neighbours, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_context: Option<Vec<ReportMessageView>>,
}

/// `POST /admin/reports/search`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct ReportSearchPage {
    /// This page.
    pub reports: Vec<AdminReportView>,
    /// How many match (among the [`SEARCH_SCAN`] newest).
    pub total: usize,
    /// The offset asked for.
    pub offset: u64,
    /// The page size used.
    pub limit: u32,
}

fn page_bounds(v: &mut Validator, limit: Option<u32>, offset: Option<u64>) -> (u32, u64) {
    let limit = limit.unwrap_or(50);
    let offset = offset.unwrap_or(0);
    v.range("limit", i64::from(limit), 1, i64::from(MAX_REPORT_PAGE));
    v.check(
        offset <= MAX_OFFSET,
        "offset",
        "BASE_TYPE_MAX_VALUE",
        &format!("Offset may be at most {MAX_OFFSET}."),
    );
    (limit, offset)
}

fn tag(u: &UserPartial) -> String {
    format!("{}#{}", u.username, u.discriminator)
}

fn matches_query(r: &Report, q: &str) -> bool {
    let hay = |s: &Option<String>| s.as_deref().is_some_and(|s| s.to_lowercase().contains(q));
    r.category.to_lowercase().contains(q)
        || hay(&r.additional_info)
        || hay(&r.reported_guild_name)
        || hay(&r.reported_channel_name)
        || hay(&r.reporter_email)
        || r.id.to_string() == q
        || r.reported_user_id.is_some_and(|u| u.to_string() == q)
        || r.reported_guild_id.is_some_and(|g| g.to_string() == q)
        || r.message_context
            .iter()
            .any(|m| Some(m.id) == r.reported_message_id && m.content.to_lowercase().contains(q))
}

impl ReportSearchRequest {
    fn accepts(&self, r: &Report, q: &str) -> bool {
        let status = self.status.and_then(status_from_code);
        let kind = self.report_type.and_then(kind_from_code);
        (q.is_empty() || matches_query(r, q))
            && self.reporter_id.is_none_or(|id| r.reporter_id == Some(id))
            && status.is_none_or(|s| r.status == s)
            && kind.is_none_or(|k| r.kind == k)
            && self.category.as_ref().is_none_or(|c| &r.category == c)
            && self
                .reported_user_id
                .is_none_or(|id| r.reported_user_id == Some(id))
            && self
                .reported_guild_id
                .is_none_or(|id| r.kind == ReportKind::Guild && r.reported_guild_id == Some(id))
            && self
                .reported_channel_id
                .is_none_or(|id| r.reported_channel_id == Some(id))
            && self
                .guild_context_id
                .is_none_or(|id| r.reported_guild_id == Some(id))
            && self
                .resolved_by_admin_id
                .is_none_or(|id| r.resolved_by == Some(id))
    }
}

impl Fluxer {
    /// `POST /admin/reports/list`: reports with one status, newest first.
    pub async fn admin_list_reports(
        &self,
        who: &AdminPrincipal,
        req: ReportListRequest,
    ) -> Result<Vec<AdminReportView>> {
        who.require(acl::REPORT_VIEW)?;
        let mut v = Validator::new();
        let status_code = req.status.unwrap_or(0);
        let status = status_from_code(status_code);
        v.check(
            status.is_some(),
            "status",
            "BASE_TYPE_CHOICES",
            "Status is 0 (pending) or 1 (resolved).",
        );
        let (limit, offset) = page_bounds(&mut v, req.limit, req.offset);
        v.finish()?;
        let mut skipped = 0u64;
        let mut page = Vec::new();
        let mut before = None;
        while page.len() < limit as usize {
            let batch = self.store().list_reports(status, before, WALK_PAGE).await?;
            let Some(last) = batch.last() else { break };
            before = Some(last.id);
            let full = batch.len() == WALK_PAGE as usize;
            for r in batch {
                if skipped < offset {
                    skipped += 1;
                } else if page.len() < limit as usize {
                    page.push(r);
                }
            }
            if !full {
                break;
            }
        }
        self.report_views(&page, false).await
    }

    /// `POST /admin/reports/search`.
    pub async fn admin_search_reports(
        &self,
        who: &AdminPrincipal,
        req: ReportSearchRequest,
    ) -> Result<ReportSearchPage> {
        who.require(acl::REPORT_VIEW)?;
        let mut v = Validator::new();
        let (limit, offset) = page_bounds(&mut v, req.limit, req.offset);
        v.opt_length("query", req.query.as_deref(), 0, 256);
        if let Some(s) = req.status {
            v.range("status", i64::from(s), 0, 1);
        }
        if let Some(t) = req.report_type {
            v.range("report_type", i64::from(t), 0, 2);
        }
        v.check(
            req.sort_by
                .as_deref()
                .is_none_or(|s| ["createdAt", "reportedAt", "resolvedAt"].contains(&s)),
            "sort_by",
            "BASE_TYPE_CHOICES",
            "createdAt, reportedAt or resolvedAt.",
        );
        v.check(
            req.sort_order
                .as_deref()
                .is_none_or(|s| s == "asc" || s == "desc"),
            "sort_order",
            "BASE_TYPE_CHOICES",
            "asc or desc.",
        );
        v.finish()?;
        let q = req.query.as_deref().unwrap_or("").trim().to_lowercase();
        let mut hits = Vec::new();
        let mut read = 0usize;
        let mut before = None;
        while read < SEARCH_SCAN {
            let batch = self.store().list_reports(None, before, WALK_PAGE).await?;
            let Some(last) = batch.last() else { break };
            before = Some(last.id);
            read += batch.len();
            let full = batch.len() == WALK_PAGE as usize;
            hits.extend(batch.into_iter().filter(|r| req.accepts(r, &q)));
            if !full {
                break;
            }
        }
        // Newest first as read; re-sort only when asked for something else.
        if req.sort_by.as_deref() == Some("resolvedAt") {
            hits.sort_by_key(|r| std::cmp::Reverse((r.resolved_at, r.id)));
        }
        if req.sort_order.as_deref() == Some("asc") {
            hits.reverse();
        }
        let total = hits.len();
        let page: Vec<Report> = hits
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .collect();
        Ok(ReportSearchPage {
            reports: self.report_views(&page, false).await?,
            total,
            offset,
            limit,
        })
    }

    /// `GET /admin/reports/{id}`: with the kept copies of the reported conversation.
    pub async fn admin_get_report(
        &self,
        who: &AdminPrincipal,
        id: ReportId,
    ) -> Result<AdminReportView> {
        who.require(acl::REPORT_VIEW)?;
        let report = self.load_report(id).await?;
        let mut views = self
            .report_views(std::slice::from_ref(&report), true)
            .await?;
        views.pop().ok_or(Error::Unknown(Unknown::Report))
    }

    /// `POST /admin/reports/resolve`: marks it resolved by `admin`; a public comment is mailed to
    /// the reporter. Resolving twice is `REPORT_ALREADY_RESOLVED`.
    pub async fn admin_resolve_report(
        &self,
        by: &AdminPrincipal,
        req: ReportResolve,
    ) -> Result<ReportResolved> {
        let mut v = Validator::new();
        v.opt_length("public_comment", req.public_comment.as_deref(), 0, 1000);
        v.finish()?;
        let mut report = self.load_report(req.report_id).await?;
        if report.status == ReportStatus::Resolved {
            return Err(Error::rejected(
                "REPORT_ALREADY_RESOLVED",
                "This report is already resolved.",
            ));
        }
        report.status = ReportStatus::Resolved;
        report.resolved_at = Some(self.now());
        report.resolved_by = Some(by.id());
        report.public_comment = req.public_comment.filter(|c| !c.trim().is_empty());
        self.store().put_report(&report).await?;
        if let (Some(reporter), Some(comment)) = (report.reporter_id, &report.public_comment)
            && let Some(user) = self.store().get_user(reporter).await?
            && let Some(to) = &user.email
        {
            self.send_email(report_resolved_email(
                to,
                &user.username,
                report.id,
                comment,
            ))
            .await?;
        }
        let mut entry = AdminAction::new("report.resolve", "report", report.id)
            .with("report_id", report.id)
            .with("report_type", report_type_code(report.kind));
        if let Some(c) = &report.public_comment {
            entry = entry.with("public_comment", c);
        }
        self.record_admin_action(by, entry).await?;
        Ok(ReportResolved {
            report_id: report.id,
            status: 1,
            resolved_at: report.resolved_at,
            public_comment: report.public_comment,
        })
    }

    async fn load_report(&self, id: ReportId) -> Result<Report> {
        self.store()
            .get_report(id)
            .await?
            .ok_or(Error::Unknown(Unknown::Report))
    }

    async fn report_views(&self, reports: &[Report], detail: bool) -> Result<Vec<AdminReportView>> {
        let mut ids: Vec<UserId> = Vec::new();
        for r in reports {
            ids.extend(r.reporter_id);
            ids.extend(r.reported_user_id);
            if detail {
                ids.extend(r.message_context.iter().map(|m| m.author_id));
            }
        }
        let users = self.user_partials(&ids).await?;
        let avatars: HashMap<UserId, Option<String>> = users
            .iter()
            .map(|(id, u)| (*id, u.avatar.clone()))
            .collect();
        let mut out = Vec::with_capacity(reports.len());
        for r in reports {
            let reporter = r.reporter_id.and_then(|id| users.get(&id));
            let reported = r.reported_user_id.and_then(|id| users.get(&id));
            let mut view = AdminReportView {
                report_id: r.id,
                reporter_id: r.reporter_id,
                reporter_tag: reporter.map(tag),
                reporter_username: reporter.map(|u| u.username.clone()),
                reporter_discriminator: reporter.map(|u| u.discriminator.clone()),
                reporter_email: r.reporter_email.clone(),
                reporter_full_legal_name: r.reporter_full_legal_name.clone(),
                reporter_country_of_residence: r.reporter_country_of_residence.clone(),
                reported_at: r.reported_at,
                status: u8::from(r.status == ReportStatus::Resolved),
                report_type: report_type_code(r.kind),
                category: Some(r.category.clone()),
                additional_info: r.additional_info.clone(),
                reported_user_id: r.reported_user_id,
                reported_user_tag: reported.map(tag),
                reported_user_username: reported.map(|u| u.username.clone()),
                reported_user_discriminator: reported.map(|u| u.discriminator.clone()),
                reported_user_avatar_hash: r
                    .reported_user_id
                    .and_then(|id| avatars.get(&id).cloned().flatten()),
                reported_guild_id: r.reported_guild_id,
                reported_guild_name: r.reported_guild_name.clone(),
                reported_message_id: r.reported_message_id,
                reported_channel_id: r.reported_channel_id,
                reported_channel_name: r.reported_channel_name.clone(),
                reported_guild_invite_code: r.reported_guild_invite_code.clone(),
                resolved_at: r.resolved_at,
                resolved_by_admin_id: r.resolved_by,
                public_comment: r.public_comment.clone(),
                mutual_dm_channel_id: None,
                message_context: None,
            };
            if detail {
                let mutual = match (r.kind, r.reporter_id, r.reported_user_id) {
                    (ReportKind::User, Some(a), Some(b)) => {
                        self.store().find_dm_channel(a, b).await?.map(|c| c.id)
                    }
                    _ => None,
                };
                view.mutual_dm_channel_id = Some(mutual);
                view.message_context = Some(
                    r.message_context
                        .iter()
                        .map(|m| self.admin_message_view(m, users.get(&m.author_id)))
                        .collect(),
                );
            }
            out.push(view);
        }
        Ok(out)
    }

    /// A message as staff see it, with fetchable file URLs.
    pub(crate) fn admin_message_view(
        &self,
        m: &Message,
        author: Option<&UserPartial>,
    ) -> ReportMessageView {
        ReportMessageView {
            id: m.id,
            channel_id: m.channel_id,
            guild_id: m.guild_id,
            content: m.content.clone(),
            timestamp: m.id.timestamp(),
            attachments: m
                .attachments
                .iter()
                .map(|a| AttachmentView {
                    filename: a.filename.clone(),
                    url: self.stored_file_url(&a.url),
                })
                .collect(),
            author_id: m.author_id,
            author_username: author.map(|u| u.username.clone()).unwrap_or_default(),
            author_discriminator: author.map(|u| u.discriminator.clone()).unwrap_or_default(),
        }
    }

    /// The URL of a stored file (`attachments/...`, `reports/...`) through the media service, or
    /// the key as is when there is none (a host's own URL stays).
    fn stored_file_url(&self, key: &str) -> String {
        match self.ports().media.as_deref() {
            Some(media) if key.starts_with("attachments/") || key.starts_with("reports/") => {
                media.public_url(key)
            }
            _ => key.to_owned(),
        }
    }
}

fn report_resolved_email(to: &str, username: &str, report: ReportId, comment: &str) -> Email {
    let text = format!(
        "Hi {username},\n\nThe report you filed ({report}) was reviewed by the instance's staff.\n\n\
         {comment}\n\n-- Fluxer\n"
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">\
         <p>Hi {user},</p><p>The report you filed ({report}) was reviewed by the instance's staff.</p>\
         <p>{comment}</p><p>-- Fluxer</p></body></html>",
        user = escape_html(username),
        comment = escape_html(comment),
    );
    Email {
        to: to.to_owned(),
        subject: "Your report was reviewed".to_owned(),
        text,
        html: Some(html),
    }
}
