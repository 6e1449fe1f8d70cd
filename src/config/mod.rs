//! The server configuration file: JSON, upstream Fluxer's key names where they exist, every key
//! optional, unknown keys rejected with their full path. Environment variables override the file:
//! `FLUXER_CONFIG__SERVICES__SERVER__PORT=9000` sets `services.server.port` (values parse as JSON when
//! they can, as strings otherwise).

use std::path::{Path, PathBuf};

use serde::Deserialize;

mod backends;
mod sso;
mod telemetry;

pub use backends::{Blobs, Bus, Cache, Database, Email, Queue, Search, Smtp, SmtpSecurity};
pub use sso::Sso;
pub use telemetry::Telemetry;

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `development`, `production` or `test`.
    pub env: Env,
    /// How clients reach the server: public host, scheme and port.
    pub domain: Domain,
    /// The store's backend: SQLite (default) or PostgreSQL.
    pub database: Database,
    /// Cache, rate limits and presence: memory (default) or Redis.
    pub cache: Cache,
    /// The event bus: in-process (default) or NATS.
    pub bus: Bus,
    /// The job queue: a SQLite file (default) or NATS JetStream.
    pub queue: Queue,
    /// The listener of each role, the NATS server and the media proxy.
    pub services: Services,
    /// Cookie attributes, kept from upstream's configuration (unused: no cookies are set).
    pub cookie: Cookie,
    /// This process's snowflake worker ID, data directory and master secret.
    pub instance: Instance,
    /// Account policy.
    pub auth: Auth,
    /// Development switches.
    pub dev: Dev,
    /// The log's filter and format.
    pub log: Log,
    /// Outgoing email and message search.
    pub integrations: Integrations,
    /// Where files are stored: a local directory (default) or an S3-compatible bucket.
    pub blobs: Blobs,
    /// The job runner.
    pub worker: Worker,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub proxy: Proxy,
    /// Timeouts and connection limits of every listener.
    pub http: Http,
    /// The web app served at `/`.
    pub web: Web,
    /// The instance home page (`/marketing`, and `/` without a web app).
    pub marketing: Marketing,
    /// OpenTelemetry export of traces and metrics.
    pub telemetry: Telemetry,
    /// Guild discovery: whether guilds may apply, and how many members they need.
    pub discovery: Discovery,
}

/// Guild discovery (upstream's `discovery` section).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Discovery {
    /// Whether guilds may apply to discovery and people may browse and join listed ones.
    pub enabled: bool,
    /// Members a guild needs before it may apply (upstream's default: 1).
    pub min_member_count: u64,
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery {
            enabled: true,
            min_member_count: 1,
        }
    }
}

/// The web app (`web`): a built bundle of Fluxer's web client served at `/` by the node that runs
/// the API. Without one, `/` serves the instance's home page.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Web {
    /// The bundle's directory (holding `index.html`); unset serves no app.
    pub app_dir: Option<PathBuf>,
}

/// The instance home page (`marketing`): upstream's optional landing page, served at `/marketing`
/// and at `/` when no web app is configured. Its name and description are the instance's
/// (`instance.name`, `instance.description`); the legal texts are the defaults until staff store
/// the instance's own in the admin panel (which can also hide the page; `enabled = false` removes
/// it whatever is stored).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Marketing {
    /// Serve the home page (`true`); `false` answers 404 on its paths.
    pub enabled: bool,
    /// Deprecated alias of `instance.name`, read only when that is unset (with a warning).
    pub name: Option<String>,
    /// Deprecated alias of `instance.description`, read only when that is unset (with a warning).
    pub description: Option<String>,
    /// The terms of service as plain text (empty: the page says none are published).
    pub terms_of_service: String,
    /// The privacy policy as plain text (empty: the page says none is published).
    pub privacy_policy: String,
}

impl Default for Marketing {
    fn default() -> Self {
        Marketing {
            enabled: true,
            name: None,
            description: None,
            terms_of_service: String::new(),
            privacy_policy: String::new(),
        }
    }
}

impl Marketing {
    /// The keys of this section that are deprecated aliases and set, for a warning at start.
    pub fn deprecated_keys(&self) -> Vec<(&'static str, &'static str)> {
        let mut keys = Vec::new();
        if self.name.is_some() {
            keys.push(("marketing.name", "instance.name"));
        }
        if self.description.is_some() {
            keys.push(("marketing.description", "instance.description"));
        }
        keys
    }
}

/// The deployment environment (`env`).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Env {
    /// A developer's machine.
    Development,
    /// A real deployment: the default.
    #[default]
    Production,
    /// Automated tests.
    Test,
}

/// Public addressing, from which client-facing URLs are derived.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Domain {
    /// The host clients use (`chat.example.com`). Defaults to the listen host.
    pub base_domain: Option<String>,
    /// `http` or `https`.
    pub public_scheme: String,
    /// The port clients use, when not the scheme's default. Defaults to the listen port.
    pub public_port: Option<u16>,
}

impl Default for Domain {
    fn default() -> Self {
        Domain {
            base_domain: None,
            public_scheme: "http".to_owned(),
            public_port: None,
        }
    }
}

/// The NATS server of `bus.backend = "nats"` and `queue.backend = "nats"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Nats {
    /// The server's URL (`nats://127.0.0.1:4222`).
    pub core_url: String,
    /// Subject and stream prefix, so deployments can share a server.
    pub prefix: String,
    /// How long JetStream waits for a worker's ack before delivering a job again (a dead worker's
    /// jobs come back after this).
    pub ack_wait_ms: u64,
}

impl Default for Nats {
    fn default() -> Self {
        Nats {
            core_url: "nats://127.0.0.1:4222".to_owned(),
            prefix: "fluxer".to_owned(),
            ack_wait_ms: 30_000,
        }
    }
}

/// The listener of each role, and the services the roles talk to (`services`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Services {
    /// The monolith's listener.
    pub server: Listen,
    /// The per-service API nodes' listener (`fluxer-api`).
    pub api: ApiListen,
    /// The gateway's listener, public URL and shard counts.
    pub gateway: Gateway,
    /// The built-in S3-compatible endpoint.
    pub s3: S3Service,
    /// The NATS server, used when `bus` or `queue` is `nats`.
    pub nats: Nats,
    /// The media proxy.
    pub media_proxy: MediaProxy,
}

/// The built-in S3-compatible endpoint (`/s3`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct S3Service {
    /// Serve the endpoint (`true`); it is mounted only once both keys are set too.
    pub enabled: bool,
    /// The listener of a node that runs the S3 role alone.
    pub host: String,
    /// That listener's port (`8085`).
    pub port: u16,
    /// Defaults to `{instance.data_dir}/s3`.
    pub data_dir: Option<PathBuf>,
    /// The region requests are signed for (`us-east-1`).
    pub region: String,
    /// Without both keys the endpoint refuses every request (there is no anonymous access).
    pub access_key_id: Option<String>,
    /// The secret paired with `access_key_id`.
    pub secret_access_key: Option<String>,
    /// Created at start.
    pub buckets: Vec<String>,
}

impl Default for S3Service {
    fn default() -> Self {
        S3Service {
            enabled: true,
            host: "127.0.0.1".to_owned(),
            port: 8085,
            data_dir: None,
            region: "us-east-1".to_owned(),
            access_key_id: None,
            secret_access_key: None,
            buckets: Vec::new(),
        }
    }
}

/// The media proxy (`/media`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MediaProxy {
    /// `fluxer-media`'s listener.
    pub host: String,
    /// That listener's port (`8083`).
    pub port: u16,
    /// Where clients reach the media proxy; defaults to `{public origin}/media` (the monolith).
    pub public_url: Option<String>,
    /// The URL-signing key; derived from the instance secret when absent. Set it explicitly (the
    /// same on every node) in a multi-node deployment.
    pub secret_key: Option<String>,
    /// Images with more pixels are refused before decoding.
    pub max_pixels: u64,
    /// The ffmpeg binary for video thumbnails (`ffmpeg` on the PATH by default).
    pub ffmpeg_path: Option<PathBuf>,
    /// Fetching external URLs for embeds (SSRF-guarded).
    pub external_enabled: bool,
    /// Link previews for URLs in messages, fetched by the worker (SSRF-guarded as above).
    pub link_previews: bool,
    /// Non-public addresses (`127.0.0.1`) the proxy and link previews may fetch all the same: a
    /// hook for tests. Leave it empty in production.
    pub allow_addresses: Vec<std::net::IpAddr>,
}

impl Default for MediaProxy {
    fn default() -> Self {
        MediaProxy {
            host: "127.0.0.1".to_owned(),
            port: 8083,
            public_url: None,
            secret_key: None,
            max_pixels: 40_000_000,
            ffmpeg_path: None,
            external_enabled: true,
            link_previews: true,
            allow_addresses: Vec::new(),
        }
    }
}

/// Third-party services.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Integrations {
    /// Outgoing email: the log (default) or SMTP.
    pub email: Email,
    /// Message search: tantivy (default) or none.
    pub search: Search,
    /// Which GIF service the client's picker uses.
    pub gif: Gif,
    /// KLIPY's API (GIF search under `/klipy/*`).
    pub klipy: GifService,
    /// Tenor's API (GIF search under `/tenor/*`).
    pub tenor: GifService,
    /// How `domain` connections are verified.
    pub connections: Connections,
    /// Voice and video on LiveKit.
    pub voice: Voice,
}

/// Voice and video on a LiveKit server (`integrations.voice`, upstream's keys). Fluxer never
/// carries media: it decides who joins which room, mints LiveKit tokens and moderates through
/// LiveKit's room service.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Voice {
    /// Off by default.
    pub enabled: bool,
    /// The LiveKit API key (its `keys:` entry).
    pub api_key: String,
    /// The LiveKit API secret.
    pub api_secret: String,
    /// Where clients reach LiveKit (`wss://livekit.example.com`); the room service is called at
    /// the same host over HTTP(S).
    pub url: String,
    /// Where LiveKit posts its webhooks (informational: set LiveKit's `webhook.urls` to
    /// `{api}/webhooks/livekit`).
    pub webhook_url: Option<String>,
    /// The region the server above serves (bootstrapped at start).
    pub default_region: VoiceRegion,
    /// How long a minted token is good for, in seconds (6 hours, as LiveKit's SDKs).
    pub token_ttl_secs: Option<u64>,
}

/// A voice region (`integrations.voice.default_region`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceRegion {
    /// Identifier (`default`).
    pub id: String,
    /// Display name (`Default`).
    pub name: String,
    /// Display emoji.
    pub emoji: String,
    /// Where it is.
    pub latitude: f64,
    /// Where it is.
    pub longitude: f64,
}

impl Default for VoiceRegion {
    fn default() -> Self {
        VoiceRegion {
            id: "default".to_owned(),
            name: "Default".to_owned(),
            emoji: "🌐".to_owned(),
            latitude: 0.0,
            longitude: 0.0,
        }
    }
}

impl Voice {
    /// What is wrong with an enabled voice section, if anything.
    fn problem(&self) -> Option<(&'static str, &'static str)> {
        if !self.enabled {
            return None;
        }
        let ws = ["ws://", "wss://", "http://", "https://"];
        if !ws.iter().any(|p| self.url.starts_with(p)) {
            return Some((
                "integrations.voice.url",
                "must be a ws(s):// or http(s):// URL",
            ));
        }
        if self.api_key.trim().is_empty() {
            return Some((
                "integrations.voice.api_key",
                "must be set when voice is enabled",
            ));
        }
        if self.api_secret.trim().is_empty() {
            return Some((
                "integrations.voice.api_secret",
                "must be set when voice is enabled",
            ));
        }
        let r = &self.default_region;
        if r.id.trim().is_empty() || r.id.len() > 64 {
            return Some((
                "integrations.voice.default_region.id",
                "must be 1 to 64 characters",
            ));
        }
        if !(-90.0..=90.0).contains(&r.latitude) || !(-180.0..=180.0).contains(&r.longitude) {
            return Some((
                "integrations.voice.default_region",
                "latitude must be within ±90 and longitude within ±180",
            ));
        }
        if self.token_ttl_secs.is_some_and(|t| t == 0 || t > 24 * 3600) {
            return Some((
                "integrations.voice.token_ttl_secs",
                "must be between 1 and 86400",
            ));
        }
        None
    }
}

/// The GIF picker's provider (`integrations.gif`), told to clients in `/.well-known/fluxer`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Gif {
    /// `klipy` (default) or `tenor`.
    pub provider: GifProviderName,
}

/// A GIF service (`klipy`, `tenor`).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GifProviderName {
    /// KLIPY.
    #[default]
    Klipy,
    /// Tenor.
    Tenor,
}

/// A GIF service's API (`integrations.klipy`, `integrations.tenor`): without a key its routes
/// answer `MISSING_ACCESS`, as upstream's.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GifService {
    /// The instance's API key (`""`: off).
    pub api_key: String,
    /// The API's base URL, when not the service's own (`https://api.klipy.com/v2`,
    /// `https://tenor.googleapis.com/v2`): a hook for tests and proxies.
    pub base_url: Option<String>,
}

/// How `domain` connections are verified (`integrations.connections`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Connections {
    /// The DNS server asked for `_fluxer.{domain}` TXT records (`127.0.0.1:53`); the system's
    /// resolvers when unset.
    pub dns_server: Option<std::net::SocketAddr>,
    /// Where a domain's verification file is fetched, `{domain}` replaced; upstream's
    /// `https://{domain}/.well-known/fluxer-verification` when unset (a hook for tests).
    pub well_known_url: Option<String>,
}

/// The job runner (the worker role).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Worker {
    /// Jobs run at once by a node with the worker role.
    pub concurrency: usize,
    /// The listener (`/_health` only) of a node that runs the worker role alone.
    pub host: String,
    /// That listener's port (`8084`).
    pub port: u16,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            concurrency: 4,
            host: "127.0.0.1".to_owned(),
            port: 8084,
        }
    }
}

/// The listener of a node with several roles, the monolith's (`services.server`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    /// The address to listen on (`127.0.0.1`).
    pub host: String,
    /// The port (`8080`); `0` picks a free one.
    pub port: u16,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            host: "127.0.0.1".to_owned(),
            port: 8080,
        }
    }
}

/// The listener of a node that runs the API role alone (`services.api`). Nodes without the API
/// role derive the public API origin from its port.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ApiListen {
    /// The address to listen on (`127.0.0.1`).
    pub host: String,
    /// The port (`8080`).
    pub port: u16,
}

impl Default for ApiListen {
    fn default() -> Self {
        ApiListen {
            host: "127.0.0.1".to_owned(),
            port: 8080,
        }
    }
}

/// The gateway's settings. The monolith serves the gateway on the API's port at `/gateway`;
/// `fluxer-gateway` listens on `host:port`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Gateway {
    /// The listener of a node that runs the gateway role alone (`127.0.0.1`).
    pub host: String,
    /// That listener's port (`8082`).
    pub port: u16,
    /// Where clients reach this gateway node (`wss://gateway.example.com`); defaults to `ws://host:port`.
    pub public_url: Option<String>,
    /// Internal worker-pool sizes (upstream's names); 0 = one per CPU.
    pub presence_shards: usize,
    /// Locks the guild state shared by the gateway's sessions is spread over (0: one per CPU).
    pub guild_shards: usize,
    /// Web Push notifications to users who are away (on by default, as upstream). Off: none are
    /// sent and `/.well-known/fluxer` offers no VAPID key; subscriptions are still kept.
    pub push_enabled: bool,
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway {
            host: "127.0.0.1".to_owned(),
            port: 8082,
            public_url: None,
            presence_shards: 0,
            guild_shards: 0,
            push_enabled: true,
        }
    }
}

/// Cookie attributes (`cookie`), kept from upstream's configuration. Nothing reads them: this
/// server authenticates by header and sets no cookies.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Cookie {
    /// The cookies' `Domain` attribute (`""`).
    pub domain: String,
    /// The cookies' `Secure` flag (`false`).
    pub secure: bool,
}

/// This process's identity and local state (`instance`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Instance {
    /// The snowflake worker ID of this process (0..=1023); distinct per process sharing a database.
    pub worker_id: u16,
    /// Where the web app lives, for links in emails. Defaults to the public API origin.
    pub web_url: Option<String>,
    /// Where the queue, search index, blobs, S3 data and generated secret live (`./data`).
    pub data_dir: Option<PathBuf>,
    /// The master secret signing download and media links (any string; 32+ random bytes). When
    /// absent, one is generated into `{data_dir}/secret.key` on first start.
    pub secret_key: Option<String>,
    /// The instance's name on its home page (`Fluxer`). Staff changes through
    /// `/admin/instance-config/update` are stored and win over this.
    pub name: Option<String>,
    /// What the instance is about, on its home page (empty). Overridden as `name` is.
    pub description: Option<String>,
    /// Who may register: `open` (the default), `invite_only` or `closed`. Overridden as `name` is.
    pub registration_mode: fluxer_core::model::RegistrationMode,
}

impl Instance {
    /// `data_dir`, or `./data` when unset.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./data"))
    }
}

/// Account policy (`auth`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    /// Refuse messages from accounts whose email is not verified.
    pub require_verified_email: bool,
    /// How long a request to delete all of one's messages waits before it runs, in seconds
    /// (86400, as upstream); it can be cancelled until then.
    pub message_deletion_delay_secs: Option<u64>,
    /// Whether a password login (without two-factor) from an address the account has not used
    /// waits for approval from the account's email, as upstream does. Unset: on when the instance
    /// sends real email (`integrations.email.provider = smtp`), off otherwise, since nobody could
    /// receive the approval link.
    pub ip_authorization: Option<bool>,
    /// How long an OAuth2 authorization code lives, in seconds (600, as upstream).
    pub oauth2_code_ttl_secs: Option<u64>,
    /// How long an OAuth2 access token lives, in seconds (604800: 7 days, as upstream).
    pub oauth2_access_token_ttl_secs: Option<u64>,
    /// How long an OAuth2 refresh token lives, in seconds (2592000: 30 days, as upstream).
    pub oauth2_refresh_token_ttl_secs: Option<u64>,
    /// Bluesky connections (atproto OAuth); on once a signing key is configured.
    pub bluesky: Bluesky,
    /// The key Web Push requests are signed with (upstream's `auth.vapid`).
    pub vapid: Vapid,
    /// Single sign-on through an OpenID Connect provider.
    pub sso: Sso,
    /// Passkeys and security keys (WebAuthn).
    pub passkeys: Passkeys,
}

/// The VAPID key pair (`auth.vapid`, upstream's keys). Unset, the key is derived from the
/// instance secret: made on first start, the same on every node that shares the secret.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Vapid {
    /// The public key (uncompressed P-256 point, base64url); checked against `private_key`.
    pub public_key: Option<String>,
    /// The private key (the 32-byte P-256 scalar, base64url, as `web-push generate-vapid-keys`
    /// prints it).
    pub private_key: Option<String>,
    /// The contact push services see (the token's `sub`: `mailto:{email}`); the instance's web
    /// address when unset.
    pub email: Option<String>,
}

/// The WebAuthn relying party (`auth.passkeys`, upstream's keys). Credentials are bound to the RP
/// ID, so changing it later strands the passkeys registered before.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Passkeys {
    /// The name authenticators show (`Fluxer`).
    pub rp_name: String,
    /// The domain credentials belong to: the web app's host or a parent domain of it. Empty: the
    /// host of `instance.web_url` (else of the public origin).
    pub rp_id: String,
    /// Origins besides the web app's that may run ceremonies (`https://host[:port]`), e.g. a second
    /// host of the web app on a subdomain of the RP ID.
    pub additional_allowed_origins: Vec<String>,
}

impl Default for Passkeys {
    fn default() -> Self {
        Passkeys {
            rp_name: "Fluxer".to_owned(),
            rp_id: String::new(),
            additional_allowed_origins: Vec::new(),
        }
    }
}

/// The atproto OAuth client that links Bluesky accounts (`auth.bluesky`, upstream's keys).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Bluesky {
    /// Off: the `bsky` routes answer `BLUESKY_OAUTH_NOT_ENABLED`. It also needs `keys`.
    pub enabled: bool,
    /// The name users' servers show (`Fluxer`).
    pub client_name: String,
    /// The client's home page; the API's origin when empty.
    pub client_uri: String,
    /// A logo shown while authorizing.
    pub logo_uri: String,
    /// The terms of service.
    pub tos_uri: String,
    /// The privacy policy.
    pub policy_uri: String,
    /// ES256 (P-256) keys signing client assertions, the first one used; PKCS#8 PEM.
    pub keys: Vec<BlueskyKey>,
    /// Where `did:plc` documents are read (`https://plc.directory`): a hook for tests.
    pub plc_directory_url: Option<String>,
}

impl Default for Bluesky {
    fn default() -> Self {
        Bluesky {
            enabled: true,
            client_name: "Fluxer".to_owned(),
            client_uri: String::new(),
            logo_uri: String::new(),
            tos_uri: String::new(),
            policy_uri: String::new(),
            keys: Vec::new(),
            plc_directory_url: None,
        }
    }
}

/// One signing key of `auth.bluesky.keys`: `private_key` (PEM) or `private_key_path` (an absolute
/// path to one).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BlueskyKey {
    /// The key's ID in the JWK set.
    pub kid: String,
    /// The PKCS#8 PEM.
    pub private_key: Option<String>,
    /// An absolute path to the PKCS#8 PEM.
    pub private_key_path: Option<PathBuf>,
}

/// How every listener treats its connections (the monolith's and each service's).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Http {
    /// A request's headers must arrive within this (slow clients are cut).
    pub header_read_timeout_ms: u64,
    /// A request body that sends nothing for this long is cut.
    pub body_read_timeout_ms: u64,
    /// Connections one IP may hold open at once (0: no bound). Trusted proxies are exempt.
    pub max_connections_per_ip: usize,
    /// On SIGTERM, how long in-flight requests may take to finish before the rest are closed.
    pub shutdown_timeout_ms: u64,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            max_connections_per_ip: 256,
            shutdown_timeout_ms: 10_000,
        }
    }
}

/// Reverse proxies in front of the server.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Proxy {
    /// Addresses or CIDR ranges (`127.0.0.1`, `10.0.0.0/8`) of proxies whose `X-Forwarded-For` is
    /// believed. Empty (the default): the socket's peer is the client, whatever the header says.
    pub trusted_proxies: Vec<String>,
}

/// Development switches (`dev`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Dev {
    /// Turn rate limiting off (`false`); for development only.
    pub disable_rate_limits: bool,
    /// Upstream's test harness routes (`POST /test/voice/confirm-connection`); refused with
    /// `env = production`.
    pub test_mode_enabled: bool,
}

/// Logging (`log`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// A `tracing` filter (`info`, `fluxer_api=debug,info`).
    pub level: String,
    /// `auto` (JSON unless on a terminal), `json` or `pretty`.
    pub format: String,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: "info".to_owned(),
            format: "auto".to_owned(),
        }
    }
}

impl Config {
    /// `proxy.trusted_proxies`, parsed; the error names the entry at fault.
    #[cfg(feature = "api")]
    pub fn trusted_proxies(&self) -> Result<Vec<fluxer_api::ratelimit::IpNet>, String> {
        self.proxy
            .trusted_proxies
            .iter()
            .enumerate()
            .map(|(i, net)| {
                net.parse()
                    .map_err(|e| format!("proxy.trusted_proxies[{i}]: {e}"))
            })
            .collect()
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why reading it failed.
        source: std::io::Error,
    },
    /// The file is not valid JSON.
    #[error("config file {path} is not valid JSON: {source}")]
    Json {
        /// The config file.
        path: PathBuf,
        /// Where and why parsing failed.
        source: serde_json::Error,
    },
    /// A key is unknown, has the wrong type, or holds a refused value.
    #[error("invalid config at `{key}`: {message}")]
    Invalid {
        /// The key's full path (`services.server.port`).
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Config {
    /// Loads the file (if any), applies `FLUXER_CONFIG__*` overrides from `env`, and validates.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut value = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                serde_json::from_str(&text).map_err(|source| ConfigError::Json {
                    path: p.to_owned(),
                    source,
                })?
            }
            None => serde_json::json!({}),
        };
        for (key, raw) in env {
            let Some(rest) = key.strip_prefix("FLUXER_CONFIG__") else {
                continue;
            };
            let parsed = serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw));
            let mut node = &mut value;
            let parts: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            for (i, part) in parts.iter().enumerate() {
                if !node.is_object() {
                    *node = serde_json::json!({});
                }
                let map = node.as_object_mut().expect("just made an object");
                if i + 1 == parts.len() {
                    map.insert(part.clone(), parsed.clone());
                    break;
                }
                node = map
                    .entry(part.clone())
                    .or_insert_with(|| serde_json::json!({}));
            }
        }
        backends::fill_default_tags(&mut value);
        let config: Config =
            serde_path_to_error::deserialize(value).map_err(|e| ConfigError::Invalid {
                key: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| {
            Err(ConfigError::Invalid {
                key: key.to_owned(),
                message: message.to_owned(),
            })
        };
        if !matches!(self.domain.public_scheme.as_str(), "http" | "https") {
            return bad("domain.public_scheme", "must be \"http\" or \"https\"");
        }
        if self.instance.worker_id > 1023 {
            return bad("instance.worker_id", "must be between 0 and 1023");
        }
        if !matches!(self.log.format.as_str(), "auto" | "json" | "pretty") {
            return bad("log.format", "must be \"auto\", \"json\" or \"pretty\"");
        }
        if self.services.server.host.is_empty() {
            return bad("services.server.host", "must not be empty");
        }
        if self.worker.concurrency == 0 || self.worker.concurrency > 256 {
            return bad("worker.concurrency", "must be between 1 and 256");
        }
        if let Err((key, message)) = self.telemetry.check() {
            return bad(key, message);
        }
        let http = |url: &str| url.starts_with("http://") || url.starts_with("https://");
        for (key, service) in [
            ("integrations.klipy.base_url", &self.integrations.klipy),
            ("integrations.tenor.base_url", &self.integrations.tenor),
        ] {
            if service.base_url.as_deref().is_some_and(|u| !http(u)) {
                return bad(key, "must be an http(s) URL");
            }
        }
        if let Some((key, message)) = self.auth.sso.problem() {
            return bad(key, message);
        }
        if let Some((key, message)) = self.integrations.voice.problem() {
            return bad(key, message);
        }
        if self.dev.test_mode_enabled && self.env == Env::Production {
            return bad(
                "dev.test_mode_enabled",
                "is refused with env = production (set env to development or test)",
            );
        }
        if let Some(url) = &self.integrations.connections.well_known_url
            && !(http(url) && url.contains("{domain}"))
        {
            return bad(
                "integrations.connections.well_known_url",
                "must be an http(s) URL holding {domain}",
            );
        }
        Ok(())
    }

    /// The origin clients reach the server at (`http://127.0.0.1:8080`).
    pub fn public_origin(&self, bound_port: u16) -> String {
        let host = self
            .domain
            .base_domain
            .clone()
            .unwrap_or_else(|| self.services.server.host.clone());
        let port = self.domain.public_port.unwrap_or(bound_port);
        let default_port = if self.domain.public_scheme == "https" {
            443
        } else {
            80
        };
        if port == default_port {
            format!("{}://{host}", self.domain.public_scheme)
        } else {
            format!("{}://{host}:{port}", self.domain.public_scheme)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.services.server.port, 8080);
        assert_eq!(
            c.database,
            Database::Sqlite {
                path: PathBuf::from("./data/fluxer.db")
            }
        );
        assert_eq!(c.cache, Cache::Memory {});
        assert_eq!(c.bus, Bus::InProcess {});
        assert_eq!(c.queue, Queue::Sqlite { path: None });
        assert_eq!(c.integrations.search, Search::Tantivy { path: None });
        assert_eq!(c.integrations.email, Email::Log {});
        assert_eq!(c.public_origin(8080), "http://127.0.0.1:8080");
    }

    #[test]
    fn env_overrides_with_json_values() {
        let c = Config::load(
            None,
            env(&[
                ("FLUXER_CONFIG__SERVICES__SERVER__PORT", "9000"),
                ("FLUXER_CONFIG__DATABASE__PATH", "/tmp/x.db"),
                ("FLUXER_CONFIG__COOKIE__SECURE", "true"),
                ("UNRELATED", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.services.server.port, 9000);
        assert_eq!(
            c.database,
            Database::Sqlite {
                path: PathBuf::from("/tmp/x.db")
            }
        );
        assert!(c.cookie.secure);
    }

    #[test]
    fn unknown_and_bad_keys_are_named() {
        let dir = std::env::temp_dir().join(format!("fluxer-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(&path, r#"{"services":{"server":{"prot":1}}}"#).unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(err.contains("services.server"), "{err}");
        assert!(err.contains("prot"), "{err}");
        std::fs::write(&path, r#"{"services":{"server":{"port":"high"}}}"#).unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(err.contains("services.server.port"), "{err}");
        std::fs::write(&path, r#"{"domain":{"public_scheme":"ftp"}}"#).unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(err.contains("domain.public_scheme"), "{err}");
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            Config::load(Some(&path), env(&[])),
            Err(ConfigError::Json { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gif_services_and_domain_checks_are_configured_and_checked() {
        let c = Config::load(
            None,
            env(&[
                ("FLUXER_CONFIG__INTEGRATIONS__GIF__PROVIDER", "tenor"),
                ("FLUXER_CONFIG__INTEGRATIONS__TENOR__API_KEY", "k"),
                (
                    "FLUXER_CONFIG__INTEGRATIONS__CONNECTIONS__DNS_SERVER",
                    "127.0.0.1:5353",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(c.integrations.gif.provider, GifProviderName::Tenor);
        assert_eq!(c.integrations.tenor.api_key, "k");
        assert_eq!(c.integrations.klipy, GifService::default());
        assert_eq!(
            c.integrations.connections.dns_server,
            Some("127.0.0.1:5353".parse().unwrap())
        );
        for (key, value, named) in [
            (
                "FLUXER_CONFIG__INTEGRATIONS__GIF__PROVIDER",
                "giphy",
                "integrations.gif.provider",
            ),
            (
                "FLUXER_CONFIG__INTEGRATIONS__KLIPY__BASE_URL",
                "ftp://api.example",
                "integrations.klipy.base_url",
            ),
            (
                "FLUXER_CONFIG__INTEGRATIONS__CONNECTIONS__WELL_KNOWN_URL",
                "https://example.com/fixed",
                "integrations.connections.well_known_url",
            ),
            (
                "FLUXER_CONFIG__INTEGRATIONS__CONNECTIONS__DNS_SERVER",
                "resolver",
                "integrations.connections.dns_server",
            ),
        ] {
            let err = Config::load(None, env(&[(key, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(named), "{err}");
        }
    }

    #[test]
    fn voice_is_configured_as_upstream_and_checked() {
        let voice = [
            ("FLUXER_CONFIG__INTEGRATIONS__VOICE__ENABLED", "true"),
            (
                "FLUXER_CONFIG__INTEGRATIONS__VOICE__URL",
                "wss://lk.example.com",
            ),
            ("FLUXER_CONFIG__INTEGRATIONS__VOICE__API_KEY", "key"),
            ("FLUXER_CONFIG__INTEGRATIONS__VOICE__API_SECRET", "secret"),
            (
                "FLUXER_CONFIG__INTEGRATIONS__VOICE__DEFAULT_REGION__LATITUDE",
                "48.8",
            ),
        ];
        let c = Config::load(None, env(&voice)).unwrap();
        assert!(c.integrations.voice.enabled);
        assert_eq!(c.integrations.voice.default_region.id, "default");
        assert_eq!(c.integrations.voice.default_region.latitude, 48.8);
        assert!(!Config::default().integrations.voice.enabled);
        for (key, value, named) in [
            (
                "FLUXER_CONFIG__INTEGRATIONS__VOICE__URL",
                "livekit.example.com",
                "integrations.voice.url",
            ),
            (
                "FLUXER_CONFIG__INTEGRATIONS__VOICE__API_SECRET",
                " ",
                "integrations.voice.api_secret",
            ),
            (
                "FLUXER_CONFIG__INTEGRATIONS__VOICE__DEFAULT_REGION__LONGITUDE",
                "200",
                "integrations.voice.default_region",
            ),
            (
                "FLUXER_CONFIG__INTEGRATIONS__VOICE__TOKEN_TTL_SECS",
                "0",
                "integrations.voice.token_ttl_secs",
            ),
        ] {
            let mut vars = voice.to_vec();
            vars.push((key, value));
            let err = Config::load(None, env(&vars)).unwrap_err().to_string();
            assert!(err.contains(named), "{err}");
        }
        // The test harness routes never run in production.
        let err = Config::load(
            None,
            env(&[("FLUXER_CONFIG__DEV__TEST_MODE_ENABLED", "true")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("dev.test_mode_enabled"), "{err}");
        let c = Config::load(
            None,
            env(&[
                ("FLUXER_CONFIG__DEV__TEST_MODE_ENABLED", "true"),
                ("FLUXER_CONFIG__ENV", "test"),
            ]),
        )
        .unwrap();
        assert!(c.dev.test_mode_enabled);
    }

    #[test]
    fn each_port_picks_its_backend_on_its_own() {
        let c = Config::load(
            None,
            env(&[
                ("FLUXER_CONFIG__DATABASE__BACKEND", "postgres"),
                ("FLUXER_CONFIG__DATABASE__POOL_SIZE", "4"),
                ("FLUXER_CONFIG__QUEUE__BACKEND", "nats"),
                ("FLUXER_CONFIG__INTEGRATIONS__SEARCH__ENGINE", "none"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.database,
            Database::Postgres {
                url: "postgres://postgres@127.0.0.1:5432/fluxer".to_owned(),
                pool_size: 4
            }
        );
        assert_eq!((c.cache, c.bus), (Cache::Memory {}, Bus::InProcess {}));
        assert_eq!(c.queue, Queue::Nats {});
        assert_eq!(c.integrations.search, Search::Disabled {});

        for (pairs, named) in [
            (&[("DATABASE__BACKEND", "mysql")][..], "mysql"),
            (&[("CACHE__BACKEND", "memcached")], "memcached"),
            // A key of another backend than the one chosen is refused, not ignored.
            (&[("DATABASE__URL", "\"postgres://x\"")], "url"),
            (&[("CACHE__URL", "\"redis://x\"")], "url"),
            (
                &[
                    ("INTEGRATIONS__EMAIL__PROVIDER", "smtp"),
                    ("INTEGRATIONS__EMAIL__SMTP__SECURITY", "ssl"),
                ],
                "ssl",
            ),
        ] {
            let vars: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (format!("FLUXER_CONFIG__{k}"), (*v).to_owned()))
                .collect();
            let err = Config::load(None, vars).unwrap_err().to_string();
            assert!(err.contains(named), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn search_on_postgres_takes_its_own_url_or_none() {
        let c = Config::load(
            None,
            env(&[("FLUXER_CONFIG__INTEGRATIONS__SEARCH__ENGINE", "postgres")]),
        )
        .unwrap();
        assert_eq!(
            c.integrations.search,
            Search::Postgres {
                url: None,
                pool_size: 8
            }
        );
        let c = Config::load(
            None,
            env(&[
                ("FLUXER_CONFIG__INTEGRATIONS__SEARCH__ENGINE", "postgres"),
                (
                    "FLUXER_CONFIG__INTEGRATIONS__SEARCH__URL",
                    "\"postgres://s/x\"",
                ),
                ("FLUXER_CONFIG__INTEGRATIONS__SEARCH__POOL_SIZE", "2"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.integrations.search,
            Search::Postgres {
                url: Some("postgres://s/x".to_owned()),
                pool_size: 2
            }
        );
    }

    #[test]
    fn the_example_cluster_config_is_valid() {
        let dir = std::env::temp_dir().join(format!("fluxer-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(&path, include_str!("../../examples/cluster/config.json")).unwrap();
        let c = Config::load(Some(&path), env(&[])).unwrap();
        assert!(matches!(
            c.database,
            Database::Postgres { pool_size: 16, .. }
        ));
        assert!(matches!(c.cache, Cache::Redis { .. }));
        assert_eq!((c.bus, c.queue), (Bus::Nats {}, Queue::Nats {}));
        assert_eq!(c.services.nats.core_url, "nats://nats.internal:4222");
        assert!(matches!(c.blobs, Blobs::S3 { .. }));
        assert!(matches!(c.integrations.email, Email::Smtp { .. }));
        let _ = std::fs::remove_dir_all(dir);
    }
}
