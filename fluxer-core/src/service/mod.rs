//! The use-cases. [`Fluxer`] holds the ports and exposes one method per action a user can take
//! (register, create a guild, send a message, ...). Every method checks permissions and invariants,
//! writes through the [`Store`], and publishes the gateway events the action implies on the
//! [`EventBus`]. Hosts (the HTTP API, the gateway, an embedding application) call these methods and never
//! the storage directly.

mod access;
mod account_flows;
mod accounts;
mod admin;
mod admin_archives;
mod admin_bulk;
mod admin_guild_ops;
mod admin_guilds;
mod admin_legal_hold;
mod admin_messages;
mod admin_reports;
mod admin_search;
mod admin_shred;
mod admin_system_dm;
mod applications;
mod audit;
mod auth;
mod backup_codes;
mod bluesky;
mod channels;
mod coalesce;
mod connections;
mod contact_log;
mod discovery;
mod dsa;
mod emails;
mod expressions;
mod gifs;
mod group_dms;
mod guilds;
mod handoff;
mod harvest;
mod hydrate;
mod inbox;
mod instance_stats;
mod invites;
mod ip_authorization;
mod jobs;
mod member_search;
mod members;
mod memes;
mod messages;
mod oauth2;
mod oauth2_grants;
mod pack_expressions;
mod packs;
mod password;
mod presence;
mod profiles;
mod purge;
mod push;
mod read_states;
mod realtime;
mod reindex;
mod reports;
mod roles;
mod scheduled;
mod search;
mod settings;
mod sidebar;
mod sso;
mod themes;
mod tokens;
mod totp;
mod unfurl;
mod uploads;
mod users;
mod voice;
mod voice_calls;
mod webauthn;
mod webhook_formats;
mod webhooks;

use std::sync::Arc;

pub use crate::model::SsoSettings;
pub use access::{Actor, ChannelAccess, GuildAccess, member_channel_permissions};
pub use account_flows::{
    BouncedEmailRequested, EmailChangeRequested, EmailChangeStart, PasswordChangeStart,
};
pub use admin::{
    AdminAction, AdminApiKeyCreate, AdminApiKeyCreated, AdminAuditPage, AdminPrincipal,
    AdminScheduleDeletion, AdminUserLookup, BAN_REFRESH_MS, BulkScheduleUserDeletion,
    ClearableUserField, InstanceConfigUpdate, LIMIT_REFRESH_MS, MAX_ADMIN_API_KEYS,
    MAX_ADMIN_AUDIT_LIMIT, MAX_ADMIN_DM_PAGE, MAX_ADMIN_USER_PAGE, MAX_BAN_LIST, MAX_LIMIT_RULES,
    MAX_POLICY_TEXT, MAX_SNOWFLAKE_RESERVATIONS, MAX_USER_TRAITS, PERMANENT_BAN,
    SUSPICIOUS_ACTIVITY_FLAGS, SnowflakeReservation, ip_banned,
};
pub use admin_archives::{
    ARCHIVE_LINK_SECS, AdminArchive, ArchiveDownload, ArchiveListRequest, ArchiveSubject,
    MAX_ARCHIVE_LIST, require_any_archive_acl,
};
pub use admin_bulk::{
    BulkAddGuildMembers, BulkItemFailure, BulkOutcome, BulkUpdateGuildFeatures, MAX_BULK_ITEMS,
};
pub use admin_guild_ops::{
    AdminAssetPurge, AdminAssetPurgeResult, AdminClearGuildFields, AdminReloadGuilds,
    AssetPurgeError, GuildImageField, MAX_ASSET_PURGE, MAX_RELOAD_GUILDS, PurgedAsset,
};
pub use admin_guilds::{
    AdminChannelSummary, AdminGuildBan, AdminGuildDetail, AdminGuildFeatures, AdminGuildLookup,
    AdminGuildMember, AdminGuildMemberPage, AdminGuildMembers, AdminGuildName, AdminGuildSearch,
    AdminGuildSearchPage, AdminGuildSettings, AdminGuildSummary, AdminGuildTarget,
    AdminGuildTransfer, AdminGuildUpdated, AdminGuildVanity, AdminRoleSummary,
};
pub use admin_legal_hold::LegalHoldRequest;
pub use admin_messages::{
    AdminAttachmentLookup, AdminDeleteAllMessages, AdminDeleteAllResult, AdminMessageDelete,
    AdminMessageLookup, AdminMessageLookupResult,
};
pub use admin_reports::{
    AdminReportView, AttachmentView, ReportListRequest, ReportMessageView, ReportResolve,
    ReportResolved, ReportSearchPage, ReportSearchRequest,
};
pub use admin_search::{SearchIndexKind, SearchRefresh, SearchRefreshStatus};
pub use admin_shred::{AdminMessageShred, MAX_SHRED_ENTRIES, ShredEntry, ShredQueued, ShredStatus};
pub use admin_system_dm::{
    MAX_SYSTEM_DM_CONTENT, MAX_SYSTEM_DM_EXCLUDED_GUILDS, MAX_SYSTEM_DM_PAGE, SystemDmCreate,
    SystemDmJob, SystemDmJobPage, SystemDmStatus,
};
pub use applications::{ApplicationCreate, ApplicationUpdate, BotAuthorize, BotProfileUpdate};
pub use audit::{AuditLogPage, AuditWebhook};
pub use auth::{
    ClientInfo, LoginOutcome, LoginRequest, RegisterRequest, SessionInfo, TotpSetup,
    suggest_username,
};
pub use backup_codes::BackupCode;
pub use channels::{ChannelCreate, ChannelPosition, ChannelUpdate, OverwritePut};
pub use connections::{
    Connection, ConnectionCreate, ConnectionType, ConnectionUpdate, ConnectionVerification,
    MAX_CONNECTIONS,
};
pub use contact_log::{ContactChange, ContactChangeReason, MAX_CHANGE_LOG_PAGE};
pub use discovery::{
    DISCOVERABLE, DISCOVERY_CATEGORIES, DISCOVERY_DESCRIPTION_MAX, DISCOVERY_DESCRIPTION_MIN,
    DiscoveredGuild, DiscoveryApply, DiscoveryEdit, DiscoverySettings, DiscoveryState,
    MAX_DISCOVERY_LIMIT, MAX_DISCOVERY_REVIEW_LIMIT,
};
pub use dsa::{DsaNotice, DsaTarget};
pub use expressions::{
    BulkCreated, BulkFailure, EmojiCreate, EmojiUpdate, StickerCreate, StickerUpdate,
};
pub use gifs::{Gif, GifCategoryPreview, GifFeatured, GifSearchQuery, GifShare};
pub use guilds::{GuildCreate, GuildFeature, GuildUpdate};
pub use handoff::{HandoffStarted, HandoffStatus};
pub use harvest::{Harvest, HarvestStatus};
pub use inbox::{MentionsQuery, SavedMessage};
pub use instance_stats::{InstanceStats, STATS_DAYS};
pub use invites::InviteCreate;
pub use ip_authorization::IpAuthorizationPoll;
pub use jobs::{FOLLOWUP_BATCH, FollowupRun, JobError, Task, cron};
pub use member_search::{MemberSearch, MemberSearchHit, MemberSearchPage};
pub use members::{BanCreate, MemberUpdate};
pub use memes::{FavoriteMeme, MAX_FAVORITE_MEMES, MemeFromMessage, MemeFromUrl, MemeUpdate};
pub use messages::{MessageCreate, MessageEdit, MessageQuery};
pub use oauth2::{
    AuthorizeConsent, ClientCredentials, OAuth2Bearer, OAuth2ErrorCode, OAuth2Failure,
    OAuth2Lifetimes, TokenRequest,
};
pub use packs::{PackCreate, PackInviteCreate, PackUpdate};
pub use password::{Argon2Hasher, PasswordHasher};
pub use presence::{DEFAULT_LARGE_THRESHOLD, LARGE_THRESHOLD_RANGE};
pub use profiles::{MutualGuild, ProfileFields, ProfileQuery, UserProfile};
pub use push::{LARGE_GUILD, MAX_PUSH_SUBSCRIPTIONS, PushKeys, PushSubscribe, PushSubscription};
pub use realtime::{GuildView, MemberList, MembersRequest, SessionStart};
pub use reindex::ReindexProgress;
pub use reports::{
    GUILD_REPORT_CATEGORIES, GuildReport, MESSAGE_REPORT_CATEGORIES, MessageReport,
    USER_REPORT_CATEGORIES, UserReport,
};
pub use roles::{HoistPosition, RoleCreate, RolePosition, RoleUpdate};
pub use scheduled::{
    MAX_SCHEDULED_MESSAGES, ScheduledMessage, ScheduledStatus, resolve_scheduled_at,
};
pub use search::{SearchPage, SearchRequest, SortOrder};
pub use settings::{UserGuildSettingsUpdate, UserSettingsUpdate};
pub use sidebar::{Sidebar, SidebarGroup, SidebarMember, SidebarPresence, SidebarRow};
pub use sso::{SsoCompletion, SsoStart, SsoStatus, SsoUpdate};
pub use themes::{MAX_THEME_CSS_BYTES, ThemeCreated, theme_key};
pub use tokens::{BotToken, SessionToken, hash_token, random_base62};
pub use totp::totp_code;
pub use unfurl::{HOST_FETCHES, HOST_WINDOW, MAX_PREVIEWED_URLS, extract_urls};
pub use uploads::{Upload, image_key, sanitize_filename};
pub use users::{RelationshipRequest, UserUpdate};
pub use voice::{
    RtcRegion, STREAM_PREVIEW_MAX_BYTES, StreamPreview, StreamPreviewUpload, StreamUpdate,
    VOICE_CAMERA_USER_LIMIT, VoiceRegion, VoiceRegionWrite, VoiceRestrictions, VoiceServer,
    VoiceServerUpdate, VoiceServerWrite, VoiceSettings, VoiceStateRequest, participant_identity,
    room_name,
};
pub use voice_calls::{CallEligibility, CallResponse, CallRing, CallUpdate};
pub use webauthn::{MAX_WEBAUTHN_CREDENTIALS, SudoProof};
pub use webhook_formats::WebhookFormat;
pub use webhooks::{WebhookCreate, WebhookExecute, WebhookUpdate};

use crate::id::{Snowflake, SnowflakeGenerator};
use crate::ports::{
    BlobStore, BlueskyOAuth, Cache, Clock, Dispatch, DomainProbe, EventBus, GifProvider, Mailer,
    Media, OidcConnector, Presence, PushSender, Queue, SearchIndex, Store, SystemClock, Unfurler,
    WebAuthnCeremonies,
};
use crate::time::Timestamp;

/// Instance limits. The defaults are upstream's numbers for a self-hosted instance (where everyone gets
/// the premium limit set).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest message content, in characters (sent, edited, or executed through a webhook).
    pub message_content: usize,
    /// Most files attached to one message.
    pub attachments_per_message: usize,
    /// Largest attachment, in bytes.
    pub attachment_bytes: u64,
    /// Most embeds on one message.
    pub embeds_per_message: usize,
    /// Most distinct emoji reacted on one message; reacting with a new emoji past it fails.
    pub reactions_per_message: u32,
    /// Most guilds a user can be a member of; checked when creating and when joining a guild.
    pub guilds_per_user: usize,
    /// Most channels (categories included) in one guild.
    pub channels_per_guild: usize,
    /// Most roles in one guild, @everyone included.
    pub roles_per_guild: usize,
    /// Most pinned messages in one channel.
    pub pins_per_channel: u32,
    /// Most invites one guild can hold (expired and vanity ones count until deleted).
    pub invites_per_guild: usize,
    /// Most webhooks on one channel.
    pub webhooks_per_channel: usize,
    /// Most permission overwrites on one channel.
    pub overwrites_per_channel: usize,
    /// Most relationships (friends, pending requests, blocks) a user can hold; checked when sending
    /// a friend request.
    pub relationships: usize,
    /// Most messages in one bulk delete (which also needs at least 2).
    pub bulk_delete: usize,
    /// Bulk delete only accepts messages younger than this (14 days, as Discord).
    pub bulk_delete_max_age_ms: i64,
    /// Most login sessions a user keeps; a new login past it ends the oldest sessions.
    pub sessions_per_user: usize,
    /// Most static custom emojis in one guild (upstream: 50).
    pub emojis_per_guild: usize,
    /// Most animated custom emojis in one guild, counted apart from static ones (upstream: 50).
    pub animated_emojis_per_guild: usize,
    /// Most stickers in one guild (upstream: 50).
    pub stickers_per_guild: usize,
    /// Largest emoji image, in bytes (upstream: 384 KiB).
    pub emoji_bytes: u64,
    /// Largest sticker image, in bytes (upstream: 512 KiB).
    pub sticker_bytes: u64,
    /// Most packs of one kind (emoji, sticker) a user may make (upstream's premium limit: 50).
    pub packs_created: usize,
    /// Most packs of one kind a user may install (upstream's premium limit: 50).
    pub packs_installed: usize,
    /// Most emojis or stickers in one pack (upstream: 200).
    pub expressions_per_pack: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            message_content: 4000,
            attachments_per_message: 10,
            attachment_bytes: 25 << 20,
            embeds_per_message: 10,
            reactions_per_message: 30,
            guilds_per_user: 200,
            channels_per_guild: 500,
            roles_per_guild: 250,
            pins_per_channel: 250,
            invites_per_guild: 1000,
            webhooks_per_channel: 15,
            overwrites_per_channel: 500,
            relationships: 1000,
            bulk_delete: 100,
            bulk_delete_max_age_ms: 14 * 24 * 3600 * 1000,
            sessions_per_user: 100,
            emojis_per_guild: 50,
            animated_emojis_per_guild: 50,
            stickers_per_guild: 50,
            emoji_bytes: 384 << 10,
            sticker_bytes: 512 << 10,
            packs_created: 50,
            packs_installed: 50,
            expressions_per_pack: 200,
        }
    }
}

/// Instance settings the use-cases need.
#[derive(Debug, Clone)]
pub struct Config {
    /// This process's snowflake worker ID (0..=1023); distinct per process sharing a database.
    pub worker_id: u16,
    /// Per-instance limits on sizes and counts.
    pub limits: Limits,
    /// Where clients open the web app, for links in emails (`https://chat.example.com`).
    pub web_url: String,
    /// Require a verified email before sending messages.
    pub require_verified_email: bool,
    /// Where the API is reachable from outside (`https://chat.example.com/api`), for links to
    /// downloads in emails.
    pub api_url: String,
    /// How long a deletion request waits before the account is erased (upstream: 72 hours).
    pub account_deletion_grace_secs: i64,
    /// Sessions unused for this long end.
    pub session_idle_secs: i64,
    /// How long a request to delete all of one's messages waits before it runs (upstream: a day).
    pub message_deletion_delay_secs: i64,
    /// The key of signed download links (data exports). Keep it secret and the same on every node.
    pub link_secret: Vec<u8>,
    /// Password logins (without two-factor) from an address the account has not used wait for
    /// approval by email, as upstream.
    pub require_ip_authorization: bool,
    /// How long OAuth2 codes and tokens live.
    pub oauth2: OAuth2Lifetimes,
    /// Single sign-on through an OpenID provider (which the `sso` port speaks to).
    pub sso: SsoSettings,
    /// The instance config until staff change it through the admin API (then the stored one
    /// wins): registration mode, manual review, name, description, policy texts, home page.
    pub instance: crate::model::InstanceConfig,
    /// Whether guilds may apply to discovery, and how many members they need.
    pub discovery: DiscoverySettings,
    /// Voice and video on LiveKit (`integrations.voice`); `None`: off.
    pub voice: Option<VoiceSettings>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            worker_id: 0,
            limits: Limits::default(),
            web_url: "http://127.0.0.1:8080".to_owned(),
            require_verified_email: false,
            api_url: "http://127.0.0.1:8080/api".to_owned(),
            account_deletion_grace_secs: 72 * 3600,
            session_idle_secs: 90 * 24 * 3600,
            message_deletion_delay_secs: 24 * 3600,
            link_secret: Vec::new(),
            require_ip_authorization: false,
            oauth2: OAuth2Lifetimes::default(),
            sso: SsoSettings::default(),
            instance: crate::model::InstanceConfig::default(),
            discovery: DiscoverySettings::default(),
            voice: None,
        }
    }
}

/// The ports the services run on.
#[derive(Clone)]
pub struct Ports {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Where gateway events are published.
    pub events: Arc<dyn EventBus>,
    /// Sends the instance's emails (verification, password reset, ...).
    pub mailer: Arc<dyn Mailer>,
    /// Short-lived shared state: slowmode windows (and, in the API, rate limits).
    pub cache: Arc<dyn Cache>,
    /// The time source; tests use a fixed clock.
    pub clock: Arc<dyn Clock>,
    /// Hashes and verifies passwords.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Background jobs (email, indexing, exports). Without a queue they run inline, in the request.
    pub queue: Option<Arc<dyn Queue>>,
    /// Message search. Without an index, search answers `SEARCH_UNAVAILABLE`.
    pub search: Option<Arc<dyn SearchIndex>>,
    /// Object storage for data exports (and, through the API, attachments and avatars).
    pub blobs: Option<Arc<dyn BlobStore>>,
    /// Upload sniffing and public media URLs. Uploads need both `blobs` and `media`.
    pub media: Option<Arc<dyn Media>>,
    /// Who is online (the gateway writes it): presences in READY, guild online counts, member
    /// lists. Without it everyone reads as offline.
    pub presence: Option<Arc<dyn Presence>>,
    /// Link previews for URLs in messages, fetched by the worker. Without it (or without a
    /// queue), messages get no previews.
    pub unfurler: Option<Arc<dyn Unfurler>>,
    /// The GIF search services the instance has keys for (at most one of each kind); the routes of
    /// a kind without one answer `MISSING_ACCESS`, as upstream's do without an API key.
    pub gif_providers: Vec<Arc<dyn GifProvider>>,
    /// Reads what domains publish, to verify `domain` connections. Without it no domain can be
    /// verified.
    pub domain_probe: Option<Arc<dyn DomainProbe>>,
    /// Links Bluesky accounts (atproto OAuth). Without it the `bsky` routes answer
    /// `BLUESKY_OAUTH_NOT_ENABLED`.
    pub bluesky: Option<Arc<dyn BlueskyOAuth>>,
    /// Sends Web Push notifications to users who are away. Without it none are sent (subscriptions
    /// are still kept) and `/.well-known/fluxer` offers no VAPID key.
    pub push: Option<Arc<dyn PushSender>>,
    /// Connects to the OpenID provider people sign in with (single sign-on), whichever the
    /// settings in effect name. Without it the SSO routes answer `FEATURE_TEMPORARILY_DISABLED`.
    pub sso: Option<Arc<dyn OidcConnector>>,
    /// Passkeys and security keys (WebAuthn ceremonies for the instance's relying party). Without
    /// it the WebAuthn routes answer `WEBAUTHN_UNAVAILABLE`.
    pub webauthn: Option<Arc<dyn WebAuthnCeremonies>>,
    /// The LiveKit deployment voice channels and calls run on. Without it (or without
    /// `Config::voice`) voice is off: op 4 joins are refused and `/.well-known/fluxer` says so.
    pub voice: Option<Arc<dyn crate::ports::VoiceBackend>>,
    /// Where voice connections are kept. `None`: in this process, which is right for one node;
    /// nodes that share gateway sessions and webhooks share one (Redis) so that a join on one
    /// node is confirmed, listed and moderated from any other.
    pub voice_states: Option<Arc<dyn crate::ports::VoiceStates>>,
}

impl Ports {
    /// Ports with the system clock and argon2 hashing run inline.
    pub fn new(
        store: Arc<dyn Store>,
        events: Arc<dyn EventBus>,
        mailer: Arc<dyn Mailer>,
        cache: Arc<dyn Cache>,
    ) -> Self {
        Ports {
            store,
            events,
            mailer,
            cache,
            clock: Arc::new(SystemClock),
            hasher: Arc::new(Argon2Hasher::default()),
            queue: None,
            search: None,
            blobs: None,
            media: None,
            presence: None,
            unfurler: None,
            gif_providers: Vec::new(),
            domain_probe: None,
            bluesky: None,
            push: None,
            sso: None,
            webauthn: None,
            voice: None,
            voice_states: None,
        }
    }

    /// Sends Web Push notifications through `sender`.
    pub fn with_push(mut self, sender: Arc<dyn PushSender>) -> Self {
        self.push = Some(sender);
        self
    }

    /// Reads who is online from `presence` (the gateway's).
    pub fn with_presence(mut self, presence: Arc<dyn Presence>) -> Self {
        self.presence = Some(presence);
        self
    }

    /// Previews links in messages with `unfurler` (which needs a queue too: the worker fetches).
    pub fn with_unfurler(mut self, unfurler: Arc<dyn Unfurler>) -> Self {
        self.unfurler = Some(unfurler);
        self
    }

    /// Serves GIF search from `provider` (replacing any of the same kind).
    pub fn with_gif_provider(mut self, provider: Arc<dyn GifProvider>) -> Self {
        self.gif_providers.retain(|p| p.kind() != provider.kind());
        self.gif_providers.push(provider);
        self
    }

    /// Links Bluesky accounts through `oauth`.
    pub fn with_bluesky(mut self, oauth: Arc<dyn BlueskyOAuth>) -> Self {
        self.bluesky = Some(oauth);
        self
    }

    /// Signs people in through the providers `connector` reaches (single sign-on, when the
    /// settings in effect enable it).
    pub fn with_sso(mut self, connector: Arc<dyn OidcConnector>) -> Self {
        self.sso = Some(connector);
        self
    }

    /// Verifies domain connections with `probe`.
    pub fn with_domain_probe(mut self, probe: Arc<dyn DomainProbe>) -> Self {
        self.domain_probe = Some(probe);
        self
    }

    /// Runs background work through `queue`. A worker must consume it, and must also drain new
    /// messages' follow-ups from the store's outbox ([`Fluxer::run_followups`], clearing the
    /// indexed ones after the search commit with [`Fluxer::clear_followups`]): `fluxer::worker`
    /// does both.
    pub fn with_queue(mut self, queue: Arc<dyn Queue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Indexes messages into `search` and enables the search endpoints.
    pub fn with_search(mut self, search: Arc<dyn SearchIndex>) -> Self {
        self.search = Some(search);
        self
    }

    /// Stores exports (and uploads) in `blobs`.
    pub fn with_blobs(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// Accepts uploads (attachments, avatars, icons) into `blobs`, sniffed and linked by `media`.
    pub fn with_media(mut self, blobs: Arc<dyn BlobStore>, media: Arc<dyn Media>) -> Self {
        self.blobs = Some(blobs);
        self.media = Some(media);
        self
    }
}

struct Inner {
    ports: Ports,
    config: Config,
    ids: SnowflakeGenerator,
    /// Messages to index or push, gathered into one job of each kind per flush.
    followups: coalesce::Coalescer<jobs::Followup>,
    /// Woken when a new message is stored with follow-ups in the store's outbox.
    followups_stored: tokio::sync::Notify,
    /// Large guilds' online counts, reused for a few seconds.
    online_counts: presence::OnlineCounts,
    /// Instance-wide bans, read from memory on every request.
    instance_bans: admin::BanCache,
    /// The limits in effect (the built-in ones with the stored limit config applied).
    limits: admin::LimitCache,
    /// Voice regions and connections.
    voice: voice::VoiceRuntime,
    /// The OpenID client of the single sign-on settings last used, reused while they hold.
    sso_client: sso::SsoClient,
}

/// The use-cases over a set of ports. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Fluxer {
    inner: Arc<Inner>,
}

impl Fluxer {
    /// The use-cases over `ports`, configured by `config`.
    pub fn new(ports: Ports, config: Config) -> Self {
        let ids = SnowflakeGenerator::new(config.worker_id);
        let voice = voice::VoiceRuntime::new(config.voice.as_ref(), ports.voice_states.clone());
        Fluxer {
            inner: Arc::new(Inner {
                voice,
                ports,
                config,
                ids,
                followups: coalesce::Coalescer::default(),
                followups_stored: tokio::sync::Notify::new(),
                online_counts: Default::default(),
                instance_bans: Default::default(),
                limits: Default::default(),
                sso_client: Default::default(),
            }),
        }
    }

    pub(crate) fn ports(&self) -> &Ports {
        &self.inner.ports
    }

    /// The settings this instance was built with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.inner.ports.store.as_ref()
    }

    /// The current time, from the clock port.
    pub fn now(&self) -> Timestamp {
        self.inner.ports.clock.now()
    }

    /// A fresh snowflake.
    pub fn next_id<T: From<Snowflake>>(&self) -> T {
        T::from(self.inner.ids.next_at(self.now()))
    }

    /// Publishes an event. The write it describes already happened, so a bus failure is logged by the
    /// caller's tracing setup and otherwise ignored: clients resync on reconnect.
    pub(crate) async fn emit(&self, dispatch: Dispatch) {
        // Voice follows what the guild's events say changed (members, roles, overwrites).
        let voice = self.voice_follows(&dispatch);
        if let Err(_e) = self.inner.ports.events.publish(dispatch).await {
            // Dropped on purpose: see the doc comment. The bus adapter logs its own failures.
        }
        if let Some(change) = voice {
            self.voice_apply(change).await;
        }
    }
}
