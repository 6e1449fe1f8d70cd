use serde::{Deserialize, Serialize};

use crate::id::{ApplicationId, ChannelId, GuildId, UserId, WebhookId};

use super::user::UserPartial;

/// An application; when it has a bot, the bot user's ID equals the application's ID (as upstream).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    /// Snowflake ID; the `client_id` when authorizing its bot into a guild.
    pub id: ApplicationId,
    /// Display name, 1-100 characters (trimmed); also seeds its bot user's username and
    /// display name.
    pub name: String,
    /// Free text, up to 400 characters; empty when none was given.
    pub description: String,
    /// The user who created it; only they can list, edit or delete it.
    pub owner_id: UserId,
    /// The bot user (same ID as the application); `None` when created without a bot.
    pub bot_user_id: Option<UserId>,
    /// SHA-256 of the bot token's secret part.
    pub bot_token_hash: Option<[u8; 32]>,
    /// Whether anyone managing a guild may add the bot; when false, only the owner may.
    pub bot_public: bool,
    /// Upstream's "require OAuth2 code grant" setting: a consent for the `bot` scope alone then
    /// needs a redirect URI too (as upstream; the Discord-style `POST /oauth2/authorize` ignores it).
    pub bot_require_code_grant: bool,
    /// OAuth2 redirect URIs, at most 10.
    pub redirect_uris: Vec<String>,
    /// SHA-256 of the OAuth2 client secret (shown once, at creation or reset). `None` only for
    /// applications stored before client secrets existed: they cannot authenticate as OAuth2
    /// clients until the owner resets the secret.
    #[serde(default)]
    pub client_secret_hash: Option<[u8; 32]>,
}

/// `ApplicationResponse`. `bot.token` is only present right after creation or a reset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationResponse {
    /// Snowflake ID.
    pub id: ApplicationId,
    /// Display name, 1-100 characters.
    pub name: String,
    /// Description; an empty string when none was given.
    pub description: String,
    /// The user who owns it.
    pub owner: UserPartial,
    /// Whether users other than the owner may add the bot to their guilds.
    pub bot_public: bool,
    /// Upstream's code-grant setting: a bot-only consent then needs a redirect URI.
    pub bot_require_code_grant: bool,
    /// OAuth2 redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The OAuth2 client secret, only right after creation or a reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The bot user's `UserPartialResponse` fields, plus `token` when one was just issued;
    /// absent when the application has no bot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<serde_json::Value>,
}

/// A webhook, as stored. The token is kept hashed; it is shown once at creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    /// Snowflake ID; its messages carry it as `webhook_id` and as their author's ID.
    pub id: WebhookId,
    /// The guild of `channel_id`: webhooks exist only in guild text channels.
    pub guild_id: GuildId,
    /// The text channel it posts to; it can be moved within the same guild.
    pub channel_id: ChannelId,
    /// The member who created it; served as `user`.
    pub creator_id: UserId,
    /// Default author name of its messages: 1-80 characters, and may not contain `clyde`
    /// or `fluxer` in any case.
    pub name: String,
    /// Default author avatar of its messages, kept as given (not processed as an upload).
    pub avatar: Option<String>,
    /// The execute token. Webhook tokens are bearer secrets like bot tokens; stored as given so
    /// `GET /webhooks/{id}` can return it to members with MANAGE_WEBHOOKS, as upstream does.
    pub token: String,
}

/// `WebhookResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookResponse {
    /// Snowflake ID.
    pub id: WebhookId,
    /// 1 = incoming.
    #[serde(rename = "type")]
    pub kind: u8,
    /// The guild it belongs to.
    pub guild_id: GuildId,
    /// The text channel it posts to.
    pub channel_id: ChannelId,
    /// Default author name of its messages.
    pub name: String,
    /// Default author avatar of its messages; `null` when unset.
    pub avatar: Option<String>,
    /// The execute token: present for callers with MANAGE_WEBHOOKS, absent when the webhook
    /// is read or edited through its own token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The member who created it; absent when the webhook is read through its token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserPartial>,
}
