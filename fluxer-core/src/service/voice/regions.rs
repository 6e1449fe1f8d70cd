//! Voice regions and their LiveKit servers: what clients may pick, and where a new connection
//! goes (the requested region, else the one nearest the client, else the default).

use super::*;

/// A region clients may pick for a voice channel (`rtc_region`), with the servers that serve it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct VoiceRegion {
    /// Short identifier (`eu-west`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Display emoji.
    pub emoji: String,
    /// Where it is, to pick the nearest one for a client that says where it is.
    pub latitude: f64,
    /// See `latitude`.
    pub longitude: f64,
    /// The region used when nothing else decides.
    pub is_default: bool,
    /// The LiveKit servers of this region.
    pub servers: Vec<VoiceServer>,
}

/// One LiveKit server of a region.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct VoiceServer {
    /// Identifier, unique within its region.
    pub id: String,
    /// Where it is and the key pair it trusts.
    pub credentials: VoiceServerCredentials,
    /// Inactive servers get no new connections.
    pub active: bool,
}

/// A region as clients list it (`GET /voice/regions`, `GET /channels/{id}/rtc-regions`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RtcRegion {
    /// Identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Display emoji.
    pub emoji: String,
}

/// Distance on the sphere, in radians (only compared).
pub(super) fn angular_distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1) = (a.0.to_radians(), a.1.to_radians());
    let (la2, lo2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * h.sqrt().min(1.0).asin()
}

impl Fluxer {
    /// The regions clients may choose from.
    pub fn voice_regions(&self) -> Vec<RtcRegion> {
        if !self.voice_enabled() {
            return Vec::new();
        }
        let regions = self
            .voice_runtime()
            .regions
            .read()
            .map(|r| r.clone())
            .unwrap_or_default();
        regions
            .into_iter()
            .map(|r| RtcRegion {
                id: r.id,
                name: r.name,
                emoji: r.emoji,
            })
            .collect()
    }

    /// The regions a voice channel (or call) may be set to, for someone who can see it.
    pub async fn channel_rtc_regions(
        &self,
        user: UserId,
        channel: ChannelId,
    ) -> Result<Vec<RtcRegion>> {
        let access = self.channel_access(user, channel).await?;
        if !matches!(
            access.channel.kind,
            ChannelType::GuildVoice | ChannelType::Dm | ChannelType::GroupDm
        ) {
            return Err(refused(
                "INVALID_CHANNEL_TYPE",
                "This channel has no voice regions",
            ));
        }
        Ok(self.voice_regions())
    }

    /// Every region with its servers (staff change them with the `admin_*_voice_*` use-cases).
    pub fn voice_topology(&self) -> Vec<VoiceRegion> {
        self.voice_runtime()
            .regions
            .read()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// The region and server a new connection goes to: the requested region if it has an active
    /// server, else the one nearest the client, else the default, else the first.
    pub(super) fn pick_server(
        &self,
        requested: Option<&str>,
        position: Option<(f64, f64)>,
    ) -> Result<(String, VoiceServer)> {
        let regions = self
            .voice_runtime()
            .regions
            .read()
            .map_err(|_| Error::Internal("voice regions lock poisoned".into()))?;
        let usable: Vec<&VoiceRegion> = regions
            .iter()
            .filter(|r| r.servers.iter().any(|s| s.active))
            .collect();
        let chosen = requested
            .and_then(|id| usable.iter().find(|r| r.id == id))
            .or_else(|| {
                let here = position?;
                usable.iter().min_by(|a, b| {
                    angular_distance(here, (a.latitude, a.longitude))
                        .total_cmp(&angular_distance(here, (b.latitude, b.longitude)))
                })
            })
            .or_else(|| usable.iter().find(|r| r.is_default))
            .or_else(|| usable.first())
            .ok_or_else(|| refused("VOICE_TOKEN_FAILED", "No voice server is available"))?;
        let servers: Vec<&VoiceServer> = chosen.servers.iter().filter(|s| s.active).collect();
        // Spread connections over a region's servers.
        let n = usize::from_str_radix(&crate::secret::random_hex(2), 16).unwrap_or(0)
            % servers.len().max(1);
        let server = servers
            .get(n)
            .copied()
            .ok_or_else(|| refused("VOICE_TOKEN_FAILED", "No voice server is available"))?;
        Ok((chosen.id.clone(), server.clone()))
    }

    pub(super) fn server_credentials(
        &self,
        region: &str,
        server: &str,
    ) -> Option<VoiceServerCredentials> {
        let regions = self.voice_runtime().regions.read().ok()?;
        regions
            .iter()
            .find(|r| r.id == region)?
            .servers
            .iter()
            .find(|s| s.id == server)
            .map(|s| s.credentials.clone())
    }
}
