//! DM and group-DM calls: a call exists while someone is connected to the channel's room or is
//! being rung. Recipients hear of it through `CALL_CREATE`, `CALL_UPDATE` and `CALL_DELETE`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Fluxer;
use super::voice::CallRecord;
use crate::error::{Error, Result};
use crate::id::{ChannelId, UserId};
use crate::model::{ChannelType, VoiceState};
use crate::ports::{Dispatch, EventKind, Topic};

/// A call as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallResponse {
    /// The DM or group DM.
    pub channel_id: ChannelId,
    /// The call's system message (none here: calls post no message).
    pub message_id: Option<String>,
    /// The region chosen for it, if one was.
    pub region: Option<String>,
    /// Who is being rung.
    pub ringing: Vec<UserId>,
    /// Who is connected.
    pub voice_states: Vec<VoiceState>,
}

/// `GET /channels/{id}/call`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallEligibility {
    /// Whether the caller may ring this call.
    pub ringable: bool,
    /// Whether joining should not ring anyone.
    pub silent: bool,
}

/// The body of `POST .../call/ring` and `.../call/stop-ringing`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallRing {
    /// Whom to ring (or stop ringing); default: every other recipient (for stop-ringing: the
    /// caller).
    #[serde(default)]
    pub recipients: Option<Vec<UserId>>,
}

/// The body of `PATCH /channels/{id}/call`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallUpdate {
    /// A region id from `GET /voice/regions`, or `null` for automatic.
    #[serde(default)]
    pub region: Option<String>,
}

/// Most recipients a ring names (a group DM's size bound).
const MAX_RING: usize = 25;

/// How long an open call's record outlives its last change: a call whose nodes all died without
/// closing it is forgotten after this.
const CALL_TTL: Duration = Duration::from_secs(24 * 60 * 60);

impl Fluxer {
    /// The recipients of a private channel the caller is in; `INVALID_CHANNEL_TYPE` for others.
    async fn call_channel(&self, user: UserId, channel: ChannelId) -> Result<Vec<UserId>> {
        let access = self.channel_access(user, channel).await?;
        if !matches!(access.channel.kind, ChannelType::Dm | ChannelType::GroupDm) {
            return Err(Error::rejected(
                "INVALID_CHANNEL_TYPE",
                "Calls exist only in DMs and group DMs",
            ));
        }
        Ok(access.channel.recipient_ids)
    }

    /// Whether the caller may ring the call of a DM or group DM.
    pub async fn call_eligibility(
        &self,
        user: UserId,
        channel: ChannelId,
    ) -> Result<CallEligibility> {
        let recipients = self.call_channel(user, channel).await?;
        Ok(CallEligibility {
            ringable: self.voice_enabled() && recipients.iter().any(|r| *r != user),
            silent: false,
        })
    }

    async fn call_response(&self, channel: ChannelId, record: &CallRecord) -> Result<CallResponse> {
        Ok(CallResponse {
            channel_id: channel,
            message_id: None,
            region: record.region.clone(),
            ringing: record.ringing.clone(),
            voice_states: self
                .call_participants(channel)
                .await?
                .into_iter()
                .filter_map(|(state, announced)| announced.then_some(state))
                .collect(),
        })
    }

    async fn publish_call(
        &self,
        event: EventKind,
        recipients: &[UserId],
        payload: &impl Serialize,
    ) -> Result<()> {
        for r in recipients {
            self.inner
                .ports
                .events
                .publish(Dispatch::new(event, Topic::User(*r), payload))
                .await?;
        }
        Ok(())
    }

    /// Opens the channel's call if none is open (`CALL_CREATE`), then applies `change` to it
    /// (`CALL_UPDATE` when it was open already and something changed).
    async fn change_call(
        &self,
        channel: ChannelId,
        recipients: &[UserId],
        change: impl FnOnce(&mut CallRecord) -> bool,
    ) -> Result<()> {
        // One change at a time on this node; two nodes changing one call at the same instant
        // keep the later write (a ring and a join racing across nodes is the rare case).
        let (created, changed, record) = {
            let _one_at_a_time = self.voice_runtime().call_changes.lock().await;
            self.change_call_locked(&Self::call_key(channel), change)
                .await?
        };
        let payload = self.call_response(channel, &record).await?;
        if created {
            self.publish_call(EventKind::CallCreate, recipients, &payload)
                .await
        } else if changed {
            self.publish_call(EventKind::CallUpdate, recipients, &payload)
                .await
        } else {
            Ok(())
        }
    }

    /// Where a private channel's open call is kept in the cache.
    fn call_key(channel: ChannelId) -> String {
        format!("voice:call:{channel}")
    }

    /// The channel's open call, if one is.
    async fn call_record(&self, channel: ChannelId) -> Result<Option<CallRecord>> {
        let bytes = self
            .ports()
            .cache
            .get(&Self::call_key(channel))
            .await
            .map_err(Error::from)?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Opens the record if none is, applies `change` and stores it.
    async fn change_call_locked(
        &self,
        key: &str,
        change: impl FnOnce(&mut CallRecord) -> bool,
    ) -> Result<(bool, bool, CallRecord)> {
        let cache = &self.ports().cache;
        let stored = cache.get(key).await.map_err(Error::from)?;
        let created = stored.is_none();
        let mut record: CallRecord = stored
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let changed = change(&mut record);
        if created || changed {
            let bytes = serde_json::to_vec(&record)
                .map_err(|e| Error::Internal(format!("call record: {e}")))?;
            cache
                .set(key, &bytes, Some(CALL_TTL))
                .await
                .map_err(Error::from)?;
        }
        Ok((created, changed, record))
    }

    /// `POST /channels/{id}/call/ring`: rings recipients (by default every other one).
    pub async fn ring_call(&self, user: UserId, channel: ChannelId, ring: CallRing) -> Result<()> {
        if !self.voice_enabled() {
            return Err(Error::rejected(
                "VOICE_DISABLED",
                "Voice is not enabled on this instance",
            ));
        }
        let recipients = self.call_channel(user, channel).await?;
        let wanted: Vec<UserId> = match ring.recipients {
            Some(list) => {
                if list.len() > MAX_RING {
                    return Err(Error::field(
                        "recipients",
                        "BASE_TYPE_MAX_LENGTH",
                        "Too many recipients",
                    ));
                }
                list
            }
            None => recipients.iter().copied().filter(|r| *r != user).collect(),
        };
        if wanted.iter().any(|r| !recipients.contains(r)) {
            return Err(Error::field(
                "recipients",
                "INVALID_RECIPIENT",
                "Only the channel's recipients can be rung",
            ));
        }
        self.change_call(channel, &recipients, |call| {
            let before = call.ringing.len();
            for r in wanted {
                if !call.ringing.contains(&r) {
                    call.ringing.push(r);
                }
            }
            call.ringing.len() != before
        })
        .await
    }

    /// `POST /channels/{id}/call/stop-ringing`: stops ringing recipients (by default the
    /// caller, who declined).
    pub async fn stop_ringing(
        &self,
        user: UserId,
        channel: ChannelId,
        ring: CallRing,
    ) -> Result<()> {
        let recipients = self.call_channel(user, channel).await?;
        let stop = ring.recipients.unwrap_or_else(|| vec![user]);
        if stop.len() > MAX_RING {
            return Err(Error::field(
                "recipients",
                "BASE_TYPE_MAX_LENGTH",
                "Too many recipients",
            ));
        }
        if self.call_record(channel).await?.is_none() {
            return Ok(());
        }
        self.change_call(channel, &recipients, |call| {
            let before = call.ringing.len();
            call.ringing.retain(|r| !stop.contains(r));
            call.ringing.len() != before
        })
        .await
    }

    /// `PATCH /channels/{id}/call`: the call's region (`UNKNOWN_VOICE_REGION` for an unknown one).
    pub async fn update_call(
        &self,
        user: UserId,
        channel: ChannelId,
        update: CallUpdate,
    ) -> Result<()> {
        let recipients = self.call_channel(user, channel).await?;
        if let Some(region) = &update.region
            && !self.voice_regions().iter().any(|r| &r.id == region)
        {
            return Err(Error::field(
                "region",
                "UNKNOWN_VOICE_REGION",
                "Unknown voice region",
            ));
        }
        self.change_call(channel, &recipients, |call| {
            let changed = call.region != update.region;
            call.region = update.region;
            changed
        })
        .await
    }

    /// `POST /channels/{id}/call/end`: everyone is disconnected and the call closes
    /// (`CALL_DELETE`).
    pub async fn end_call(&self, user: UserId, channel: ChannelId) -> Result<()> {
        let recipients = self.call_channel(user, channel).await?;
        self.disconnect_channel(channel).await?;
        self.close_call(channel, &recipients).await
    }

    /// Closes the call if it is open (`CALL_DELETE`).
    pub(crate) async fn close_call(&self, channel: ChannelId, recipients: &[UserId]) -> Result<()> {
        let removed = self
            .ports()
            .cache
            .delete(&Self::call_key(channel))
            .await
            .map_err(Error::from)?;
        if removed {
            self.publish_call(
                EventKind::CallDelete,
                recipients,
                &serde_json::json!({ "channel_id": channel }),
            )
            .await?;
        }
        Ok(())
    }

    /// A participant joined or left a call: it opens on the first, updates, and closes when the
    /// last one leaves and no one is rung.
    pub(crate) async fn call_participants_changed(&self, channel: ChannelId) -> Result<()> {
        let Some(ch) = self.store().get_channel(channel).await? else {
            return Ok(());
        };
        let recipients = ch.recipient_ids;
        let connected: Vec<UserId> = self
            .call_participants(channel)
            .await?
            .iter()
            .map(|(s, _)| s.user_id)
            .collect();
        if connected.is_empty() {
            return self.close_call(channel, &recipients).await;
        }
        self.change_call(channel, &recipients, |call| {
            // Whoever joined is no longer rung.
            call.ringing.retain(|r| !connected.contains(r));
            true
        })
        .await
    }

    /// The open calls of the user's private channels (for `CALL_CREATE` after READY).
    pub async fn open_calls(&self, channels: &[ChannelId]) -> Result<Vec<CallResponse>> {
        if !self.voice_configured() {
            return Ok(Vec::new());
        }
        let mut records = Vec::new();
        for c in channels {
            if let Some(r) = self.call_record(*c).await? {
                records.push((*c, r));
            }
        }
        let mut out = Vec::with_capacity(records.len());
        for (c, r) in &records {
            out.push(self.call_response(*c, r).await?);
        }
        Ok(out)
    }
}
