//! Turning stored entities into wire shapes: joining authors, mentions, reactions and recipients.

use std::collections::{HashMap, HashSet};

use crate::error::Result;
use crate::id::{MessageId, UserId};
use crate::model::{
    Channel, ChannelResponse, Message, MessageResponse, ReactionCount, User, UserPartial,
};
use crate::ports::{Dispatch, EventKind, HistoryPage, Topic};

use super::Fluxer;

/// How a user that no longer resolves is shown.
fn unknown_user(id: UserId) -> UserPartial {
    UserPartial {
        id,
        username: "Deleted User".to_owned(),
        discriminator: "0000".to_owned(),
        global_name: None,
        avatar: None,
        avatar_color: None,
        bot: None,
        system: None,
        flags: 0,
    }
}

impl Fluxer {
    /// Partial users for `ids`, in the order given; missing users appear as "Deleted User".
    pub async fn user_partials(&self, ids: &[UserId]) -> Result<HashMap<UserId, UserPartial>> {
        let mut unique: Vec<UserId> = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let found = if unique.is_empty() {
            Vec::new()
        } else {
            self.store().get_users(&unique).await?
        };
        let mut map: HashMap<UserId, UserPartial> =
            found.iter().map(|u| (u.id, u.partial())).collect();
        for id in unique {
            map.entry(id).or_insert_with(|| unknown_user(id));
        }
        Ok(map)
    }

    /// Wire shapes for messages of one channel as `viewer` sees them (reactions' `me`).
    pub async fn message_responses(
        &self,
        viewer: UserId,
        messages: Vec<Message>,
    ) -> Result<Vec<MessageResponse>> {
        self.hydrate_messages(viewer, messages, Known::Nothing)
            .await
    }

    /// Wire shapes for a page of history read with its users and reactions
    /// ([`HistoryRepository::history_page`](crate::ports::HistoryRepository::history_page)).
    pub(crate) async fn history_responses(
        &self,
        viewer: UserId,
        page: HistoryPage,
    ) -> Result<Vec<MessageResponse>> {
        let HistoryPage {
            messages,
            users,
            reactions,
        } = page;
        self.hydrate_messages(viewer, messages, Known::Page { users, reactions })
            .await
    }

    /// The wire shape of a message `author` has just created: it has no reactions yet and its author
    /// is at hand, so only its mentions and the message it replies to are read.
    pub(crate) async fn new_message_response(
        &self,
        author: &User,
        message: Message,
    ) -> Result<MessageResponse> {
        let hydrated = self
            .hydrate_messages(author.id, vec![message], Known::NewBy(author))
            .await?;
        only(hydrated)
    }

    async fn hydrate_messages(
        &self,
        viewer: UserId,
        messages: Vec<Message>,
        known: Known<'_>,
    ) -> Result<Vec<MessageResponse>> {
        let Some(first) = messages.first() else {
            return Ok(Vec::new());
        };
        let channel_id = first.channel_id;
        // Replies show the message they answer (one level deep), read unless it is on the page.
        let mut referenced: HashMap<MessageId, Message> = HashMap::new();
        for m in &messages {
            let Some(r) = &m.message_reference else {
                continue;
            };
            if r.kind != 0
                || r.channel_id.is_some_and(|c| c != channel_id)
                || referenced.contains_key(&r.message_id)
            {
                continue;
            }
            let found = match messages.iter().find(|on_page| on_page.id == r.message_id) {
                Some(on_page) => Some(on_page.clone()),
                None => self.store().get_message(channel_id, r.message_id).await?,
            };
            if let Some(found) = found {
                referenced.insert(r.message_id, found);
            }
        }
        // What is at hand: users already read (or being the author), and the messages whose
        // reactions are already read (a new message has none).
        let mut users: HashMap<UserId, UserPartial> = HashMap::new();
        let mut looked_up: HashSet<UserId> = HashSet::new();
        let mut reactions: HashMap<MessageId, Vec<ReactionCount>> = HashMap::new();
        let mut reactions_read: HashSet<MessageId> = HashSet::new();
        match known {
            Known::Nothing => {}
            Known::NewBy(author) => {
                users.insert(author.id, author.partial());
                looked_up.insert(author.id);
                reactions_read.extend(messages.iter().map(|m| m.id));
            }
            Known::Page {
                users: found,
                reactions: counts,
            } => {
                looked_up.extend(messages.iter().flat_map(Message::named_users));
                users.extend(found.iter().map(|u| (u.id, u.partial())));
                for id in &looked_up {
                    users.entry(*id).or_insert_with(|| unknown_user(*id));
                }
                reactions_read.extend(messages.iter().map(|m| m.id));
                for (id, count) in counts {
                    reactions.entry(id).or_default().push(count);
                }
            }
        }
        let missing: Vec<UserId> = messages
            .iter()
            .chain(referenced.values())
            .flat_map(Message::named_users)
            .filter(|id| !looked_up.contains(id))
            .collect();
        if !missing.is_empty() {
            users.extend(self.user_partials(&missing).await?);
        }
        let unread: Vec<MessageId> = messages
            .iter()
            .map(|m| m.id)
            .chain(referenced.keys().copied())
            .filter(|id| !reactions_read.contains(id))
            .collect();
        if !unread.is_empty() {
            for (id, count) in self
                .store()
                .reaction_counts(channel_id, &unread, viewer)
                .await?
            {
                reactions.entry(id).or_default().push(count);
            }
        }
        let build =
            |m: &Message, reactions: &mut HashMap<MessageId, Vec<ReactionCount>>| MessageResponse {
                id: m.id,
                channel_id: m.channel_id,
                guild_id: m.guild_id,
                author: author_of(m, &users),
                kind: m.kind,
                flags: m.flags,
                content: m.content.clone(),
                timestamp: m.timestamp(),
                edited_timestamp: m.edited_timestamp,
                pinned: m.pinned_at.is_some(),
                mention_everyone: m.mention_everyone,
                tts: m.tts,
                mentions: m
                    .mention_ids
                    .iter()
                    .filter_map(|id| users.get(id).cloned())
                    .collect(),
                mention_roles: m.mention_role_ids.clone(),
                embeds: m
                    .embeds
                    .iter()
                    .map(|e| self.embed_for_response(e))
                    .collect(),
                stickers: m.stickers.clone(),
                attachments: m
                    .attachments
                    .iter()
                    .map(|a| self.attachment_for_response(a))
                    .collect(),
                reactions: reactions.remove(&m.id).unwrap_or_default(),
                message_reference: m.message_reference.clone(),
                referenced_message: None,
                nonce: m.nonce.clone(),
                webhook_id: m.webhook_id,
            };
        let mut out = Vec::with_capacity(messages.len());
        for m in &messages {
            let mut response = build(m, &mut reactions);
            if let Some(r) = &m.message_reference
                && let Some(target) = referenced.get(&r.message_id)
            {
                let mut inner = reactions.clone();
                response.referenced_message = Some(Box::new(build(target, &mut inner)));
            }
            out.push(response);
        }
        Ok(out)
    }

    /// The wire shape of one message.
    pub async fn message_response(
        &self,
        viewer: UserId,
        message: Message,
    ) -> Result<MessageResponse> {
        only(self.message_responses(viewer, vec![message]).await?)
    }

    /// The wire shape of a channel; for private channels `recipients` excludes `viewer`.
    pub async fn channel_response(
        &self,
        viewer: Option<UserId>,
        channel: &Channel,
    ) -> Result<ChannelResponse> {
        if channel.kind.is_guild() {
            return Ok(channel.response(Vec::new()));
        }
        let others: Vec<UserId> = channel
            .recipient_ids
            .iter()
            .copied()
            .filter(|id| Some(*id) != viewer)
            .collect();
        let users = self.user_partials(&others).await?;
        let recipients = others
            .iter()
            .filter_map(|id| users.get(id).cloned())
            .collect();
        Ok(channel.response(recipients))
    }

    /// Tells the user's own sessions that their account changed.
    pub(crate) async fn emit_user_update(&self, user: &User) {
        self.emit(Dispatch::new(
            EventKind::UserUpdate,
            Topic::User(user.id),
            &user.private(),
        ))
        .await;
    }
}

/// The one response of a one-message hydration.
fn only(mut hydrated: Vec<MessageResponse>) -> Result<MessageResponse> {
    hydrated
        .pop()
        .ok_or_else(|| crate::error::Error::Internal("hydration lost a message".into()))
}

/// What a hydration has at hand before it reads anything.
enum Known<'a> {
    Nothing,
    /// A message just created by this user: it has no reactions yet.
    NewBy(&'a User),
    /// A page read with the users its messages name and their reactions.
    Page {
        users: Vec<User>,
        reactions: Vec<(MessageId, ReactionCount)>,
    },
}

fn author_of(m: &Message, users: &HashMap<UserId, UserPartial>) -> UserPartial {
    if let Some(webhook) = m.webhook_id {
        return UserPartial {
            id: UserId(webhook.0),
            username: m
                .webhook_name
                .clone()
                .unwrap_or_else(|| "Webhook".to_owned()),
            discriminator: "0000".to_owned(),
            global_name: None,
            avatar: m.webhook_avatar.clone(),
            avatar_color: None,
            bot: Some(true),
            system: None,
            flags: 0,
        };
    }
    users
        .get(&m.author_id)
        .cloned()
        .unwrap_or_else(|| unknown_user(m.author_id))
}
