//! Adapters built from the configuration, shared by the monolith and the per-service deployment.

use std::path::Path;
use std::sync::Arc;

use fluxer_api::ApiConfig;
use fluxer_api::ratelimit::ClientIp;
use fluxer_core::ports::{BlobStore, Mailer};
use fluxer_core::service::hash_token;
use fluxer_media::proxy::MediaConfig;
use fluxer_storage::memory::LogMailer;
use fluxer_storage::object_store::ObjectBlobStore;
use fluxer_storage::smtp::{SmtpConfig, SmtpMailer, SmtpSecurity};

use crate::config::Config;

/// The API's settings from the configuration: rate limits and who the client is behind a proxy.
/// The error names the configuration key at fault.
pub(crate) fn api_config(config: &Config, gateway_url: String) -> Result<ApiConfig, String> {
    let trusted_proxies = config.trusted_proxies()?;
    let mut api = ApiConfig {
        gateway_url,
        client_ip: ClientIp { trusted_proxies },
        ..ApiConfig::default()
    };
    api.rate_limits.enabled = !config.dev.disable_rate_limits;
    Ok(api)
}

/// A key for one purpose, derived from the master secret (so one leak does not sign for the others).
pub(crate) fn derive_key(master: &str, purpose: &str) -> Vec<u8> {
    hash_token(&format!("fluxer/{purpose}/{master}")).to_vec()
}

/// The configured blob store; a filesystem store defaults to `{data_dir}/blobs`. The error names the
/// configuration key at fault.
pub(crate) fn blob_store(config: &Config, data_dir: &Path) -> Result<Arc<dyn BlobStore>, String> {
    match config.blobs.backend.as_str() {
        #[cfg(feature = "s3")]
        "s3" => {
            let s3 = &config.blobs.s3;
            let store = ObjectBlobStore::s3(fluxer_storage::object_store::S3BlobConfig {
                endpoint: s3.endpoint.clone(),
                region: s3.region.clone(),
                bucket: s3.bucket.clone(),
                access_key_id: s3.access_key_id.clone(),
                secret_access_key: s3.secret_access_key.clone(),
                allow_http: s3.endpoint.starts_with("http://"),
            })
            .map_err(|e| format!("blobs.s3: {}", fluxer_core::error::chain(&e)))?;
            Ok(Arc::new(store))
        }
        "filesystem" => {
            let path = config
                .blobs
                .path
                .clone()
                .unwrap_or_else(|| data_dir.join("blobs"));
            let store = ObjectBlobStore::filesystem(&path)
                .map_err(|e| format!("blobs.path ({}): {e}", path.display()))?;
            Ok(Arc::new(store))
        }
        other => Err(format!(
            "blobs.backend: {other:?} is not available in this build"
        )),
    }
}

/// SMTP when email is enabled; otherwise emails (links included) go to the log.
pub(crate) fn mailer(config: &Config) -> Result<Arc<dyn Mailer>, String> {
    let email = &config.integrations.email;
    if !email.enabled || email.provider == "none" {
        return Ok(Arc::new(LogMailer));
    }
    let smtp = &email.smtp;
    let security = match smtp.security.as_str() {
        "tls" => SmtpSecurity::Tls,
        "none" => SmtpSecurity::None,
        _ => SmtpSecurity::Starttls,
    };
    let mailer = SmtpMailer::new(&SmtpConfig {
        host: smtp.host.clone(),
        port: smtp.port,
        security,
        username: smtp.username.clone(),
        password: smtp.password.clone(),
        from: format!("{} <{}>", email.from_name, email.from_email),
        timeout_secs: 30,
    })
    .map_err(|e| format!("integrations.email: {}", fluxer_core::error::chain(&e)))?;
    Ok(Arc::new(mailer))
}

/// The media proxy's settings from `services.media_proxy`, keyed with `secret`.
pub(crate) fn media_config(config: &Config, secret: Vec<u8>) -> MediaConfig {
    let mut media = MediaConfig::new(secret);
    media.max_pixels = config.services.media_proxy.max_pixels;
    media.ffmpeg = config.services.media_proxy.ffmpeg_path.clone();
    media.external.enabled = config.services.media_proxy.external_enabled;
    media
}
