//! The [`DomainProbe`] conformance suite: what every domain prober must refuse. (What a real
//! domain publishes is each implementation's own test.)

use std::sync::Arc;

use crate::ports::DomainProbe;

/// Generates one test per [`DomainProbe`] case; see [`crate::testing`]. The factory builds a
/// prober with its production settings (no address allowed beyond the public ones).
#[macro_export]
macro_rules! domain_probe_conformance_tests {
    ($($factory:tt)+) => {
        $crate::__conformance_tests!(domains, domain_probe_conformance, [$($factory)+], [
            what_is_no_name_is_never_looked_up,
            private_addresses_are_never_fetched,
        ]);
    };
}

/// Names with ports, paths, spaces or credentials, and the empty name, have no records and no file.
pub async fn what_is_no_name_is_never_looked_up(probe: Arc<dyn DomainProbe>) {
    for name in [
        "",
        "example.com/evil",
        "example.com:8080",
        "user@example.com",
        "exa mple.com",
        "example.com?x=1",
        "example.com#top",
    ] {
        assert!(probe.txt_records(name).await.is_empty(), "{name}");
        assert!(probe.verification_file(name).await.is_none(), "{name}");
    }
}

/// Loopback, private, link-local (cloud metadata) and unspecified addresses serve no file, given as
/// the domain itself or as a name that resolves to one.
pub async fn private_addresses_are_never_fetched(probe: Arc<dyn DomainProbe>) {
    for domain in [
        "127.0.0.1",
        "localhost",
        "10.0.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
    ] {
        assert!(probe.verification_file(domain).await.is_none(), "{domain}");
    }
}
