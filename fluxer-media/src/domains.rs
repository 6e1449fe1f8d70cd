//! What domains publish, for `domain` connections: [`DomainChecks`] implements the core's
//! [`DomainProbe`] port with a DNS resolver (hickory) for TXT records and the media proxy's
//! SSRF-safe fetcher for the verification file (public addresses only, checked on every redirect,
//! a few KiB at most, within a few seconds).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use fluxer_core::ports::DomainProbe;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use crate::proxy::ExternalConfig;
use crate::proxy::external::{Agent, fetch_as};

/// How the verifier introduces itself to sites.
const AGENT: Agent = Agent {
    user_agent: "Mozilla/5.0 (compatible; Fluxerbot/1.0)",
    accept: "text/plain, */*;q=0.5",
};
/// Where a domain serves its verification file (upstream's place); `{domain}` is replaced.
pub const WELL_KNOWN_URL: &str = "https://{domain}/.well-known/fluxer-verification";
/// The most of a verification file read: a token is 64 characters.
const FILE_BYTES: u64 = 8 << 10;
/// Time for one lookup or fetch (upstream: 5 s).
const TIMEOUT: Duration = Duration::from_secs(5);

/// Reads domains' TXT records and verification files (see the module docs).
#[derive(Clone)]
pub struct DomainChecks {
    /// `None` when the system names no resolver: then only verification files prove anything.
    resolver: Option<TokioResolver>,
    well_known_url: String,
    fetch: ExternalConfig,
}

impl std::fmt::Debug for DomainChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainChecks")
            .field("well_known_url", &self.well_known_url)
            .finish_non_exhaustive()
    }
}

/// Why the checks could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the DNS resolver: {0}")]
pub struct ResolverError(String);

impl DomainChecks {
    /// Checks that ask the system's resolvers (`/etc/resolv.conf`), or `dns_server` when given
    /// (plain DNS over UDP and TCP), and fetch files at [`WELL_KNOWN_URL`] from public addresses
    /// only.
    pub fn new(dns_server: Option<SocketAddr>) -> Result<Self, ResolverError> {
        let builder = match dns_server {
            Some(server) => {
                let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
                for connection in &mut name_server.connections {
                    connection.port = server.port();
                }
                Some(TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![name_server]),
                    TokioRuntimeProvider::default(),
                ))
            }
            None => match TokioResolver::builder_tokio() {
                Ok(builder) => Some(builder),
                Err(e) => {
                    tracing::warn!(error = %e, "no system DNS resolver: domains are verified by their files only");
                    None
                }
            },
        };
        let resolver = match builder {
            Some(mut builder) => {
                let options = builder.options_mut();
                options.timeout = TIMEOUT;
                options.attempts = 1;
                // Proofs come and go: the answer of the moment is the one that counts.
                options.cache_size = 0;
                Some(builder.build().map_err(|e| ResolverError(e.to_string()))?)
            }
            None => None,
        };
        Ok(DomainChecks {
            resolver,
            well_known_url: WELL_KNOWN_URL.to_owned(),
            fetch: ExternalConfig {
                enabled: true,
                max_bytes: FILE_BYTES,
                timeout: TIMEOUT,
                allowed_content_types: ["text/*", "application/octet-stream", "application/json"]
                    .iter()
                    .map(|t| (*t).to_owned())
                    .collect(),
                allow_addresses: Vec::new(),
            },
        })
    }

    /// Fetches verification files at `template` (`{domain}` replaced) instead of
    /// [`WELL_KNOWN_URL`]: a hook for tests, which serve them over plain HTTP on loopback.
    pub fn with_well_known_url(mut self, template: impl Into<String>) -> Self {
        self.well_known_url = template.into();
        self
    }

    /// Lets the fetcher reach these non-public addresses all the same (a test hook: leave it empty
    /// in production).
    pub fn with_allow_addresses(mut self, addresses: Vec<IpAddr>) -> Self {
        self.fetch.allow_addresses = addresses;
        self
    }
}

/// A DNS name as probes accept it: letters, digits, `-`, `_` and dots only.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[async_trait]
impl DomainProbe for DomainChecks {
    async fn txt_records(&self, name: &str) -> Vec<String> {
        if !plain_name(name) {
            return Vec::new();
        }
        let Some(resolver) = &self.resolver else {
            return Vec::new();
        };
        // Fully qualified: no search domain is appended.
        let name = format!("{}.", name.trim_end_matches('.'));
        match resolver.txt_lookup(name.as_str()).await {
            Ok(found) => found
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect(),
            Err(e) => {
                tracing::debug!(name, error = %e, "no TXT records");
                Vec::new()
            }
        }
    }

    async fn verification_file(&self, domain: &str) -> Option<String> {
        if !plain_name(domain) || domain.contains('_') {
            return None;
        }
        let url = self.well_known_url.replace("{domain}", domain);
        match fetch_as(&self.fetch, &url, AGENT).await {
            Ok(file) => Some(String::from_utf8_lossy(&file.bytes).into_owned()),
            Err(e) => {
                tracing::debug!(url, error = %e, "no verification file");
                None
            }
        }
    }
}
