//! Read states beyond acknowledging a message: pins seen, a channel's state forgotten, and the
//! latest message of several DMs at once.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Actor, Fluxer};
use crate::error::Result;
use crate::id::ChannelId;
use crate::model::{ChannelType, MessageResponse, ReadState};
use crate::ports::{Dispatch, EventKind, Topic};
use crate::validation::Validator;

/// Most channels one preload asks for.
const MAX_PRELOAD_CHANNELS: usize = 100;

impl Fluxer {
    /// `POST /channels/{id}/pins/ack`: the user has seen the channel's pins. Stores the latest pin
    /// time in the read state and dispatches `CHANNEL_PINS_ACK` to the user's sessions (nothing
    /// when the channel has no pins).
    pub async fn ack_pins(&self, actor: &Actor, channel_id: ChannelId) -> Result<()> {
        let access = self.channel_access(actor.id(), channel_id).await?;
        let Some(pinned_at) = access.channel.last_pin_timestamp else {
            return Ok(());
        };
        let mut state = self
            .store()
            .get_read_state(actor.id(), channel_id)
            .await?
            .unwrap_or_else(|| ReadState::unread(actor.id(), channel_id));
        state.last_pin_timestamp = Some(pinned_at);
        self.store().put_read_state(&state).await?;
        // Upstream names the time `timestamp`; its web client reads `last_pin_timestamp`.
        self.emit(Dispatch::new(
            EventKind::ChannelPinsAck,
            Topic::User(actor.id()),
            &json!({
                "channel_id": channel_id,
                "timestamp": pinned_at,
                "last_pin_timestamp": pinned_at,
            }),
        ))
        .await;
        Ok(())
    }

    /// `DELETE /channels/{id}/messages/ack`: forgets the user's read state in a channel (clients
    /// clear those of channels they no longer see). Idempotent.
    pub async fn forget_read_state(&self, actor: &Actor, channel_id: ChannelId) -> Result<()> {
        self.store()
            .delete_read_state(actor.id(), channel_id)
            .await?;
        Ok(())
    }

    /// `POST /users/@me/preload-messages`: the latest message of each of up to 100 DMs or group
    /// DMs the user is in (`None` for an empty one). Other channels are left out.
    pub async fn preload_messages(
        &self,
        actor: &Actor,
        channels: Vec<ChannelId>,
    ) -> Result<BTreeMap<ChannelId, Option<MessageResponse>>> {
        let mut v = Validator::new();
        v.count("channels", channels.len(), MAX_PRELOAD_CHANNELS);
        v.finish()?;
        let mut out = BTreeMap::new();
        for id in channels {
            let Some(channel) = self.store().get_channel(id).await? else {
                continue;
            };
            if !matches!(channel.kind, ChannelType::Dm | ChannelType::GroupDm)
                || !channel.recipient_ids.contains(&actor.id())
            {
                continue;
            }
            let latest = match channel.last_message_id {
                Some(m) => match self.store().get_message(id, m).await? {
                    Some(message) => Some(self.message_response(actor.id(), message).await?),
                    None => None,
                },
                None => None,
            };
            out.insert(id, latest);
        }
        Ok(out)
    }
}
