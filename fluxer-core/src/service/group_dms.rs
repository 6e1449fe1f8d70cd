//! Group DM membership after creation: adding a friend, removing someone (the owner) or oneself.

use serde_json::json;

use super::{Actor, Fluxer};
use crate::error::{Error, Limit, Result, Unknown};
use crate::id::{ChannelId, UserId};
use crate::model::{Channel, ChannelType, MessageType, RelationshipType};
use crate::ports::{Dispatch, EventKind, Topic};

/// Most members of a group DM, its owner included.
pub(super) const MAX_GROUP_DM_RECIPIENTS: usize = 25;

impl Fluxer {
    async fn group_dm(&self, actor: &Actor, channel_id: ChannelId) -> Result<Channel> {
        let channel = self
            .store()
            .get_channel(channel_id)
            .await?
            .ok_or(Error::Unknown(Unknown::Channel))?;
        if !channel.recipient_ids.contains(&actor.id()) {
            return Err(Error::Unknown(Unknown::Channel));
        }
        if channel.kind != ChannelType::GroupDm {
            return Err(Error::rejected(
                "INVALID_CHANNEL_TYPE",
                "Only group DMs have recipients to add or remove.",
            ));
        }
        Ok(channel)
    }

    /// `PUT /channels/{id}/recipients/{user}`: a member adds a friend to a group DM. The newcomer
    /// gets `CHANNEL_CREATE`, the others `CHANNEL_RECIPIENT_ADD`, and a system message (type 1)
    /// says who was added. Adding a member again changes nothing.
    pub async fn add_group_dm_recipient(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        user: UserId,
    ) -> Result<()> {
        let mut channel = self.group_dm(actor, channel_id).await?;
        if channel.recipient_ids.contains(&user) {
            return Ok(());
        }
        let friends = self
            .store()
            .get_relationship(actor.id(), user)
            .await?
            .is_some_and(|r| r.kind == RelationshipType::Friend);
        if !friends {
            return Err(Error::rejected(
                "NOT_FRIENDS_WITH_USER",
                "You can only add friends to a group DM.",
            ));
        }
        if channel.recipient_ids.len() >= MAX_GROUP_DM_RECIPIENTS {
            return Err(Error::LimitReached {
                limit: Limit::GroupDmRecipients,
                max: MAX_GROUP_DM_RECIPIENTS as u64,
            });
        }
        let before = channel.recipient_ids.clone();
        channel.recipient_ids.push(user);
        self.store().update_channel(&channel).await?;
        let partial = self
            .user_partials(&[user])
            .await?
            .remove(&user)
            .ok_or(Error::Unknown(Unknown::User))?;
        let response = self.channel_response(Some(user), &channel).await?;
        self.emit(Dispatch::new(
            EventKind::ChannelCreate,
            Topic::User(user),
            &response,
        ))
        .await;
        for member in before {
            self.emit(Dispatch::new(
                EventKind::ChannelRecipientAdd,
                Topic::User(member),
                &json!({ "channel_id": channel_id, "user": partial }),
            ))
            .await;
        }
        let access = self.channel_access(actor.id(), channel_id).await?;
        self.post_system_message(&access, actor, MessageType::RecipientAdd, vec![user], None)
            .await?;
        Ok(())
    }

    /// `DELETE /channels/{id}/recipients/{user}`: the owner removes someone, or anyone leaves
    /// (removes itself). The one removed gets `CHANNEL_DELETE`, the rest
    /// `CHANNEL_RECIPIENT_REMOVE` and, unless `silent`, a system message (type 2). An owner who
    /// leaves hands the group to the next member; the last one out deletes it.
    pub async fn remove_group_dm_recipient(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        user: UserId,
        silent: bool,
    ) -> Result<()> {
        let mut channel = self.group_dm(actor, channel_id).await?;
        if !channel.recipient_ids.contains(&user) {
            return Err(Error::field(
                "user_id",
                "USER_NOT_IN_CHANNEL",
                "That user is not in this group DM.",
            ));
        }
        if user != actor.id() && channel.owner_id != Some(actor.id()) {
            return Err(Error::forbidden(
                "CANNOT_REMOVE_OTHER_RECIPIENTS",
                "Only the owner can remove others from a group DM.",
            ));
        }
        let removed_view = self.channel_response(Some(user), &channel).await?;
        channel.recipient_ids.retain(|u| *u != user);
        channel.nicks.remove(&user);
        if channel.recipient_ids.is_empty() {
            self.store().delete_channel(channel_id).await?;
        } else {
            if channel.owner_id == Some(user) {
                channel.owner_id = channel.recipient_ids.first().copied();
            }
            self.store().update_channel(&channel).await?;
            let partial = self.user_partials(&[user]).await?.remove(&user);
            for member in &channel.recipient_ids {
                self.emit(Dispatch::new(
                    EventKind::ChannelRecipientRemove,
                    Topic::User(*member),
                    &json!({ "channel_id": channel_id, "user": partial }),
                ))
                .await;
            }
            if !silent {
                let access = super::ChannelAccess {
                    channel: channel.clone(),
                    guild: None,
                    permissions: crate::permission::Permissions::all(),
                };
                self.post_system_message(
                    &access,
                    actor,
                    MessageType::RecipientRemove,
                    vec![user],
                    None,
                )
                .await?;
            }
        }
        self.emit(Dispatch::new(
            EventKind::ChannelDelete,
            Topic::User(user),
            &removed_view,
        ))
        .await;
        Ok(())
    }
}
