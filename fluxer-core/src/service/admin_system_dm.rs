//! System DMs (`/admin/system-dm-jobs`, upstream's paths, bodies and ACL): staff compose a
//! message for an audience (accounts registered in a window, minus the members of some guilds),
//! another call approves it, and a queued [`Task::SendSystemDm`] job sends it to each account in a
//! DM from the instance's system account (the oldest account marked `system`, as staff set with
//! `/admin/users/set-system-status`; upstream's is the fixed account 0). Jobs are kept as
//! instance documents; the audience is counted when the job is composed and again when it is
//! approved and sent (accounts come and go), as upstream does.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{Actor, AdminAction, AdminPrincipal, Fluxer, MessageCreate, Task};
use crate::error::{Error, Result};
use crate::id::{GuildId, UserId};
use crate::model::{User, acl};
use crate::ports::{PrivateDocument, Scan};
use crate::time::Timestamp;
use crate::validation::Validator;

/// Longest system DM (upstream's schema limit).
pub const MAX_SYSTEM_DM_CONTENT: usize = 4_000;
/// Most guilds whose members one job leaves out (upstream's schema limit).
pub const MAX_SYSTEM_DM_EXCLUDED_GUILDS: usize = 100;
/// Most jobs one page lists (upstream's schema limit).
pub const MAX_SYSTEM_DM_PAGE: usize = 100;
/// Users read per store page while finding the audience.
const SCAN_PAGE: usize = 500;
/// Members read per store page of an excluded guild.
const MEMBER_PAGE: u32 = 1_000;

/// `POST /admin/system-dm-jobs`.
#[derive(Debug, Clone, Deserialize)]
pub struct SystemDmCreate {
    /// 1 to 4000 characters.
    pub content: String,
    /// Only accounts registered at or after this time (ISO 8601).
    #[serde(default)]
    pub registration_start: Option<String>,
    /// Only accounts registered at or before this time (ISO 8601).
    #[serde(default)]
    pub registration_end: Option<String>,
    /// Up to 100 guilds whose members are left out.
    #[serde(default)]
    pub excluded_guild_ids: Vec<GuildId>,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SystemDmStatus {
    /// Composed, waiting for approval.
    Pending,
    /// Approved and queued.
    Approved,
    /// Being sent.
    Running,
    /// Sent (some sends may have failed: `failed_count`).
    Completed,
    /// Stopped before sending (no system account, the store failed).
    Failed,
}

/// A system DM job, as kept and as served (upstream's `SystemDmJobResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemDmJob {
    /// Its snowflake, as a string.
    pub job_id: String,
    /// Where it is.
    pub status: SystemDmStatus,
    /// The message.
    pub content: String,
    /// The audience's size when last counted.
    pub target_count: u64,
    /// DMs sent.
    pub sent_count: u64,
    /// DMs that could not be sent.
    pub failed_count: u64,
    /// When it was composed.
    pub created_at: Timestamp,
    /// When it was approved.
    pub approved_at: Option<Timestamp>,
    /// The audience's registration window.
    pub registration_start: Option<Timestamp>,
    /// The audience's registration window.
    pub registration_end: Option<Timestamp>,
    /// Guilds whose members are left out.
    pub excluded_guild_ids: Vec<GuildId>,
    /// The last send's error.
    pub last_error: Option<String>,
}

/// `GET /admin/system-dm-jobs`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemDmJobPage {
    /// Newest first.
    pub jobs: Vec<SystemDmJob>,
    /// The `before_job_id` of the next page, when there may be one.
    pub next_cursor: Option<String>,
}

/// Who a job reaches, and what sends it.
struct Audience {
    system: Option<User>,
    targets: Vec<UserId>,
}

impl Fluxer {
    /// `POST /admin/system-dm-jobs`: checks the message and the audience, counts the audience and
    /// keeps the job as `pending`.
    pub async fn admin_create_system_dm(
        &self,
        by: &AdminPrincipal,
        req: SystemDmCreate,
    ) -> Result<SystemDmJob> {
        by.require(acl::SYSTEM_DM_SEND)?;
        let mut v = Validator::new();
        v.length("content", req.content.trim(), 1, MAX_SYSTEM_DM_CONTENT);
        v.count(
            "excluded_guild_ids",
            req.excluded_guild_ids.len(),
            MAX_SYSTEM_DM_EXCLUDED_GUILDS,
        );
        let mut window = [None, None];
        for (slot, (field, value)) in window.iter_mut().zip([
            ("registration_start", &req.registration_start),
            ("registration_end", &req.registration_end),
        ]) {
            if let Some(text) = value.as_deref().filter(|t| !t.is_empty()) {
                *slot = Timestamp::parse_iso8601(text);
                v.check(
                    slot.is_some(),
                    field,
                    "INVALID_DATE",
                    "Must be a date and time (ISO 8601).",
                );
            }
        }
        if let [Some(start), Some(end)] = window {
            v.check(
                start <= end,
                "registration_end",
                "INVALID_DATE_RANGE",
                "Must not be before registration_start.",
            );
        }
        v.finish()?;
        let mut excluded = req.excluded_guild_ids;
        excluded.sort_unstable();
        excluded.dedup();
        let mut job = SystemDmJob {
            job_id: self.next_id::<crate::id::Snowflake>().0.to_string(),
            status: SystemDmStatus::Pending,
            content: req.content,
            target_count: 0,
            sent_count: 0,
            failed_count: 0,
            created_at: self.now(),
            approved_at: None,
            registration_start: window[0],
            registration_end: window[1],
            excluded_guild_ids: excluded,
            last_error: None,
        };
        job.target_count = self.system_dm_audience(&job).await?.targets.len() as u64;
        self.save_system_dm(&job).await?;
        let mut entry = AdminAction::new("system_dm_job.create", "system_dm_job", &job.job_id)
            .with("target_count", job.target_count)
            .with("content_length", job.content.chars().count());
        if let Some(t) = job.registration_start {
            entry = entry.with("registration_start", t.to_iso8601());
        }
        if let Some(t) = job.registration_end {
            entry = entry.with("registration_end", t.to_iso8601());
        }
        if !job.excluded_guild_ids.is_empty() {
            let ids: Vec<String> = job
                .excluded_guild_ids
                .iter()
                .map(ToString::to_string)
                .collect();
            entry = entry.with("excluded_guild_ids", ids.join(","));
        }
        self.record_admin_action(by, entry).await?;
        Ok(job)
    }

    /// `GET /admin/system-dm-jobs`: newest first, `limit` (1 to 100, default 20) before
    /// `before_job_id`.
    pub async fn admin_list_system_dms(
        &self,
        by: &AdminPrincipal,
        limit: Option<usize>,
        before: Option<u64>,
    ) -> Result<SystemDmJobPage> {
        by.require(acl::SYSTEM_DM_SEND)?;
        let limit = limit.unwrap_or(20);
        let mut v = Validator::new();
        v.range("limit", limit as i64, 1, MAX_SYSTEM_DM_PAGE as i64);
        v.finish()?;
        let mut jobs: Vec<(u64, SystemDmJob)> =
            self.instance_docs(PrivateDocument::SystemDmJob).await?;
        jobs.retain(|(id, _)| before.is_none_or(|b| *id < b));
        jobs.sort_by_key(|j| std::cmp::Reverse(j.0));
        let more = jobs.len() > limit;
        jobs.truncate(limit);
        let next_cursor = more
            .then(|| jobs.last().map(|(id, _)| id.to_string()))
            .flatten();
        Ok(SystemDmJobPage {
            jobs: jobs.into_iter().map(|(_, j)| j).collect(),
            next_cursor,
        })
    }

    /// `POST /admin/system-dm-jobs/{id}/approve`: a pending job is counted again, marked
    /// `approved` and queued; any other is `JOB_IS_ALREADY_PROCESSED`.
    pub async fn admin_approve_system_dm(
        &self,
        by: &AdminPrincipal,
        job_id: u64,
    ) -> Result<SystemDmJob> {
        by.require(acl::SYSTEM_DM_SEND)?;
        let Some(mut job) = self
            .instance_doc::<SystemDmJob>(PrivateDocument::SystemDmJob, job_id)
            .await?
        else {
            return Err(Error::field(
                "job_id",
                "JOB_NOT_FOUND",
                "No system DM job has this ID.",
            ));
        };
        if job.status != SystemDmStatus::Pending {
            return Err(Error::field(
                "job_id",
                "JOB_IS_ALREADY_PROCESSED",
                "This job was already approved.",
            ));
        }
        job.target_count = self.system_dm_audience(&job).await?.targets.len() as u64;
        job.status = SystemDmStatus::Approved;
        job.approved_at = Some(self.now());
        self.save_system_dm(&job).await?;
        let entry = AdminAction::new("system_dm_job.approve", "system_dm_job", &job.job_id)
            .with("target_count", job.target_count);
        self.record_admin_action(by, entry).await?;
        self.enqueue(Task::SendSystemDm {
            job_id: job.job_id.clone(),
        })
        .await?;
        // Without a queue the job ran inline: answer what it left.
        Ok(self
            .instance_doc::<SystemDmJob>(PrivateDocument::SystemDmJob, job_id)
            .await?
            .unwrap_or(job))
    }

    /// Runs an approved job: each account of the audience gets the message in a DM from the
    /// system account; the counts are kept after each send. A job not `approved` (already run, or
    /// run twice by the queue) is left alone.
    pub(crate) async fn run_system_dm(&self, job_id: &str) -> Result<()> {
        let Ok(key) = job_id.parse::<u64>() else {
            return Ok(());
        };
        let Some(mut job) = self
            .instance_doc::<SystemDmJob>(PrivateDocument::SystemDmJob, key)
            .await?
        else {
            return Ok(());
        };
        if job.status != SystemDmStatus::Approved {
            return Ok(());
        }
        job.status = SystemDmStatus::Running;
        self.save_system_dm(&job).await?;
        let audience = match self.system_dm_audience(&job).await {
            Ok(a) => a,
            Err(e) => return self.fail_system_dm(job, e.to_string()).await,
        };
        let Some(system) = audience.system else {
            return self
                .fail_system_dm(
                    job,
                    "No system account: mark one with /admin/users/set-system-status.".to_owned(),
                )
                .await;
        };
        job.target_count = audience.targets.len() as u64;
        let actor = Actor {
            user: system,
            session: None,
            reason: None,
            oauth2: None,
        };
        for target in audience.targets {
            match self.send_system_dm(&actor, target, &job.content).await {
                Ok(()) => job.sent_count += 1,
                Err(e) => {
                    job.failed_count += 1;
                    job.last_error = Some(e.to_string());
                }
            }
            self.save_system_dm(&job).await?;
        }
        job.status = SystemDmStatus::Completed;
        self.save_system_dm(&job).await
    }

    async fn send_system_dm(&self, system: &Actor, to: UserId, content: &str) -> Result<()> {
        let channel = self.create_private_channel(system, Some(to), None).await?;
        let req = MessageCreate {
            content: Some(content.to_owned()),
            ..MessageCreate::default()
        };
        self.send_message(system, channel.id, req).await?;
        Ok(())
    }

    async fn fail_system_dm(&self, mut job: SystemDmJob, why: String) -> Result<()> {
        tracing::warn!(job = %job.job_id, error = %why, "system DM job failed");
        job.status = SystemDmStatus::Failed;
        job.last_error = Some(why);
        self.save_system_dm(&job).await
    }

    async fn save_system_dm(&self, job: &SystemDmJob) -> Result<()> {
        let key = job
            .job_id
            .parse::<u64>()
            .map_err(|e| Error::Internal(format!("system DM job ID: {e}")))?;
        self.put_instance_doc(PrivateDocument::SystemDmJob, key, Some(job))
            .await
    }

    /// The accounts a job reaches (people, not deleted, registered in its window, in none of its
    /// excluded guilds; system accounts and bots never), and the system account that sends it.
    async fn system_dm_audience(&self, job: &SystemDmJob) -> Result<Audience> {
        let mut excluded: HashSet<UserId> = HashSet::new();
        for guild in &job.excluded_guild_ids {
            let mut after = None;
            loop {
                let page = self
                    .store()
                    .list_members(*guild, after, MEMBER_PAGE)
                    .await?;
                let Some(last) = page.last() else { break };
                after = Some(last.user_id);
                excluded.extend(page.iter().map(|m| m.user_id));
            }
        }
        let mut audience = Audience {
            system: None,
            targets: Vec::new(),
        };
        let mut after = 0;
        loop {
            let ids = self.store().scan_ids(Scan::Users, after, SCAN_PAGE).await?;
            let Some(last) = ids.last() else { break };
            after = *last;
            let ids: Vec<UserId> = ids.into_iter().map(UserId::new).collect();
            let mut users = self.store().get_users(&ids).await?;
            users.sort_by_key(|u| u.id);
            for user in users {
                if user.deleted_at.is_some() {
                    continue;
                }
                if user.system {
                    if audience.system.is_none() {
                        audience.system = Some(user);
                    }
                    continue;
                }
                let registered = user.id.timestamp();
                if user.bot
                    || excluded.contains(&user.id)
                    || job.registration_start.is_some_and(|s| registered < s)
                    || job.registration_end.is_some_and(|e| registered > e)
                {
                    continue;
                }
                audience.targets.push(user.id);
            }
        }
        Ok(audience)
    }
}
