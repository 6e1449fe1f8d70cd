//! Moderation of voice connections: server mute and deafen, moves and disconnects by moderators,
//! and what guild changes (roles, overwrites, members leaving, channels going) mean for the
//! connections, with LiveKit's room service told.

use super::*;

impl Fluxer {
    /// A member's server mute or deafen changed, or the member was moved out of voice
    /// (`channel: Some(None)`): LiveKit is told and the states are dispatched.
    pub(crate) async fn voice_member_updated(
        &self,
        guild: GuildId,
        user: UserId,
        disconnect: bool,
    ) -> Result<()> {
        let ids = self.member_connection_ids(guild, user).await?;
        if ids.is_empty() {
            return Ok(());
        }
        if disconnect {
            for id in ids {
                self.drop_connection(&id, None, true).await?;
            }
            return Ok(());
        }
        self.voice_recheck(ids).await
    }

    /// The connections of `user` in `guild`'s voice channels, whichever node made them.
    async fn member_connection_ids(&self, guild: GuildId, user: UserId) -> Result<Vec<String>> {
        Ok(self
            .connections_in(VoiceScope::Guild(guild))
            .await?
            .into_iter()
            .filter(|c| c.state.user_id == user)
            .map(|c| c.state.connection_id)
            .collect())
    }

    /// Re-evaluates connections against the current permissions and member records: those that
    /// lost CONNECT (or the channel) are disconnected, the others get their rights updated.
    async fn voice_recheck(&self, ids: Vec<String>) -> Result<()> {
        for id in ids {
            let Some(c) = self.voice_connection(&id).await? else {
                continue;
            };
            let Some(channel) = c.state.channel_id else {
                continue;
            };
            let target = match self
                .voice_target(c.state.user_id, c.state.guild_id, channel)
                .await
            {
                Ok(t) => t,
                Err(Error::Rejected { .. } | Error::Forbidden { .. }) => {
                    self.drop_connection(&id, None, true).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let rights = rights_for(target.permissions, target.mute, target.deaf);
            let modified = self
                .modify_connection(&id, |c| {
                    if c.rights == rights
                        && c.state.mute == target.mute
                        && c.state.deaf == target.deaf
                    {
                        return false;
                    }
                    c.rights = rights.clone();
                    c.state.mute = target.mute;
                    c.state.deaf = target.deaf;
                    true
                })
                .await?;
            let Modified::Changed(updated) = modified else {
                continue;
            };
            if let (Some(backend), Some(server)) = (
                self.inner.ports.voice.as_ref(),
                self.server_credentials(&updated.region_id, &updated.server_id),
            ) {
                let identity = participant_identity(updated.state.user_id, &id);
                if let Err(e) = backend
                    .update_participant(&server, &updated.room, &identity, &rights)
                    .await
                {
                    tracing::warn!(error = %crate::error::chain(&e), room = %updated.room, "LiveKit did not update a participant");
                }
            }
            if updated.announced {
                self.publish_voice(&updated, &updated.state).await?;
            }
        }
        Ok(())
    }

    /// Refuses a move into `channel` the mover could not make itself.
    pub(crate) async fn check_voice_move(
        &self,
        mover: UserId,
        guild: GuildId,
        channel: ChannelId,
    ) -> Result<()> {
        self.voice_settings()?;
        self.voice_target(mover, Some(guild), channel).await?;
        Ok(())
    }

    /// A moderator moved `user`'s connections in `guild` to `channel`: each leaves its LiveKit
    /// room and gets a token for the new one, sent to the user's sessions (`VOICE_SERVER_UPDATE`
    /// carries the connection, so only the one that holds it reconnects).
    pub(crate) async fn voice_move_member(
        &self,
        mover: UserId,
        guild: GuildId,
        user: UserId,
        channel: ChannelId,
    ) -> Result<()> {
        for id in self.member_connection_ids(guild, user).await? {
            let Some(c) = self.voice_connection(&id).await? else {
                continue;
            };
            if c.state.channel_id == Some(channel) {
                continue;
            }
            let mut target = self.voice_target(mover, Some(guild), channel).await?;
            // The moved member's own rights apply in the new channel.
            match self.voice_target(user, Some(guild), channel).await {
                Ok(own) => target = own,
                Err(Error::Rejected { .. } | Error::Forbidden { .. }) => {
                    target.permissions = Permissions::CONNECT;
                }
                Err(e) => return Err(e),
            }
            self.kick_participant(&c).await;
            let request = VoiceStateRequest {
                guild_id: Some(guild),
                channel_id: Some(channel),
                connection_id: Some(id.clone()),
                self_mute: c.state.self_mute,
                self_deaf: c.state.self_deaf,
                self_video: c.state.self_video,
                self_stream: c.state.self_stream,
                is_mobile: c.state.is_mobile,
                viewer_stream_keys: c.state.viewer_stream_keys.clone(),
                latitude: None,
                longitude: None,
            };
            let session = c.state.session_id.clone();
            let update = self
                .connect(user, &session, &target, &request, Some(c))
                .await?;
            self.inner
                .ports
                .events
                .publish(Dispatch::new(
                    EventKind::VoiceServerUpdate,
                    Topic::User(user),
                    &update,
                ))
                .await?;
        }
        Ok(())
    }

    /// Roles or overwrites of a guild changed: every connection in it is re-checked.
    pub(crate) async fn voice_guild_permissions_changed(&self, guild: GuildId) -> Result<()> {
        let ids: Vec<String> = self
            .connections_in(VoiceScope::Guild(guild))
            .await?
            .into_iter()
            .map(|c| c.state.connection_id)
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        self.voice_recheck(ids).await
    }

    /// A member left, was kicked or banned: its connections in the guild end, LiveKit included.
    pub(crate) async fn voice_member_removed(&self, guild: GuildId, user: UserId) -> Result<()> {
        self.voice_member_updated(guild, user, true).await
    }

    /// A channel was deleted: everyone in it is disconnected.
    pub(crate) async fn voice_channel_deleted(&self, channel: ChannelId) -> Result<()> {
        self.disconnect_channel(channel).await
    }

    /// What a guild event means for the voice connections, if anything (cheap: no lookup; the
    /// change finds the connections it concerns, made on any node, when applied).
    pub(crate) fn voice_follows(&self, dispatch: &Dispatch) -> Option<VoiceChange> {
        let Topic::Guild(guild) = dispatch.topic else {
            return None;
        };
        if !self.voice_configured() {
            return None;
        }
        match dispatch.event {
            EventKind::GuildMemberUpdate => dispatch.subject.map(|u| VoiceChange::Member(guild, u)),
            EventKind::GuildMemberRemove => {
                dispatch.subject.map(|u| VoiceChange::Removed(guild, u))
            }
            EventKind::ChannelDelete => dispatch.channel_id.map(VoiceChange::ChannelGone),
            EventKind::GuildRoleCreate
            | EventKind::GuildRoleUpdate
            | EventKind::GuildRoleUpdateBulk
            | EventKind::GuildRoleDelete
            | EventKind::ChannelUpdate
            | EventKind::GuildUpdate => Some(VoiceChange::Permissions(guild)),
            EventKind::GuildDelete => Some(VoiceChange::GuildGone(guild)),
            _ => None,
        }
    }

    /// Applies a [`VoiceChange`]; failures are logged (the change that caused it already
    /// happened).
    pub(crate) async fn voice_apply(&self, change: VoiceChange) {
        let result = match change {
            VoiceChange::Member(g, u) => self.voice_member_updated(g, u, false).await,
            VoiceChange::Removed(g, u) => self.voice_member_removed(g, u).await,
            VoiceChange::ChannelGone(c) => self.voice_channel_deleted(c).await,
            VoiceChange::Permissions(g) => self.voice_guild_permissions_changed(g).await,
            VoiceChange::GuildGone(g) => {
                let mut result = Ok(());
                match self.connections_in(VoiceScope::Guild(g)).await {
                    Ok(connections) => {
                        for c in connections {
                            if let Err(e) = self
                                .drop_connection(&c.state.connection_id, None, true)
                                .await
                            {
                                result = Err(e);
                            }
                        }
                    }
                    Err(e) => result = Err(e),
                }
                result
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %crate::error::chain(&e), "voice states not updated after a guild change");
        }
    }
}
