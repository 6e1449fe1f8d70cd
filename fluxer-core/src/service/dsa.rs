//! Legal notices under the EU Digital Services Act (`/reports/dsa/*`), as upstream: anyone, with or
//! without an account, proves an email address with a code, then files a notice about a message
//! (by its link), a user (by ID or tag) or a guild (by ID, optionally the invite they used), with
//! their full legal name and EU country of residence. The notice becomes a report for staff.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Fluxer;
use super::reports::{
    GUILD_REPORT_CATEGORIES, MESSAGE_REPORT_CATEGORIES, USER_REPORT_CATEGORIES, validate,
};
use crate::error::{Error, Result, Unknown};
use crate::id::{ChannelId, GuildId, MessageId, UserId};
use crate::model::{ReportKind, ReportResponse, User};
use crate::secret::{hash_token, random_base62, random_string, secrets_equal};
use crate::validation::{Validator, is_valid_email};

const CODE_TTL: Duration = Duration::from_secs(10 * 60);
const TICKET_TTL: Duration = Duration::from_secs(3600);
/// Codes per address per 15 minutes, and wrong guesses per code.
const CODES_PER_WINDOW: u64 = 3;
const GUESSES_PER_CODE: u32 = 5;

/// The member states, as upstream accepts them.
const EU_COUNTRIES: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
];

/// `POST /reports/dsa`: what every notice carries.
#[derive(Debug, Clone, Deserialize)]
pub struct DsaNotice {
    /// From `POST /reports/dsa/email/verify`; used once.
    pub ticket: String,
    /// `message`, `user` or `guild`, with what that kind names.
    #[serde(flatten)]
    pub target: DsaTarget,
    /// One of the kind's categories (those of `/reports/*`).
    pub category: String,
    /// Up to 1000 characters.
    pub additional_info: Option<String>,
    /// 1 to 160 characters.
    pub reporter_full_legal_name: String,
    /// An EU member state's ISO code.
    pub reporter_country_of_residence: String,
    /// The sender's own tag, if they have an account (kept in the note for staff).
    pub reporter_fluxer_tag: Option<String>,
}

/// What a notice is about.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "report_type", rename_all = "snake_case")]
pub enum DsaTarget {
    /// A message, by its link (`.../channels/{guild or @me}/{channel}/{message}`).
    Message {
        /// The link.
        message_link: String,
        /// The author's tag, which must match when given.
        reported_user_tag: Option<String>,
    },
    /// A user, by ID or tag.
    User {
        /// The user's ID.
        user_id: Option<UserId>,
        /// Or their tag, `name#1234`.
        user_tag: Option<String>,
    },
    /// A guild.
    Guild {
        /// The guild's ID.
        guild_id: GuildId,
        /// The invite the sender used, which must lead to that guild.
        invite_code: Option<String>,
    },
}

#[derive(Serialize, Deserialize)]
struct PendingCode {
    code_hash: [u8; 32],
    expires_at: crate::time::Timestamp,
}

fn code_key(email: &str) -> String {
    format!("dsa-email:{email}")
}

fn ticket_key(ticket: &str) -> String {
    format!("dsa-ticket:{ticket}")
}

fn invalid_target() -> Error {
    Error::rejected(
        "INVALID_DSA_REPORT_TARGET",
        "The reported content could not be identified.",
    )
}

fn invalid_code() -> Error {
    Error::rejected(
        "INVALID_DSA_VERIFICATION_CODE",
        "The verification code is invalid or has expired.",
    )
}

fn normalize_email(v: &mut Validator, email: &str) -> String {
    let email = email.trim().to_lowercase();
    v.check(
        is_valid_email(&email),
        "email",
        "EMAIL_TYPE_INVALID_EMAIL",
        "Not a well formed email address.",
    );
    email
}

/// The channel and message of a message link: the last three path segments after `/channels/`.
fn parse_message_link(link: &str) -> Option<(ChannelId, MessageId)> {
    let path = link.split(['?', '#']).next()?;
    let rest = &path[path.find("/channels/")? + "/channels/".len()..];
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match parts[..] {
        [scope, channel, message] if scope == "@me" || scope.parse::<u64>().is_ok() => {
            Some((channel.parse().ok()?, message.parse().ok()?))
        }
        _ => None,
    }
}

/// `name#1234` into its parts.
fn parse_tag(tag: &str) -> Option<(&str, u16)> {
    let (name, discriminator) = tag.rsplit_once('#')?;
    (!name.is_empty() && name.len() <= 32 && discriminator.len() == 4)
        .then(|| discriminator.parse().ok().map(|d| (name, d)))
        .flatten()
}

impl Fluxer {
    /// `POST /reports/dsa/email/send`: a code (`XXXX-XXXX`, 10 minutes) to the address.
    pub async fn send_dsa_code(&self, email: &str) -> Result<()> {
        let mut v = Validator::new();
        let email = normalize_email(&mut v, email);
        v.finish()?;
        let cache = &self.ports().cache;
        let sent = cache
            .hit(&format!("dsa-codes:{email}"), Duration::from_secs(15 * 60))
            .await?;
        if sent.count > CODES_PER_WINDOW {
            return Err(Error::RateLimited {
                retry_after_ms: sent.reset_after_ms,
                global: false,
            });
        }
        let raw = random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 8);
        let code = format!("{}-{}", &raw[..4], &raw[4..]);
        let pending = PendingCode {
            code_hash: hash_token(&code),
            expires_at: self.now().plus_ms(CODE_TTL.as_millis() as i64),
        };
        let encoded = serde_json::to_vec(&pending).map_err(|e| Error::Internal(e.to_string()))?;
        cache
            .set(&code_key(&email), &encoded, Some(CODE_TTL))
            .await?;
        // A new code gets its own guesses.
        cache.delete(&format!("dsa-guesses:{email}")).await?;
        self.send_email(super::emails::verification_code(
            &email,
            "there",
            "Your Fluxer report verification code",
            "Enter this code to confirm your email address and continue your report.",
            &code,
        ))
        .await
    }

    /// `POST /reports/dsa/email/verify`: the code for a ticket (1 hour, one notice).
    pub async fn verify_dsa_email(&self, email: &str, code: &str) -> Result<String> {
        let mut v = Validator::new();
        let email = normalize_email(&mut v, email);
        v.finish()?;
        let cache = &self.ports().cache;
        let key = code_key(&email);
        let pending: PendingCode = cache
            .get(&key)
            .await?
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .filter(|p: &PendingCode| p.expires_at > self.now())
            .ok_or_else(invalid_code)?;
        if !secrets_equal(&pending.code_hash, &hash_token(code.trim())) {
            // Counted atomically over the code's lifetime: the 5th wrong guess voids it.
            let guesses = cache.hit(&format!("dsa-guesses:{email}"), CODE_TTL).await?;
            if guesses.count >= u64::from(GUESSES_PER_CODE) {
                cache.delete(&key).await?;
            }
            return Err(invalid_code());
        }
        // One ticket per code, even when two requests race with it.
        if !cache.delete(&key).await? {
            return Err(invalid_code());
        }
        let ticket = random_base62(48);
        cache
            .set(&ticket_key(&ticket), email.as_bytes(), Some(TICKET_TTL))
            .await?;
        Ok(ticket)
    }

    /// `POST /reports/dsa`: files the notice as a report for staff.
    pub async fn file_dsa_notice(&self, notice: DsaNotice) -> Result<ReportResponse> {
        let categories = match &notice.target {
            DsaTarget::Message { .. } => MESSAGE_REPORT_CATEGORIES,
            DsaTarget::User { .. } => USER_REPORT_CATEGORIES,
            DsaTarget::Guild { .. } => GUILD_REPORT_CATEGORIES,
        };
        validate(
            &notice.category,
            categories,
            notice.additional_info.as_deref(),
        )?;
        let mut v = Validator::new();
        v.length("ticket", &notice.ticket, 1, 128);
        v.length(
            "reporter_full_legal_name",
            notice.reporter_full_legal_name.trim(),
            1,
            160,
        );
        v.check(
            EU_COUNTRIES.contains(&notice.reporter_country_of_residence.as_str()),
            "reporter_country_of_residence",
            "INVALID_FORMAT",
            "Not an EU country code.",
        );
        if let Some(tag) = &notice.reporter_fluxer_tag {
            v.check(
                parse_tag(tag).is_some(),
                "reporter_fluxer_tag",
                "INVALID_FORMAT",
                "A tag looks like name#1234.",
            );
        }
        v.finish()?;
        let cache = &self.ports().cache;
        let email = cache
            .get(&ticket_key(&notice.ticket))
            .await?
            .and_then(|raw| String::from_utf8(raw).ok());
        // Spent before the target is looked up, as upstream: one ticket cannot probe for what
        // exists, and two notices cannot race with it.
        let email = match email {
            Some(email) if cache.delete(&ticket_key(&notice.ticket)).await? => email,
            _ => {
                return Err(Error::rejected(
                    "INVALID_DSA_TICKET",
                    "The ticket is invalid or has expired.",
                ));
            }
        };
        self.report_allowance(&format!("email:{email}")).await?;
        let kind = match notice.target {
            DsaTarget::Message { .. } => ReportKind::Message,
            DsaTarget::User { .. } => ReportKind::User,
            DsaTarget::Guild { .. } => ReportKind::Guild,
        };
        let mut info = notice.additional_info.clone().unwrap_or_default();
        if let Some(tag) = &notice.reporter_fluxer_tag {
            info = format!("{info}\n[reporter's tag: {tag}]").trim().to_owned();
        }
        let mut report = self.new_report(None, kind, notice.category.clone(), Some(info));
        report.reporter_email = Some(email);
        report.reporter_full_legal_name = Some(notice.reporter_full_legal_name.trim().to_owned());
        report.reporter_country_of_residence = Some(notice.reporter_country_of_residence.clone());
        match notice.target {
            DsaTarget::Message {
                message_link,
                reported_user_tag,
            } => {
                let (channel_id, message_id) =
                    parse_message_link(&message_link).ok_or(Error::Unknown(Unknown::Message))?;
                let channel = self
                    .store()
                    .get_channel(channel_id)
                    .await?
                    .ok_or(Error::Unknown(Unknown::Channel))?;
                let message = self.load_message(channel_id, message_id).await?;
                if let Some(tag) = reported_user_tag
                    && self.user_by_tag(&tag).await?.id != message.author_id
                {
                    return Err(invalid_target());
                }
                report.reported_user_id = Some(message.author_id);
                report.reported_message_id = Some(message.id);
                report.reported_channel_id = Some(channel.id);
                report.reported_channel_name = channel.name.clone();
                if let Some(guild) = channel.guild_id {
                    report.reported_guild_id = Some(guild);
                    report.reported_guild_name =
                        self.store().get_guild(guild).await?.map(|g| g.name);
                }
                // The message alone: a notice needs no account, so it must not copy a conversation
                // its sender may never have seen (staff look further through the admin API).
                let reported = message.id;
                report.message_context = vec![message];
                // Its files too: they go when the message does.
                self.keep_reported_files(report.id, reported, &mut report.message_context)
                    .await?;
            }
            DsaTarget::User { user_id, user_tag } => {
                let user = match (user_id, user_tag) {
                    (Some(id), tag) => {
                        let user = self
                            .store()
                            .get_user(id)
                            .await?
                            .filter(|u| u.deleted_at.is_none())
                            .ok_or(Error::Unknown(Unknown::User))?;
                        if let Some(tag) = tag
                            && self.user_by_tag(&tag).await?.id != user.id
                        {
                            return Err(invalid_target());
                        }
                        user
                    }
                    (None, Some(tag)) => self.user_by_tag(&tag).await?,
                    (None, None) => {
                        return Err(Error::field(
                            "user_id",
                            "BASE_TYPE_REQUIRED",
                            "Either user_id or user_tag is required.",
                        ));
                    }
                };
                report.reported_user_id = Some(user.id);
            }
            DsaTarget::Guild {
                guild_id,
                invite_code,
            } => {
                let guild = self
                    .store()
                    .get_guild(guild_id)
                    .await?
                    .ok_or(Error::Unknown(Unknown::Guild))?;
                if let Some(code) = invite_code {
                    let code = code
                        .trim()
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let invite = if code.is_empty() || code.len() > 64 {
                        None
                    } else {
                        self.store().get_invite(&code).await?
                    };
                    let invite = invite.ok_or(Error::Unknown(Unknown::Invite))?;
                    if invite.guild_id != Some(guild.id) {
                        return Err(invalid_target());
                    }
                    report.reported_guild_invite_code = Some(code);
                }
                report.reported_guild_id = Some(guild.id);
                report.reported_guild_name = Some(guild.name);
            }
        }
        self.file_report(report).await
    }

    /// The living account with this tag (`UNKNOWN_USER` otherwise).
    async fn user_by_tag(&self, tag: &str) -> Result<User> {
        let Some((name, discriminator)) = parse_tag(tag) else {
            return Err(invalid_target());
        };
        self.store()
            .find_user_by_tag(name, discriminator)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or(Error::Unknown(Unknown::User))
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_message_link, parse_tag};

    #[test]
    fn message_links_and_tags_are_read_strictly() {
        let (c, m) = parse_message_link("https://chat.example.com/channels/12/34/56?x=1").unwrap();
        assert_eq!((c.get(), m.get()), (34, 56));
        let (c, m) = parse_message_link("https://x/channels/@me/7/8/").unwrap();
        assert_eq!((c.get(), m.get()), (7, 8));
        assert!(parse_message_link("https://x/channels/12/34").is_none());
        assert!(parse_message_link("https://x/channels/abc/34/56").is_none());
        assert!(parse_message_link("https://x/guilds/12/34/56").is_none());
        assert_eq!(parse_tag("alice#0042"), Some(("alice", 42)));
        assert_eq!(parse_tag("alice#42"), None);
        assert_eq!(parse_tag("#0042"), None);
    }
}
