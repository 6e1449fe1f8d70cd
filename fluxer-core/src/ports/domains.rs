use async_trait::async_trait;

/// What a domain publishes about itself, read to prove that a user controls it (a `domain`
/// connection): its DNS TXT records and its verification file. The domain decides what counts as
/// proof; an implementation only looks.
///
/// An implementation never fetches from a private, loopback or link-local address (unless its
/// operator allowed one explicitly, as tests do), and never fails: what it cannot read (no such
/// name, a timeout, an error status) is absent.
#[async_trait]
pub trait DomainProbe: Send + Sync {
    /// The TXT records at `name` (`_fluxer.example.com`), each record's strings joined; empty
    /// when there are none or the lookup fails.
    async fn txt_records(&self, name: &str) -> Vec<String>;
    /// The body of `domain`'s verification file (`https://{domain}/.well-known/fluxer-verification`)
    /// when it answers with a success status, as text; `None` otherwise.
    async fn verification_file(&self, domain: &str) -> Option<String>;
}
