//! Conformance suites: one per port, run by every adapter of that port (feature `testing`).
//!
//! Each suite is a set of `pub async fn case(backend: Arc<dyn Port>)` functions that assert the port's
//! observable contract, and a macro that generates one `#[tokio::test]` per case. An adapter's test file
//! invokes the macro once with an expression that builds a fresh backend; it is evaluated anew for
//! every case. The expression may be an `async` block (awaited) or a plain value:
//!
//! ```ignore
//! use std::sync::Arc;
//! use fluxer_core::ports::Store;
//!
//! fluxer_core::storage_conformance_tests!(async { Arc::new(MyStore::open_temp().await) as Arc<dyn Store> });
//! fluxer_core::cache_conformance_tests!(Arc::new(MyCache::new()));
//! ```
//!
//! The generated tests sit in a module named after the suite (`storage_conformance`, ...) that sees the
//! invoking module's items. They use `#[tokio::test(flavor = "multi_thread")]`, so the adapter's test
//! crate needs `tokio` with the `macros` and `rt-multi-thread` features. To run a suite against two
//! configurations of one backend in the same file, invoke the macro once inside each of two modules.
//!
//! A backend is done when its suites pass.

pub mod blob;
pub mod bluesky;
pub mod cache;
pub mod domains;
pub mod events;
pub mod fixtures;
pub mod fuzz;
pub mod gifs;
pub mod people;
pub mod presence;
pub mod push;
pub mod queue;
pub mod search;
pub mod sso;
pub mod storage;
mod storage_accounts;
mod storage_admin;
mod storage_channels;
mod storage_discovery;
mod storage_guilds;
mod storage_invites;
mod storage_messages;
mod storage_oauth2;
mod storage_packs;
mod storage_reactions;
mod storage_reports;
mod storage_sso;
mod storage_webauthn;
pub mod unfurl;
pub mod voice;
pub mod voice_states;

/// Generates the tests of one suite; the public `*_conformance_tests!` macros call it.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    (@emit $suite:ident, $module:ident, $factory:tt, [$($case:ident),* $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = $factory.await;
                    $crate::testing::$suite::$case(backend).await;
                }
            )*
        }
    };
    ($suite:ident, $module:ident, [async move $body:block], $cases:tt) => {
        $crate::__conformance_tests!(@emit $suite, $module, (async move $body), $cases);
    };
    ($suite:ident, $module:ident, [async $body:block], $cases:tt) => {
        $crate::__conformance_tests!(@emit $suite, $module, (async $body), $cases);
    };
    ($suite:ident, $module:ident, [$factory:expr], $cases:tt) => {
        $crate::__conformance_tests!(@emit $suite, $module, (async { $factory }), $cases);
    };
}
