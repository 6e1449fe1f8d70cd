//! Users: profiles, DMs and relationships (friends, requests, blocks).

use serde::{Deserialize, Deserializer};
use serde_json::json;

use crate::error::{Error, Limit, Result, Unknown};
use crate::id::{ChannelId, UserId};
use crate::model::{
    Channel, ChannelResponse, ChannelType, OAuth2Scope, Relationship, RelationshipType, User,
    UserPartial, UserPrivate,
};
use crate::ports::{Dispatch, EventKind, Topic};
use crate::validation::{Validator, is_valid_email, is_valid_username};

use super::{Actor, ContactChangeReason, Fluxer, SudoProof};

/// Deserializes a field that distinguishes "absent" (`None`) from `null` (`Some(None)`).
pub(crate) fn nullable<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /users/@me`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserUpdate {
    /// 1 to 32 of letters, digits, `_` and `.`. The discriminator is kept when the new tag is free,
    /// otherwise a free one is picked.
    pub username: Option<String>,
    /// Display name, 1 to 32 characters; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    pub global_name: Option<Option<String>>,
    /// New email (trimmed and lowercased). A change needs `password`, marks the email unverified
    /// and sends a verification email; `EMAIL_ALREADY_REGISTERED` when taken.
    pub email: Option<String>,
    /// New password, 8 to 256 characters; needs `password`. Ends every other session of the user,
    /// on the gateway too.
    pub new_password: Option<String>,
    /// The current password, required to change email or password.
    pub password: Option<String>,
    /// Applies an email change proven with codes (`/users/@me/email-change/*`): the new address,
    /// verified. Needs "sudo mode": `password`, or `mfa_code` with two-factor authentication on
    /// (403 `SUDO_MODE_REQUIRED` with `has_mfa` otherwise).
    pub email_token: Option<String>,
    /// `totp` or `webauthn`: the second factor offered for sudo mode.
    pub mfa_method: Option<String>,
    /// A current TOTP or backup code, for sudo mode with two-factor authentication.
    pub mfa_code: Option<String>,
    /// A WebAuthn assertion (`AuthenticationResponseJSON`), for sudo mode with a passkey.
    pub webauthn_response: Option<serde_json::Value>,
    /// The challenge of the options `webauthn_response` answers.
    pub webauthn_challenge: Option<String>,
    /// Up to 320 characters; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    pub bio: Option<Option<String>>,
    /// Up to 40 characters; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    pub pronouns: Option<Option<String>>,
    /// Profile color as `0xRRGGBB` (0 to 16777215); `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    pub accent_color: Option<Option<u32>>,
    /// A data URI (`data:image/png;base64,...`) to set, `null` to remove.
    #[serde(default, deserialize_with = "nullable")]
    pub avatar: Option<Option<String>>,
    /// A data URI to set (PNG, JPEG, GIF or WebP, at most 10 MiB), `null` to remove.
    #[serde(default, deserialize_with = "nullable")]
    pub banner: Option<Option<String>>,
}

/// `POST /users/@me/relationships` (by tag) or `PUT .../{id}` (with a type).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RelationshipRequest {
    /// The target's username, for a request by tag (`POST /users/@me/relationships`).
    pub username: Option<String>,
    /// The target's discriminator, as a string (`"0042"`) or a number; required for a request by
    /// tag.
    pub discriminator: Option<serde_json::Value>,
    /// For `PUT /users/@me/relationships/{id}` (`type` on the wire): 1 sends or accepts a friend
    /// request (also the default), 2 blocks. Other values fail with `INVALID_RELATIONSHIP_TYPE`.
    /// Ignored by the by-tag request.
    #[serde(rename = "type")]
    pub kind: Option<u8>,
}

impl Fluxer {
    /// The caller's own account, private fields included (`GET /users/@me`). Through an OAuth2
    /// token it needs the `identify` scope, and the email is `null` without `email`.
    pub fn me(&self, actor: &Actor) -> Result<UserPrivate> {
        actor.require_scope(OAuth2Scope::Identify)?;
        let mut me = actor.user.private();
        if !actor.allows(OAuth2Scope::Email) {
            // Nothing about the address either.
            me.email = None;
            me.verified = false;
            me.email_bounced = false;
        }
        Ok(me)
    }

    /// Edits the caller's account and profile (`PATCH /users/@me`); only the fields given change.
    /// Publishes `USER_UPDATE`; replaced images are deleted later.
    pub async fn update_me(&self, actor: &Actor, req: UserUpdate) -> Result<UserPrivate> {
        let mut v = Validator::new();
        if let Some(u) = &req.username
            && !is_valid_username(u)
        {
            v.error(
                "username",
                "USERNAME_INVALID_CHARACTERS",
                "Usernames may use letters, numbers, _ and . (1-32).",
            );
        }
        if let Some(Some(g)) = &req.global_name {
            v.length("global_name", g, 1, 32);
        }
        if let Some(e) = &req.email
            && !is_valid_email(e.trim())
        {
            v.error(
                "email",
                "EMAIL_TYPE_INVALID_EMAIL",
                "Not a well formed email address.",
            );
        }
        if let Some(p) = &req.new_password {
            v.length("new_password", p, 8, 256);
        }
        if let Some(Some(b)) = &req.bio {
            v.length("bio", b, 0, 320);
        }
        if let Some(Some(p)) = &req.pronouns {
            v.length("pronouns", p, 0, 40);
        }
        if let Some(Some(c)) = req.accent_color {
            v.range("accent_color", i64::from(c), 0, 0xFF_FFFF);
        }
        v.finish()?;
        let mut user = actor.user.clone();
        let mut old_email = None;
        if let Some(token) = &req.email_token {
            let proof = SudoProof {
                password: req.password.clone(),
                mfa_method: req.mfa_method.clone(),
                mfa_code: req.mfa_code.clone(),
                webauthn_response: req.webauthn_response.clone(),
                webauthn_challenge: req.webauthn_challenge.clone(),
            };
            self.require_sudo_proof(actor, &proof).await?;
            let new_email = self.take_email_token(user.id, token).await?;
            old_email = user.email.replace(new_email.to_lowercase());
            user.email_verified = true;
            user.email_bounced = false;
        }
        let email = req.email.map(|e| e.trim().to_lowercase());
        let changes_email = email
            .as_ref()
            .is_some_and(|e| user.email.as_ref() != Some(e));
        if changes_email || req.new_password.is_some() {
            self.require_password(actor, req.password.as_deref())
                .await?;
        }
        if let Some(u) = req.username
            && u != user.username
        {
            user.username = u;
            user = self.retag(user).await?;
        }
        if let Some(g) = req.global_name {
            user.global_name = g;
        }
        if changes_email {
            user.email = email;
            user.email_verified = false;
            user.email_bounced = false;
        }
        let changes_password = req.new_password.is_some();
        if let Some(p) = req.new_password {
            user.password_hash = Some(self.ports().hasher.hash(&p).await?);
            user.password_changed_at = Some(self.now());
        }
        if let Some(b) = req.bio {
            user.bio = b;
        }
        if let Some(p) = req.pronouns {
            user.pronouns = p;
        }
        if let Some(c) = req.accent_color {
            user.accent_color = c;
        }
        let mut replaced = Vec::new();
        if let Some(avatar) = req.avatar {
            let new = match avatar {
                Some(uri) => Some(self.store_image("avatar", "avatars", user.id, &uri).await?),
                None => None,
            };
            if let Some(old) = user.avatar.take().filter(|o| Some(o) != new.as_ref()) {
                replaced.push(super::image_key("avatars", user.id, &old));
            }
            user.avatar = new;
        }
        if let Some(banner) = req.banner {
            let new = match banner {
                Some(uri) => Some(self.store_image("banner", "banners", user.id, &uri).await?),
                None => None,
            };
            if let Some(old) = user.banner.take().filter(|o| Some(o) != new.as_ref()) {
                replaced.push(super::image_key("banners", user.id, &old));
            }
            user.banner = new;
        }
        match self.store().update_user(&user).await {
            Ok(()) => {}
            Err(e) if crate::ports::is_conflict(&e, crate::ports::conflict::USER_EMAIL) => {
                return Err(Error::field(
                    "email",
                    "EMAIL_ALREADY_REGISTERED",
                    "Email is already registered.",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.record_contact_changes(
            &actor.user,
            &user,
            ContactChangeReason::UserRequested,
            Some(actor.id()),
        )
        .await?;
        if changes_password {
            // As upstream: a new password ends every other session, here and on the gateway.
            self.end_sessions(user.id, actor.session.as_ref()).await?;
        }
        self.emit_user_update(&user).await;
        self.index_user_later(user.id).await;
        self.delete_blobs_later(replaced).await;
        if changes_email {
            self.send_verification_email(&user, true).await?;
        }
        if let (Some(old), Some(new)) = (&old_email, &user.email)
            && !old.eq_ignore_ascii_case(new)
        {
            self.send_email_revert(&user, old, new).await;
        }
        Ok(user.private())
    }

    /// Keeps the discriminator if the new username allows it, otherwise picks a free one.
    pub(crate) async fn retag(&self, mut user: User) -> Result<User> {
        match self
            .store()
            .find_user_by_tag(&user.username, user.discriminator)
            .await?
        {
            None => Ok(user),
            Some(other) if other.id == user.id => Ok(user),
            Some(_) => {
                for _ in 0..32 {
                    let d = (super::tokens::random_base62(3)
                        .bytes()
                        .map(u32::from)
                        .sum::<u32>()
                        * 37
                        % 9999
                        + 1) as u16;
                    if self
                        .store()
                        .find_user_by_tag(&user.username, d)
                        .await?
                        .is_none()
                    {
                        user.discriminator = d;
                        return Ok(user);
                    }
                }
                Err(Error::field(
                    "username",
                    "USERNAME_TOO_MANY_USERS",
                    "Too many users have this username.",
                ))
            }
        }
    }

    /// Any user's public profile (`GET /users/{id}`); `UNKNOWN_USER` when it does not exist or was
    /// deleted.
    pub async fn get_user(&self, _actor: &Actor, id: UserId) -> Result<UserPartial> {
        self.store()
            .get_user(id)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .map(|u| u.partial())
            .ok_or(Error::Unknown(Unknown::User))
    }

    /// Opens (or returns) the DM with one user, or creates a group DM.
    pub async fn create_private_channel(
        &self,
        actor: &Actor,
        recipient: Option<UserId>,
        recipients: Option<Vec<UserId>>,
    ) -> Result<ChannelResponse> {
        if let Some(target) = recipient {
            if target == actor.id() {
                return Err(Error::field(
                    "recipient_id",
                    "CANNOT_DM_SELF",
                    "You cannot message yourself.",
                ));
            }
            if self.store().get_user(target).await?.is_none() {
                return Err(Error::Unknown(Unknown::User));
            }
            if let Some(existing) = self.store().find_dm_channel(actor.id(), target).await? {
                return self.channel_response(Some(actor.id()), &existing).await;
            }
            let channel = private_channel(
                self.next_id(),
                ChannelType::Dm,
                vec![actor.id(), target],
                None,
            );
            self.store().create_channel(&channel).await?;
            let response = self.channel_response(Some(actor.id()), &channel).await?;
            self.emit(Dispatch::new(
                EventKind::ChannelCreate,
                Topic::User(actor.id()),
                &response,
            ))
            .await;
            return Ok(response);
        }
        let mut ids = recipients.unwrap_or_default();
        ids.retain(|id| *id != actor.id());
        ids.sort_unstable();
        ids.dedup();
        let mut v = Validator::new();
        v.check(
            !ids.is_empty(),
            "recipients",
            "BASE_TYPE_REQUIRED",
            "Name at least one recipient.",
        );
        v.count(
            "recipients",
            ids.len(),
            super::group_dms::MAX_GROUP_DM_RECIPIENTS - 1,
        );
        v.finish()?;
        let found = self.store().get_users(&ids).await?;
        if found.len() != ids.len() {
            return Err(Error::Unknown(Unknown::User));
        }
        // Group DMs only with friends.
        for id in &ids {
            let rel = self.store().get_relationship(actor.id(), *id).await?;
            if rel.is_none_or(|r| r.kind != RelationshipType::Friend) {
                return Err(Error::rejected(
                    "NOT_FRIENDS_WITH_USER",
                    "You can only add friends to a group DM.",
                ));
            }
        }
        let mut members = vec![actor.id()];
        members.extend(ids);
        let channel = private_channel(
            self.next_id(),
            ChannelType::GroupDm,
            members,
            Some(actor.id()),
        );
        self.store().create_channel(&channel).await?;
        for user in &channel.recipient_ids {
            let response = self.channel_response(Some(*user), &channel).await?;
            self.emit(Dispatch::new(
                EventKind::ChannelCreate,
                Topic::User(*user),
                &response,
            ))
            .await;
        }
        self.channel_response(Some(actor.id()), &channel).await
    }

    /// The caller's DMs and group DMs (`GET /users/@me/channels`).
    pub async fn list_private_channels(&self, actor: &Actor) -> Result<Vec<ChannelResponse>> {
        let channels = self.store().list_private_channels(actor.id()).await?;
        let mut out = Vec::with_capacity(channels.len());
        for c in &channels {
            out.push(self.channel_response(Some(actor.id()), c).await?);
        }
        Ok(out)
    }

    /// The caller's friends, pending requests and blocks (`GET /users/@me/relationships`), each as
    /// `{ id, type, user, nickname, since }`.
    pub async fn list_relationships(&self, actor: &Actor) -> Result<Vec<serde_json::Value>> {
        let rels = self.store().list_relationships(actor.id()).await?;
        let ids: Vec<UserId> = rels.iter().map(|r| r.target_id).collect();
        let users = self.user_partials(&ids).await?;
        Ok(rels
            .iter()
            .map(|r| relationship_json(r, users.get(&r.target_id)))
            .collect())
    }

    /// Sends a friend request by `username` + `discriminator`.
    pub async fn send_friend_request_by_tag(
        &self,
        actor: &Actor,
        req: RelationshipRequest,
    ) -> Result<()> {
        let username = req.username.unwrap_or_default();
        let discriminator = match &req.discriminator {
            Some(serde_json::Value::String(s)) => s.parse::<u16>().ok(),
            Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            _ => None,
        };
        let Some(discriminator) = discriminator else {
            return Err(Error::field(
                "discriminator",
                "BASE_TYPE_REQUIRED",
                "A discriminator is required.",
            ));
        };
        let target = self
            .store()
            .find_user_by_tag(&username, discriminator)
            .await?
            .ok_or(Error::Unknown(Unknown::User))?;
        self.put_relationship(actor, target.id, None).await
    }

    /// `PUT /users/@me/relationships/{id}`: sends or accepts a friend request, or blocks (`type` 2).
    pub async fn put_relationship(
        &self,
        actor: &Actor,
        target: UserId,
        kind: Option<u8>,
    ) -> Result<()> {
        if target == actor.id() {
            return Err(Error::rejected(
                "CANNOT_SEND_FRIEND_REQUEST_TO_SELF",
                "You cannot befriend yourself.",
            ));
        }
        let target_user = self
            .store()
            .get_user(target)
            .await?
            .ok_or(Error::Unknown(Unknown::User))?;
        let now = self.now();
        let mine = self.store().get_relationship(actor.id(), target).await?;
        let theirs = self.store().get_relationship(target, actor.id()).await?;
        if kind == Some(2) {
            self.set_relationship(actor.id(), target, RelationshipType::Blocked, now)
                .await?;
            if theirs.is_some_and(|r| r.kind != RelationshipType::Blocked) {
                self.drop_relationship(target, actor.id()).await?;
            }
            return Ok(());
        }
        if let Some(k) = kind
            && k != 1
        {
            return Err(Error::field(
                "type",
                "INVALID_RELATIONSHIP_TYPE",
                "Only 1 (friend) or 2 (block) can be set.",
            ));
        }
        if target_user.bot {
            return Err(Error::rejected(
                "FRIEND_REQUEST_BLOCKED",
                "Bots cannot be friends.",
            ));
        }
        if theirs
            .as_ref()
            .is_some_and(|r| r.kind == RelationshipType::Blocked)
        {
            return Err(Error::rejected(
                "FRIEND_REQUEST_BLOCKED",
                "This user is not accepting friend requests from you.",
            ));
        }
        match mine.as_ref().map(|r| r.kind) {
            Some(RelationshipType::Friend | RelationshipType::Outgoing) => return Ok(()),
            Some(RelationshipType::Incoming) => {
                self.set_relationship(actor.id(), target, RelationshipType::Friend, now)
                    .await?;
                self.set_relationship(target, actor.id(), RelationshipType::Friend, now)
                    .await?;
                // New friends see each other's presence at once.
                self.exchange_presences(actor.id(), target).await?;
            }
            Some(RelationshipType::Blocked) | None => {
                let count = self.store().list_relationships(actor.id()).await?.len();
                if count >= self.limits().await?.relationships {
                    return Err(Error::LimitReached {
                        limit: Limit::Friends,
                        max: self.limits().await?.relationships as u64,
                    });
                }
                self.set_relationship(actor.id(), target, RelationshipType::Outgoing, now)
                    .await?;
                self.set_relationship(target, actor.id(), RelationshipType::Incoming, now)
                    .await?;
            }
        }
        Ok(())
    }

    /// Removes a friend, cancels or declines a request, or unblocks.
    pub async fn delete_relationship(&self, actor: &Actor, target: UserId) -> Result<()> {
        let mine = self
            .store()
            .get_relationship(actor.id(), target)
            .await?
            .ok_or(Error::Unknown(Unknown::Relationship))?;
        self.drop_relationship(actor.id(), target).await?;
        if mine.kind != RelationshipType::Blocked
            && let Some(theirs) = self.store().get_relationship(target, actor.id()).await?
            && theirs.kind != RelationshipType::Blocked
        {
            self.drop_relationship(target, actor.id()).await?;
        }
        Ok(())
    }

    async fn set_relationship(
        &self,
        user: UserId,
        target: UserId,
        kind: RelationshipType,
        now: crate::time::Timestamp,
    ) -> Result<()> {
        let rel = Relationship {
            user_id: user,
            target_id: target,
            kind,
            nickname: None,
            since: now,
        };
        self.store().put_relationship(&rel).await?;
        let users = self.user_partials(&[target]).await?;
        self.emit(Dispatch::new(
            EventKind::RelationshipAdd,
            Topic::User(user),
            &relationship_json(&rel, users.get(&target)),
        ))
        .await;
        Ok(())
    }

    /// Sends each of two users the other's presence (`PRESENCE_UPDATE`, no guild).
    async fn exchange_presences(&self, a: UserId, b: UserId) -> Result<()> {
        let users = self.user_partials(&[a, b]).await?;
        let presences = self.presences(&[a, b]).await?;
        for (to, p) in [(b, &presences[0]), (a, &presences[1])] {
            let Some(user) = users.get(&p.user_id) else {
                continue;
            };
            let mut payload = serde_json::to_value(crate::model::PresenceResponse::of(p, None))
                .unwrap_or_default();
            payload["user"] = serde_json::to_value(user).unwrap_or_default();
            self.emit(
                Dispatch::new(EventKind::PresenceUpdate, Topic::User(to), &payload)
                    .about_user(p.user_id),
            )
            .await;
        }
        Ok(())
    }

    async fn drop_relationship(&self, user: UserId, target: UserId) -> Result<()> {
        if self.store().delete_relationship(user, target).await? {
            self.emit(Dispatch::new(
                EventKind::RelationshipRemove,
                Topic::User(user),
                &json!({ "id": target }),
            ))
            .await;
        }
        Ok(())
    }
}

pub(crate) fn relationship_json(r: &Relationship, user: Option<&UserPartial>) -> serde_json::Value {
    json!({
        "id": r.target_id,
        "type": r.kind,
        "user": user,
        "nickname": r.nickname,
        "since": r.since,
    })
}

fn private_channel(
    id: ChannelId,
    kind: ChannelType,
    recipients: Vec<UserId>,
    owner: Option<UserId>,
) -> Channel {
    Channel {
        id,
        kind,
        guild_id: None,
        name: None,
        topic: None,
        icon: None,
        url: None,
        parent_id: None,
        position: 0,
        nsfw: false,
        rate_limit_per_user: 0,
        bitrate: None,
        user_limit: None,
        rtc_region: None,
        owner_id: owner,
        recipient_ids: recipients,
        permission_overwrites: Vec::new(),
        last_message_id: None,
        last_pin_timestamp: None,
        nicks: Default::default(),
    }
}
