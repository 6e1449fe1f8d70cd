//! Guild state shared by every session of this process: the guild, its roles and its channels, loaded
//! once per guild and spread over `guild_shards` locks. Sessions keep only their own member record and
//! compute visibility from this shared state; the state is dropped when an event changes it and loaded
//! again on next use.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use fluxer_core::id::{ChannelId, GuildId};
use fluxer_core::model::{Channel, Guild, Role};
use fluxer_core::service::Fluxer;

/// What every member of a guild shares.
pub(crate) struct SharedGuild {
    /// The slot generation this state was loaded at (see [`GuildCache::loaded_generation`]).
    pub generation: u64,
    pub guild: Guild,
    pub roles: Vec<Role>,
    pub channels: HashMap<ChannelId, Channel>,
}

impl SharedGuild {
    /// The size of the guild, its roles and its channels as JSON: an estimate of the memory the
    /// state takes.
    pub(crate) fn approximate_bytes(&self) -> usize {
        json_len(&self.guild)
            + self.roles.iter().map(json_len).sum::<usize>()
            + self.channels.values().map(json_len).sum::<usize>()
    }
}

fn json_len<T: serde::Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(0, |bytes| bytes.len())
}

/// A guild's slot: its state when loaded, and a generation bumped by every invalidation, so a load that
/// raced with an invalidation does not store stale state.
#[derive(Default)]
struct Slot {
    generation: u64,
    state: Option<Arc<SharedGuild>>,
}

type Shard = RwLock<HashMap<GuildId, Slot>>;

pub(crate) struct GuildCache {
    shards: Vec<Shard>,
}

impl GuildCache {
    /// `shards` locks (0: one per available CPU).
    pub(crate) fn new(shards: usize) -> Self {
        let n = if shards == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            shards
        };
        GuildCache {
            shards: (0..n).map(|_| RwLock::new(HashMap::new())).collect(),
        }
    }

    /// How many guilds are loaded.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .values()
                    .filter(|slot| slot.state.is_some())
                    .count()
            })
            .sum()
    }

    /// Every loaded guild's state.
    pub(crate) fn loaded(&self) -> Vec<Arc<SharedGuild>> {
        self.shards
            .iter()
            .flat_map(|s| {
                s.read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .values()
                    .filter_map(|slot| slot.state.clone())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn shard(&self, guild: GuildId) -> &Shard {
        let raw = guild.get();
        &self.shards[(raw ^ (raw >> 22)) as usize % self.shards.len()]
    }

    /// The guild's shared state, loading it if needed; `None` when the guild is gone.
    pub(crate) async fn get(
        &self,
        fluxer: &Fluxer,
        guild: GuildId,
    ) -> fluxer_core::Result<Option<Arc<SharedGuild>>> {
        let generation = {
            let shard = self
                .shard(guild)
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match shard.get(&guild) {
                Some(Slot {
                    state: Some(state), ..
                }) => return Ok(Some(state.clone())),
                Some(slot) => slot.generation,
                None => 0,
            }
        };
        let Some(view) = fluxer.guild_view(guild).await? else {
            return Ok(None);
        };
        let loaded = Arc::new(SharedGuild {
            generation,
            guild: view.guild,
            roles: view.roles,
            channels: view.channels.into_iter().map(|c| (c.id, c)).collect(),
        });
        if let Ok(mut shard) = self.shard(guild).write() {
            let slot = shard.entry(guild).or_default();
            if slot.generation == generation {
                slot.state = Some(loaded.clone());
            }
        }
        Ok(Some(loaded))
    }

    /// The generation of the guild's state if it is loaded: sessions memoize what they computed from a
    /// state and reuse it while the generation holds, without touching the state itself.
    pub(crate) fn loaded_generation(&self, guild: GuildId) -> Option<u64> {
        let shard = self.shard(guild).read().ok()?;
        shard
            .get(&guild)
            .filter(|slot| slot.state.is_some())
            .map(|slot| slot.generation)
    }

    /// Forgets a guild's state after an event changed it.
    pub(crate) fn invalidate(&self, guild: GuildId) {
        if let Ok(mut shard) = self.shard(guild).write() {
            let slot = shard.entry(guild).or_default();
            slot.generation += 1;
            slot.state = None;
        }
    }
}
