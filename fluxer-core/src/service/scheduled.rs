//! Scheduled messages (`POST /channels/{id}/messages/schedule`, `/users/@me/scheduled-messages`):
//! a message written now and posted by the worker at a local time in the author's time zone.
//!
//! Each is a private document of its author, keyed by its own snowflake; a queued job
//! ([`Task::SendScheduledMessage`]) due at the scheduled instant posts it through the ordinary send
//! path, so the permission checks run again then. A message that can no longer be sent stays in the
//! list as `invalid` with the reason; one that was sent or cancelled is gone. Editing reschedules:
//! the job carries the instant it was queued for, and a job whose instant no longer matches does
//! nothing, so a restart, a retry or an old job never posts twice.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::jobs::{JobError, Task};
use super::{Actor, Fluxer};
use crate::error::{Error, Result, Unknown};
use crate::id::{ChannelId, MessageId, UserId};
use crate::ports::PrivateDocument;
use crate::time::Timestamp;

use super::messages::MessageCreate;

/// How far ahead a message may be scheduled (upstream's 30 days).
const MAX_AHEAD_MS: i64 = 30 * 24 * 3600 * 1000;
/// Scheduled messages one user may hold at once (pending or invalid); the list shows them all.
pub const MAX_SCHEDULED_MESSAGES: usize = 25;
/// The message fields a scheduled message keeps (upstream's message body, less uploads).
const PAYLOAD_FIELDS: &[&str] = &[
    "content",
    "nonce",
    "tts",
    "embeds",
    "message_reference",
    "allowed_mentions",
    "flags",
    "sticker_ids",
    "favorite_meme_id",
];

/// Where a scheduled message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduledStatus {
    /// Waiting for its time.
    Pending,
    /// Could not be sent when its time came (`status_reason` says why); kept until edited or
    /// deleted.
    Invalid,
}

/// `ScheduledMessageResponse`, also the stored form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledMessage {
    /// Its own snowflake (not the ID the message gets when it is posted).
    pub id: MessageId,
    /// Where it will be posted.
    pub channel_id: ChannelId,
    /// The instant it is due, in UTC.
    pub scheduled_at: Timestamp,
    /// The local date and time as the client sent it.
    pub scheduled_local_at: String,
    /// The IANA time zone as the client sent it.
    pub timezone: String,
    /// `pending` or `invalid`.
    pub status: ScheduledStatus,
    /// Why it could not be sent (the error code), when `invalid`.
    pub status_reason: Option<String>,
    /// The message body to post (`content`, `embeds`, `message_reference`, ...).
    pub payload: Value,
    /// When it was first scheduled.
    pub created_at: Timestamp,
    /// When it became `invalid`.
    pub invalidated_at: Option<Timestamp>,
}

/// A body that is not a message with `scheduled_local_at` and `timezone`.
fn bad_payload() -> Error {
    Error::field(
        "scheduled_message",
        "INVALID_SCHEDULED_MESSAGE_PAYLOAD",
        "Invalid scheduled message payload.",
    )
}

/// Splits a schedule body into the message, its payload as stored, and the two time fields.
fn parse_body(body: Value) -> Result<(MessageCreate, Value, String, String)> {
    let Value::Object(mut fields) = body else {
        return Err(bad_payload());
    };
    let mut text = |key: &str, max: usize| match fields.remove(key) {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(s),
        _ => Err(bad_payload()),
    };
    let local = text("scheduled_local_at", 64)?;
    let zone = text("timezone", 128)?;
    let payload: Map<String, Value> = fields
        .into_iter()
        .filter(|(k, v)| PAYLOAD_FIELDS.contains(&k.as_str()) && !v.is_null())
        .collect();
    let payload = Value::Object(payload);
    let message: MessageCreate =
        serde_json::from_value(payload.clone()).map_err(|_| bad_payload())?;
    Ok((message, payload, local, zone))
}

/// The instant `local` names in `zone` (an explicit offset or `Z` in `local` wins, as upstream).
pub fn resolve_scheduled_at(local: &str, zone: &str) -> Result<Timestamp> {
    let zone = match zone.trim() {
        "" => "UTC",
        z => z,
    };
    let tz = jiff::tz::TimeZone::get(zone).map_err(|_| {
        Error::field(
            "timezone",
            "INVALID_TIMEZONE_IDENTIFIER",
            "Invalid timezone identifier.",
        )
    })?;
    let invalid = || {
        Error::field(
            "scheduled_local_at",
            "INVALID_DATETIME_FOR_SCHEDULED_SEND",
            "Invalid date or time for scheduled send.",
        )
    };
    let local = local.trim();
    let instant = match local.parse::<jiff::Timestamp>() {
        Ok(t) => t,
        Err(_) => local
            .parse::<jiff::civil::DateTime>()
            .map_err(|_| invalid())?
            .to_zoned(tz)
            .map_err(|_| invalid())?
            .timestamp(),
    };
    Ok(Timestamp::from_unix_ms(instant.as_millisecond()))
}

impl Fluxer {
    /// Checks a schedule body against the channel and the clock; returns the message to store.
    async fn prepare_scheduled(
        &self,
        actor: &Actor,
        id: MessageId,
        channel_id: ChannelId,
        body: Value,
        created_at: Timestamp,
    ) -> Result<ScheduledMessage> {
        actor.require_person("Bots cannot schedule messages.")?;
        let (message, payload, local, zone) = parse_body(body)?;
        let access = self.channel_access(actor.id(), channel_id).await?;
        self.check_sendable(actor, &access, &message).await?;
        self.reply_target(&access, &message).await?;
        let scheduled_at = resolve_scheduled_at(&local, &zone)?;
        let ahead = scheduled_at.ms_since(self.now());
        if ahead <= 0 {
            return Err(Error::field(
                "scheduled_local_at",
                "SCHEDULED_TIME_MUST_BE_FUTURE",
                "Scheduled time must be in the future.",
            ));
        }
        if ahead > MAX_AHEAD_MS {
            return Err(Error::field(
                "scheduled_local_at",
                "SCHEDULED_MESSAGES_MAX_30_DAYS",
                "Scheduled messages can be at most 30 days in the future.",
            ));
        }
        Ok(ScheduledMessage {
            id,
            channel_id,
            scheduled_at,
            scheduled_local_at: local,
            timezone: zone,
            status: ScheduledStatus::Pending,
            status_reason: None,
            payload,
            created_at,
            invalidated_at: None,
        })
    }

    /// Stores it and queues the job that posts it at its time.
    async fn store_scheduled(&self, user: UserId, message: &ScheduledMessage) -> Result<()> {
        let Some(queue) = &self.ports().queue else {
            return Err(Error::Unavailable {
                code: "SCHEDULED_MESSAGES_UNAVAILABLE",
                message: "Scheduled messages need a job queue.".into(),
            });
        };
        put_scheduled(self, user, message).await?;
        let mut job = Task::SendScheduledMessage {
            user_id: user,
            scheduled_message_id: message.id,
            expected_scheduled_at: message.scheduled_at,
        }
        .to_job();
        job.run_at = Some(message.scheduled_at);
        queue.enqueue(job).await?;
        Ok(())
    }

    /// `POST /channels/{id}/messages/schedule`: checks the message as if it were sent now, and the
    /// time (a valid IANA zone, in the future, at most 30 days ahead).
    pub async fn schedule_message(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        body: Value,
    ) -> Result<ScheduledMessage> {
        let held = self
            .store()
            .list_private_documents(actor.id(), PrivateDocument::ScheduledMessage)
            .await?;
        if held.len() >= MAX_SCHEDULED_MESSAGES {
            return Err(Error::rejected(
                "MAX_SCHEDULED_MESSAGES",
                format!("At most {MAX_SCHEDULED_MESSAGES} messages can be scheduled."),
            ));
        }
        let message = self
            .prepare_scheduled(actor, self.next_id(), channel_id, body, self.now())
            .await?;
        self.store_scheduled(actor.id(), &message).await?;
        Ok(message)
    }

    /// `GET /users/@me/scheduled-messages`: newest first.
    pub async fn scheduled_messages(&self, actor: &Actor) -> Result<Vec<ScheduledMessage>> {
        actor.require_person("Bots cannot schedule messages.")?;
        let docs = self
            .store()
            .list_private_documents(actor.id(), PrivateDocument::ScheduledMessage)
            .await?;
        Ok(docs
            .iter()
            .rev()
            .filter_map(|(_, data)| serde_json::from_str(data).ok())
            .collect())
    }

    /// `GET /users/@me/scheduled-messages/{id}`.
    pub async fn scheduled_message(
        &self,
        actor: &Actor,
        id: MessageId,
    ) -> Result<ScheduledMessage> {
        actor.require_person("Bots cannot schedule messages.")?;
        get_scheduled(self, actor.id(), id)
            .await?
            .ok_or(Error::Unknown(Unknown::Message))
    }

    /// `PATCH /users/@me/scheduled-messages/{id}`: replaces the message and its time (the same body
    /// as scheduling, checked again), in the same channel; an `invalid` one becomes pending again.
    pub async fn edit_scheduled_message(
        &self,
        actor: &Actor,
        id: MessageId,
        body: Value,
    ) -> Result<ScheduledMessage> {
        let old = self.scheduled_message(actor, id).await?;
        let message = self
            .prepare_scheduled(actor, id, old.channel_id, body, old.created_at)
            .await?;
        self.store_scheduled(actor.id(), &message).await?;
        Ok(message)
    }

    /// `DELETE /users/@me/scheduled-messages/{id}`: forgets it (and its job does nothing); deleting
    /// one that is not there is not an error.
    pub async fn cancel_scheduled_message(&self, actor: &Actor, id: MessageId) -> Result<()> {
        actor.require_person("Bots cannot schedule messages.")?;
        self.store()
            .put_private_document(
                actor.id(),
                PrivateDocument::ScheduledMessage,
                id.get(),
                None,
            )
            .await?;
        Ok(())
    }

    /// The job: posts the message if it is still pending for this instant, as its author, through
    /// the ordinary send path. A refusal (the channel is gone, a permission was lost) marks it
    /// `invalid` with the error's code and is not retried; a backend failure is.
    pub(crate) async fn send_scheduled_message(
        &self,
        user: UserId,
        id: MessageId,
        expected: Timestamp,
    ) -> std::result::Result<(), JobError> {
        // One job at a time per scheduled message: an edit queues another job for the same
        // instant, and a delivery may be repeated; whichever runs first posts it and deletes it,
        // the others then find nothing to do.
        let key = format!("scheduled-message:{id}");
        let cache = &self.ports().cache;
        let Some(lock) = cache
            .try_lock(&key, std::time::Duration::from_secs(60))
            .await
            .map_err(Error::from)?
        else {
            return Ok(());
        };
        let result = self.send_scheduled_locked(user, id, expected).await;
        let _ = cache.unlock(&key, &lock).await;
        result
    }

    async fn send_scheduled_locked(
        &self,
        user: UserId,
        id: MessageId,
        expected: Timestamp,
    ) -> std::result::Result<(), JobError> {
        let Some(mut message) = get_scheduled(self, user, id).await? else {
            return Ok(());
        };
        if message.status != ScheduledStatus::Pending || message.scheduled_at != expected {
            return Ok(());
        }
        let outcome = match self.store().get_user(user).await.map_err(Error::from)? {
            Some(author)
                if author.deleted_at.is_none()
                    && author.deletion_requested_at.is_none()
                    && author.flags & super::accounts::DISABLED == 0 =>
            {
                let actor = Actor {
                    user: author,
                    session: None,
                    reason: None,
                    oauth2: None,
                };
                match serde_json::from_value::<MessageCreate>(message.payload.clone()) {
                    Ok(body) => self.send_message(&actor, message.channel_id, body).await,
                    Err(_) => Err(bad_payload()),
                }
            }
            _ => Err(Error::Unknown(Unknown::User)),
        };
        match outcome {
            Ok(_) => {
                self.store()
                    .put_private_document(user, PrivateDocument::ScheduledMessage, id.get(), None)
                    .await
                    .map_err(Error::from)?;
            }
            Err(e) if e.is_client_error() => {
                message.status = ScheduledStatus::Invalid;
                message.status_reason = Some(e.code().to_owned());
                message.invalidated_at = Some(self.now());
                put_scheduled(self, user, &message).await?;
            }
            Err(e) => return Err(JobError::Failed(e)),
        }
        Ok(())
    }
}

async fn get_scheduled(
    fluxer: &Fluxer,
    user: UserId,
    id: MessageId,
) -> Result<Option<ScheduledMessage>> {
    let doc = fluxer
        .store()
        .get_private_document(user, PrivateDocument::ScheduledMessage, id.get())
        .await?;
    Ok(doc.and_then(|d| serde_json::from_str(&d).ok()))
}

async fn put_scheduled(fluxer: &Fluxer, user: UserId, message: &ScheduledMessage) -> Result<()> {
    let data = serde_json::to_string(message).map_err(|e| Error::Internal(e.to_string()))?;
    fluxer
        .store()
        .put_private_document(
            user,
            PrivateDocument::ScheduledMessage,
            message.id.get(),
            Some(&data),
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_resolve_in_their_zone_and_offsets_win() {
        let utc = resolve_scheduled_at("2030-01-15T10:00:00", "UTC").unwrap();
        assert_eq!(utc.to_iso8601(), "2030-01-15T10:00:00.000Z");
        let oslo = resolve_scheduled_at("2030-01-15T10:00:00", "Europe/Oslo").unwrap();
        assert_eq!(oslo.to_iso8601(), "2030-01-15T09:00:00.000Z");
        // Summer time in New York is UTC-4.
        let ny = resolve_scheduled_at("2030-07-01T08:30", "America/New_York").unwrap();
        assert_eq!(ny.to_iso8601(), "2030-07-01T12:30:00.000Z");
        let explicit = resolve_scheduled_at("2030-01-15T10:00:00Z", "Asia/Tokyo").unwrap();
        assert_eq!(explicit, utc);
    }

    #[test]
    fn bad_zones_and_times_name_their_field() {
        let field = |e: Error| match e {
            Error::InvalidForm(errs) => (errs[0].path.clone(), errs[0].code),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(resolve_scheduled_at("2030-01-15T10:00", "Mars/Olympus").unwrap_err()),
            ("timezone".to_owned(), "INVALID_TIMEZONE_IDENTIFIER")
        );
        assert_eq!(
            field(resolve_scheduled_at("next tuesday", "UTC").unwrap_err()),
            (
                "scheduled_local_at".to_owned(),
                "INVALID_DATETIME_FOR_SCHEDULED_SEND"
            )
        );
    }

    #[test]
    fn bodies_keep_only_message_fields() {
        let (message, payload, local, zone) = parse_body(serde_json::json!({
            "content": "hi", "scheduled_local_at": "2030-01-01T00:00", "timezone": "UTC",
            "nonce": "7", "unknown": 1, "embeds": null,
        }))
        .unwrap();
        assert_eq!(message.content.as_deref(), Some("hi"));
        assert_eq!(
            payload,
            serde_json::json!({ "content": "hi", "nonce": "7" })
        );
        assert_eq!((local.as_str(), zone.as_str()), ("2030-01-01T00:00", "UTC"));
        assert!(parse_body(serde_json::json!({ "content": "hi" })).is_err());
        assert!(
            parse_body(
                serde_json::json!({ "content": 5, "scheduled_local_at": "x", "timezone": "UTC" })
            )
            .is_err()
        );
    }
}
