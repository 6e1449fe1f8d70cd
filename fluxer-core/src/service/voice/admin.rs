//! Staff management of voice regions and their LiveKit servers (upstream's `/admin/voice/*`).
//!
//! The regions live in the node's memory, where joins read them. A staff change is applied there
//! and stored as one instance document ([`PrivateDocument::VoiceRegions`]); once stored, that list
//! replaces the configured region, and every gateway node reloads it with its voice sweep (so
//! other nodes follow within a few seconds). Regions and servers carry no access restrictions
//! here: upstream's `vip_only` and allow lists are refused when set.

use serde::Deserialize;

use super::regions::{VoiceRegion, VoiceServer};
use super::*;
use crate::model::acl;
use crate::ports::{PrivateDocument, VoiceServerCredentials};
use crate::service::admin::{AdminAction, AdminPrincipal};
use crate::validation::Validator;

/// Most regions, and most servers in one region (upstream's list bounds).
const MAX_REGIONS: usize = 100;

/// Upstream's access restrictions on a region or server: refused when set (VIP-only true, or a
/// list that is not empty), as this server does not enforce them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VoiceRestrictions {
    /// VIP users only.
    #[serde(default)]
    pub vip_only: Option<bool>,
    /// Guild features a guild needs.
    #[serde(default)]
    pub required_guild_features: Option<Vec<String>>,
    /// Guilds allowed.
    #[serde(default)]
    pub allowed_guild_ids: Option<Vec<String>>,
    /// Users allowed.
    #[serde(default)]
    pub allowed_user_ids: Option<Vec<String>>,
}

/// `/admin/voice/regions/{create,update}`: a region's fields; on update, absent ones are kept.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VoiceRegionWrite {
    /// The region's identifier (1 to 64 characters).
    pub id: String,
    /// Display name (1 to 100 characters).
    pub name: Option<String>,
    /// Display emoji (1 to 64 characters).
    pub emoji: Option<String>,
    /// Latitude, -90 to 90.
    pub latitude: Option<f64>,
    /// Longitude, -180 to 180.
    pub longitude: Option<f64>,
    /// Make this the default region (the others stop being it).
    pub is_default: Option<bool>,
    /// Upstream's access restrictions, which this server does not support.
    #[serde(flatten)]
    pub restrictions: VoiceRestrictions,
}

/// `/admin/voice/servers/{create,update}`: a server's fields; on update, absent ones are kept.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VoiceServerWrite {
    /// The region it serves.
    pub region_id: String,
    /// Its identifier within the region (1 to 64 characters).
    pub server_id: String,
    /// Where clients connect (`wss://` or `ws://`, or the `https://`/`http://` form).
    pub endpoint: Option<String>,
    /// The LiveKit API key (1 to 256 characters).
    pub api_key: Option<String>,
    /// The LiveKit API secret (1 to 256 characters). Never shown back.
    pub api_secret: Option<String>,
    /// Whether new connections may go to it (default true).
    pub is_active: Option<bool>,
    /// Upstream's access restrictions, which this server does not support.
    #[serde(flatten)]
    pub restrictions: VoiceRestrictions,
}

fn no_restrictions(v: &mut Validator, r: &VoiceRestrictions) {
    v.check(
        r.vip_only != Some(true),
        "vip_only",
        "BASE_TYPE_INVALID",
        "This server has no VIP-only voice regions or servers.",
    );
    for (path, list) in [
        ("required_guild_features", &r.required_guild_features),
        ("allowed_guild_ids", &r.allowed_guild_ids),
        ("allowed_user_ids", &r.allowed_user_ids),
    ] {
        v.check(
            list.as_ref().is_none_or(Vec::is_empty),
            path,
            "BASE_TYPE_INVALID",
            "Voice regions and servers carry no access restrictions on this server.",
        );
    }
}

fn check_id(v: &mut Validator, path: &str, id: &str) {
    v.length(path, id, 1, 64);
}

fn valid_endpoint(url: &str) -> bool {
    ["wss://", "ws://", "https://", "http://"]
        .iter()
        .any(|scheme| {
            url.strip_prefix(scheme)
                .is_some_and(|rest| !rest.is_empty())
        })
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn unknown_region() -> Error {
    Error::Unknown(Unknown::VoiceRegion)
}

fn unknown_server() -> Error {
    Error::Unknown(Unknown::VoiceServer)
}

impl Fluxer {
    fn require_voice_backend(&self) -> Result<()> {
        if self.voice_configured() {
            Ok(())
        } else {
            Err(Error::Unavailable {
                code: "VOICE_UNAVAILABLE",
                message: "Voice is not configured on this instance (integrations.voice).".into(),
            })
        }
    }

    /// Loads the regions staff stored, if any, over the configured ones (at start and with every
    /// voice sweep, so that every node follows a change made on another).
    pub async fn reload_voice_regions(&self) -> Result<()> {
        if self.inner.config.voice.is_none() {
            return Ok(());
        }
        let stored: Option<Vec<VoiceRegion>> =
            self.instance_doc(PrivateDocument::VoiceRegions, 0).await?;
        if let Some(stored) = stored {
            let mut regions = self
                .voice_runtime()
                .regions
                .write()
                .map_err(|_| Error::Internal("voice regions lock poisoned".into()))?;
            if *regions != stored {
                *regions = stored;
            }
        }
        Ok(())
    }

    /// Applies `change` to the regions, stores the result and returns what `change` returned.
    async fn change_voice_regions<T>(
        &self,
        change: impl FnOnce(&mut Vec<VoiceRegion>) -> Result<T>,
    ) -> Result<T> {
        // Start from what is stored, so that a change made on another node is not lost.
        self.reload_voice_regions().await?;
        let (out, regions) = {
            let mut regions = self
                .voice_runtime()
                .regions
                .write()
                .map_err(|_| Error::Internal("voice regions lock poisoned".into()))?;
            let out = change(&mut regions)?;
            (out, regions.clone())
        };
        self.put_instance_doc(PrivateDocument::VoiceRegions, 0, Some(&regions))
            .await?;
        Ok(out)
    }

    /// `POST /admin/voice/regions/list` (`voice:region:list`).
    pub async fn admin_voice_regions(&self, who: &AdminPrincipal) -> Result<Vec<VoiceRegion>> {
        who.require(acl::VOICE_REGION_LIST)?;
        self.reload_voice_regions().await?;
        Ok(self.voice_topology())
    }

    /// `POST /admin/voice/regions/create` (`voice:region:create`): a new region, without servers.
    pub async fn admin_create_voice_region(
        &self,
        who: &AdminPrincipal,
        req: VoiceRegionWrite,
    ) -> Result<VoiceRegion> {
        who.require(acl::VOICE_REGION_CREATE)?;
        self.require_voice_backend()?;
        let mut v = Validator::new();
        check_id(&mut v, "id", &req.id);
        v.length("name", req.name.as_deref().unwrap_or(""), 1, 100);
        v.length("emoji", req.emoji.as_deref().unwrap_or(""), 1, 64);
        check_position(&mut v, req.latitude, req.longitude, true);
        no_restrictions(&mut v, &req.restrictions);
        v.finish()?;
        let region = VoiceRegion {
            id: req.id.clone(),
            name: req.name.clone().unwrap_or_default(),
            emoji: req.emoji.clone().unwrap_or_default(),
            latitude: req.latitude.unwrap_or_default(),
            longitude: req.longitude.unwrap_or_default(),
            is_default: req.is_default.unwrap_or(false),
            servers: Vec::new(),
        };
        let created = self
            .change_voice_regions(|regions| {
                if regions.iter().any(|r| r.id == region.id) {
                    return Err(Error::Conflict {
                        code: "VOICE_REGION_ALREADY_EXISTS",
                        message: "A voice region with this ID exists.".into(),
                    });
                }
                if regions.len() >= MAX_REGIONS {
                    return Err(Error::rejected(
                        "MAX_VOICE_REGIONS",
                        "This instance has the most voice regions it may have.",
                    ));
                }
                if region.is_default {
                    regions.iter_mut().for_each(|r| r.is_default = false);
                }
                regions.push(region.clone());
                Ok(region.clone())
            })
            .await?;
        let entry = AdminAction::new("voice.region_create", "voice_region", &created.id)
            .with("name", &created.name)
            .with("is_default", created.is_default);
        self.record_admin_action(who, entry).await?;
        Ok(created)
    }

    /// `POST /admin/voice/regions/update` (`voice:region:update`).
    pub async fn admin_update_voice_region(
        &self,
        who: &AdminPrincipal,
        req: VoiceRegionWrite,
    ) -> Result<VoiceRegion> {
        who.require(acl::VOICE_REGION_UPDATE)?;
        self.require_voice_backend()?;
        let mut v = Validator::new();
        check_id(&mut v, "id", &req.id);
        if let Some(name) = &req.name {
            v.length("name", name, 1, 100);
        }
        if let Some(emoji) = &req.emoji {
            v.length("emoji", emoji, 1, 64);
        }
        check_position(&mut v, req.latitude, req.longitude, false);
        no_restrictions(&mut v, &req.restrictions);
        v.finish()?;
        let (before, after) = self
            .change_voice_regions(|regions| {
                if req.is_default == Some(true) {
                    regions.iter_mut().for_each(|r| r.is_default = false);
                }
                let region = regions
                    .iter_mut()
                    .find(|r| r.id == req.id)
                    .ok_or_else(unknown_region)?;
                let before = region.clone();
                if let Some(name) = &req.name {
                    region.name.clone_from(name);
                }
                if let Some(emoji) = &req.emoji {
                    region.emoji.clone_from(emoji);
                }
                if let Some(latitude) = req.latitude {
                    region.latitude = latitude;
                }
                if let Some(longitude) = req.longitude {
                    region.longitude = longitude;
                }
                if let Some(is_default) = req.is_default {
                    region.is_default = is_default;
                }
                Ok((before, region.clone()))
            })
            .await?;
        let entry = AdminAction::new("voice.region_update", "voice_region", &after.id)
            .change("name", &before.name, &after.name)
            .change("is_default", before.is_default, after.is_default);
        self.record_admin_action(who, entry).await?;
        Ok(after)
    }

    /// `POST /admin/voice/regions/delete` (`voice:region:delete`): the region and its servers.
    /// Connections already made stay until they leave.
    pub async fn admin_delete_voice_region(&self, who: &AdminPrincipal, id: &str) -> Result<()> {
        who.require(acl::VOICE_REGION_DELETE)?;
        self.require_voice_backend()?;
        self.change_voice_regions(|regions| {
            let before = regions.len();
            regions.retain(|r| r.id != id);
            if regions.len() == before {
                return Err(unknown_region());
            }
            Ok(())
        })
        .await?;
        self.record_admin_action(
            who,
            AdminAction::new("voice.region_delete", "voice_region", id),
        )
        .await
    }

    /// `POST /admin/voice/servers/list` (`voice:server:list`): a region's servers.
    pub async fn admin_voice_servers(
        &self,
        who: &AdminPrincipal,
        region: &str,
    ) -> Result<Vec<VoiceServer>> {
        who.require(acl::VOICE_SERVER_LIST)?;
        self.reload_voice_regions().await?;
        self.voice_topology()
            .into_iter()
            .find(|r| r.id == region)
            .map(|r| r.servers)
            .ok_or_else(unknown_region)
    }

    /// `POST /admin/voice/servers/create` (`voice:server:create`).
    pub async fn admin_create_voice_server(
        &self,
        who: &AdminPrincipal,
        req: VoiceServerWrite,
    ) -> Result<VoiceServer> {
        who.require(acl::VOICE_SERVER_CREATE)?;
        self.require_voice_backend()?;
        let mut v = Validator::new();
        check_server_fields(&mut v, &req, true);
        v.finish()?;
        let server = VoiceServer {
            id: req.server_id.clone(),
            credentials: VoiceServerCredentials {
                endpoint: req.endpoint.clone().unwrap_or_default(),
                api_key: req.api_key.clone().unwrap_or_default(),
                api_secret: req.api_secret.clone().unwrap_or_default(),
            },
            active: req.is_active.unwrap_or(true),
        };
        let created = self
            .change_voice_regions(|regions| {
                let region = regions
                    .iter_mut()
                    .find(|r| r.id == req.region_id)
                    .ok_or_else(unknown_region)?;
                if region.servers.iter().any(|s| s.id == server.id) {
                    return Err(Error::Conflict {
                        code: "VOICE_SERVER_ALREADY_EXISTS",
                        message: "A voice server with this ID exists in the region.".into(),
                    });
                }
                if region.servers.len() >= MAX_REGIONS {
                    return Err(Error::rejected(
                        "MAX_VOICE_SERVERS",
                        "This region has the most voice servers it may have.",
                    ));
                }
                region.servers.push(server.clone());
                Ok(server.clone())
            })
            .await?;
        let entry = AdminAction::new(
            "voice.server_create",
            "voice_server",
            format!("{}/{}", req.region_id, created.id),
        )
        .with("endpoint", &created.credentials.endpoint)
        .with("is_active", created.active);
        self.record_admin_action(who, entry).await?;
        Ok(created)
    }

    /// `POST /admin/voice/servers/update` (`voice:server:update`); a new secret is logged as
    /// changed, never its value.
    pub async fn admin_update_voice_server(
        &self,
        who: &AdminPrincipal,
        req: VoiceServerWrite,
    ) -> Result<VoiceServer> {
        who.require(acl::VOICE_SERVER_UPDATE)?;
        self.require_voice_backend()?;
        let mut v = Validator::new();
        check_server_fields(&mut v, &req, false);
        v.finish()?;
        let (before, after) = self
            .change_voice_regions(|regions| {
                let server = regions
                    .iter_mut()
                    .find(|r| r.id == req.region_id)
                    .ok_or_else(unknown_region)?
                    .servers
                    .iter_mut()
                    .find(|s| s.id == req.server_id)
                    .ok_or_else(unknown_server)?;
                let before = server.clone();
                if let Some(endpoint) = &req.endpoint {
                    server.credentials.endpoint.clone_from(endpoint);
                }
                if let Some(key) = &req.api_key {
                    server.credentials.api_key.clone_from(key);
                }
                if let Some(secret) = &req.api_secret {
                    server.credentials.api_secret.clone_from(secret);
                }
                if let Some(active) = req.is_active {
                    server.active = active;
                }
                Ok((before, server.clone()))
            })
            .await?;
        let entry = AdminAction::new(
            "voice.server_update",
            "voice_server",
            format!("{}/{}", req.region_id, after.id),
        )
        .change(
            "endpoint",
            &before.credentials.endpoint,
            &after.credentials.endpoint,
        )
        .change("is_active", before.active, after.active)
        .with(
            "api_secret_changed",
            before.credentials.api_secret != after.credentials.api_secret,
        );
        self.record_admin_action(who, entry).await?;
        Ok(after)
    }

    /// `POST /admin/voice/servers/delete` (`voice:server:delete`).
    pub async fn admin_delete_voice_server(
        &self,
        who: &AdminPrincipal,
        region: &str,
        server: &str,
    ) -> Result<()> {
        who.require(acl::VOICE_SERVER_DELETE)?;
        self.require_voice_backend()?;
        self.change_voice_regions(|regions| {
            let servers = &mut regions
                .iter_mut()
                .find(|r| r.id == region)
                .ok_or_else(unknown_region)?
                .servers;
            let before = servers.len();
            servers.retain(|s| s.id != server);
            if servers.len() == before {
                return Err(unknown_server());
            }
            Ok(())
        })
        .await?;
        let target = format!("{region}/{server}");
        self.record_admin_action(
            who,
            AdminAction::new("voice.server_delete", "voice_server", target),
        )
        .await
    }
}

fn check_position(
    v: &mut Validator,
    latitude: Option<f64>,
    longitude: Option<f64>,
    required: bool,
) {
    for (path, value, bound) in [
        ("latitude", latitude, 90.0),
        ("longitude", longitude, 180.0),
    ] {
        match value {
            None => v.check(
                !required,
                path,
                "BASE_TYPE_REQUIRED",
                "This field is required.",
            ),
            Some(x) => v.check(
                x.is_finite() && (-bound..=bound).contains(&x),
                path,
                "NUMBER_TYPE_OUT_OF_RANGE",
                "Out of range.",
            ),
        }
    }
}

fn check_server_fields(v: &mut Validator, req: &VoiceServerWrite, creating: bool) {
    check_id(v, "region_id", &req.region_id);
    check_id(v, "server_id", &req.server_id);
    match &req.endpoint {
        None => v.check(
            !creating,
            "endpoint",
            "BASE_TYPE_REQUIRED",
            "This field is required.",
        ),
        Some(url) => v.check(
            valid_endpoint(url),
            "endpoint",
            "URL_TYPE_INVALID_URL",
            "Must be a ws(s):// or http(s):// URL.",
        ),
    }
    for (path, value) in [("api_key", &req.api_key), ("api_secret", &req.api_secret)] {
        match value {
            None => v.check(
                !creating,
                path,
                "BASE_TYPE_REQUIRED",
                "This field is required.",
            ),
            Some(value) => v.length(path, value, 1, 256),
        }
    }
    no_restrictions(v, &req.restrictions);
}
