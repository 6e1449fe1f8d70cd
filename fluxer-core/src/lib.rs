//! # fluxer-core
//!
//! The pure domain of Fluxer, an open, self-hostable chat platform: entities and their wire shapes,
//! snowflake IDs, permissions, validation, the use-cases ([`service::Fluxer`]) and the [`ports`] that
//! storage, queue, search, blob, cache, presence, event-bus and mail backends implement.
//!
//! This crate performs no I/O of its own: no web framework, database driver or network client, and it
//! starts no runtime. Hosts wire adapters (from `fluxer-storage` or their own) into [`service::Fluxer`] and
//! call its methods; the HTTP API and the gateway are thin layers over it.
//!
//! ```
//! use fluxer_core::permission::{channel_permissions, MemberContext, Permissions};
//! use fluxer_core::id::{RoleId, UserId};
//!
//! let member = MemberContext {
//!     user_id: UserId::new(2),
//!     owner_id: UserId::new(1),
//!     everyone: Permissions::DEFAULT,
//!     roles: &[],
//!     timed_out: false,
//! };
//! let perms = channel_permissions(&member, RoleId::new(100), &[]);
//! assert!(perms.contains(Permissions::SEND_MESSAGES));
//! ```

pub mod error;
pub mod id;
pub mod model;
pub mod permission;
pub mod ports;
pub mod secret;
pub mod service;
pub mod telemetry;
pub mod time;
pub mod validation;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, Result, StoreError};
