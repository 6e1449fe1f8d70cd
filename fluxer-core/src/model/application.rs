use serde::{Deserialize, Serialize};

use crate::id::{ApplicationId, ChannelId, GuildId, UserId, WebhookId};

use super::user::UserPartial;

/// An application; when it has a bot, the bot user's ID equals the application's ID (as upstream).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub id: ApplicationId,
    pub name: String,
    pub description: String,
    pub owner_id: UserId,
    pub bot_user_id: Option<UserId>,
    /// SHA-256 of the bot token's secret part.
    pub bot_token_hash: Option<[u8; 32]>,
    pub bot_public: bool,
    pub bot_require_code_grant: bool,
    pub redirect_uris: Vec<String>,
}

/// `ApplicationResponse`. `bot.token` is only present right after creation or a reset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationResponse {
    pub id: ApplicationId,
    pub name: String,
    pub description: String,
    pub owner: UserPartial,
    pub bot_public: bool,
    pub bot_require_code_grant: bool,
    pub redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<serde_json::Value>,
}

/// A webhook, as stored. The token is kept hashed; it is shown once at creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: WebhookId,
    pub guild_id: GuildId,
    pub channel_id: ChannelId,
    pub creator_id: UserId,
    pub name: String,
    pub avatar: Option<String>,
    /// The execute token. Webhook tokens are bearer secrets like bot tokens; stored as given so
    /// `GET /webhooks/{id}` can return it to members with MANAGE_WEBHOOKS, as upstream does.
    pub token: String,
}

/// `WebhookResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookResponse {
    pub id: WebhookId,
    /// 1 = incoming.
    #[serde(rename = "type")]
    pub kind: u8,
    pub guild_id: GuildId,
    pub channel_id: ChannelId,
    pub name: String,
    pub avatar: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserPartial>,
}
