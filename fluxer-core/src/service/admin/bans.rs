//! Instance-wide bans on IP addresses (and ranges), email addresses and phone numbers
//! (`/admin/bans/{ip,email,phone}/*`). A banned IP gets no answer but 403 `IP_BANNED`; a banned
//! email cannot register, log in or be set on an account.
//!
//! Every request asks whether its IP is banned, so the bans are read from a snapshot in memory,
//! not from the database: it is reloaded when this process changes a ban, and at most
//! [`BAN_REFRESH_MS`] after another node did.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

use super::{AdminAction, AdminPrincipal};
use crate::error::{Error, Result};
use crate::model::{InstanceBan, InstanceBanKind, acl};
use crate::ports::PrivateDocument;
use crate::service::Fluxer;
use crate::time::Timestamp;
use crate::validation::is_valid_email;

/// How stale the in-memory snapshot of bans may get before it is read again (changes made on
/// other nodes of a cluster take this long to apply here).
pub const BAN_REFRESH_MS: i64 = 10_000;
/// Most bans one list returns (upstream's limit).
pub const MAX_BAN_LIST: u32 = 500;

/// An IP range: the network address (host bits zero) and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct IpRange {
    net: IpAddr,
    prefix: u8,
}

/// An IPv4-mapped IPv6 address as its IPv4 form.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn masked(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

impl IpRange {
    /// `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or range; `None` if malformed. A full-length
    /// prefix is one address.
    fn parse(s: &str) -> Option<IpRange> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = canonical_ip(addr.parse().ok()?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|p| *p <= max)?
            }
            Some(_) => return None,
            None => max,
        };
        Some(IpRange {
            net: masked(addr, prefix),
            prefix,
        })
    }

    fn is_single(&self) -> bool {
        self.prefix == if self.net.is_ipv4() { 32 } else { 128 }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        ip.is_ipv4() == self.net.is_ipv4() && masked(ip, self.prefix) == self.net
    }

    /// The canonical text: the address alone for one address, else `net/prefix`.
    fn canonical(&self) -> String {
        if self.is_single() {
            self.net.to_string()
        } else {
            format!("{}/{}", self.net, self.prefix)
        }
    }
}

/// The canonical form of a ban's value, or a 400 naming the field.
fn normalize(kind: InstanceBanKind, raw: &str) -> Result<String> {
    let raw = raw.trim();
    match kind {
        InstanceBanKind::Ip => IpRange::parse(raw).map(|r| r.canonical()).ok_or_else(|| {
            Error::field(
                "ip",
                "INVALID_IP_ADDRESS",
                "Not a valid IPv4/IPv6 address or CIDR range.",
            )
        }),
        InstanceBanKind::Email => {
            let email = raw.to_lowercase();
            if is_valid_email(&email) {
                Ok(email)
            } else {
                Err(Error::field(
                    "email",
                    "EMAIL_TYPE_INVALID_EMAIL",
                    "Not a well formed email address.",
                ))
            }
        }
        InstanceBanKind::Phone => {
            let phone: String = raw
                .chars()
                .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
                .collect();
            let digits = phone.strip_prefix('+').unwrap_or("");
            if (7..=15).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0')
            {
                Ok(phone)
            } else {
                Err(Error::field(
                    "phone",
                    "PHONE_NUMBER_INVALID",
                    "Not a valid phone number in E.164 format (+ and 7-15 digits).",
                ))
            }
        }
    }
}

/// The document key of a ban: 63 bits of the SHA-256 of its kind and canonical value.
fn ban_key(kind: InstanceBanKind, value: &str) -> u64 {
    let digest = Sha256::digest(format!("{}:{value}", kind.as_str()).as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) >> 1
}

/// The bans as the checks read them.
#[derive(Debug, Default)]
pub(crate) struct BanSnapshot {
    ips: HashSet<IpAddr>,
    ranges: Vec<IpRange>,
    emails: HashSet<String>,
    phones: HashSet<String>,
}

impl BanSnapshot {
    fn of(bans: &[InstanceBan]) -> Self {
        let mut snap = BanSnapshot::default();
        for ban in bans {
            match ban.kind {
                InstanceBanKind::Ip => match IpRange::parse(&ban.value) {
                    Some(r) if r.is_single() => {
                        snap.ips.insert(r.net);
                    }
                    Some(r) => snap.ranges.push(r),
                    None => {}
                },
                InstanceBanKind::Email => {
                    snap.emails.insert(ban.value.clone());
                }
                InstanceBanKind::Phone => {
                    snap.phones.insert(ban.value.clone());
                }
            }
        }
        snap
    }

    fn ip_banned(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.ips.contains(&ip) || self.ranges.iter().any(|r| r.contains(ip))
    }
}

/// The process's snapshot of the bans and when it was read; `None` until first read or after a
/// local change.
#[derive(Default)]
pub(crate) struct BanCache {
    snapshot: RwLock<Option<(Timestamp, Arc<BanSnapshot>)>>,
}

impl BanCache {
    fn fresh(&self, now: Timestamp) -> Option<Arc<BanSnapshot>> {
        let guard = self.snapshot.read().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .filter(|(at, _)| now.ms_since(*at) < BAN_REFRESH_MS)
            .map(|(_, snap)| snap.clone())
    }

    fn store(&self, at: Timestamp, snap: Arc<BanSnapshot>) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Some((at, snap));
    }

    fn invalidate(&self) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Fluxer {
    async fn ban_snapshot(&self) -> Result<Arc<BanSnapshot>> {
        let now = self.now();
        if let Some(snap) = self.inner.instance_bans.fresh(now) {
            return Ok(snap);
        }
        let bans: Vec<InstanceBan> = self
            .instance_docs::<InstanceBan>(PrivateDocument::InstanceBan)
            .await?
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        let snap = Arc::new(BanSnapshot::of(&bans));
        self.inner.instance_bans.store(now, snap.clone());
        Ok(snap)
    }

    /// Whether requests from `ip` are refused (it or a range holding it is banned). Answered from
    /// memory; the database is read at most every [`BAN_REFRESH_MS`].
    pub async fn is_ip_banned(&self, ip: IpAddr) -> Result<bool> {
        Ok(self.ban_snapshot().await?.ip_banned(ip))
    }

    /// Whether `email` (compared lower-cased) is banned.
    pub async fn is_email_banned(&self, email: &str) -> Result<bool> {
        Ok(self
            .ban_snapshot()
            .await?
            .emails
            .contains(&email.trim().to_lowercase()))
    }

    /// 403 `IP_BANNED` when `ip` is banned; nothing when there is no IP.
    pub async fn refuse_banned_ip(&self, ip: Option<IpAddr>) -> Result<()> {
        match ip {
            Some(ip) if self.is_ip_banned(ip).await? => Err(ip_banned()),
            _ => Ok(()),
        }
    }

    /// Bans `value` (`ban:<kind>:add`). Banning what is banned already changes nothing but is
    /// logged again.
    pub async fn add_instance_ban(
        &self,
        who: &AdminPrincipal,
        kind: InstanceBanKind,
        value: &str,
    ) -> Result<()> {
        who.require(ban_acl(kind, BanOp::Add))?;
        let value = normalize(kind, value)?;
        let ban = InstanceBan {
            kind,
            value: value.clone(),
            created_by: who.id(),
            created_at: self.now(),
        };
        self.put_instance_doc(
            PrivateDocument::InstanceBan,
            ban_key(kind, &value),
            Some(&ban),
        )
        .await?;
        self.inner.instance_bans.invalidate();
        self.record_admin_action(
            who,
            AdminAction::new(&format!("ban.{}.add", kind.as_str()), kind.as_str(), &value),
        )
        .await
    }

    /// Lifts a ban of `value` (`ban:<kind>:remove`); lifting one that does not exist is not an
    /// error (upstream answers 204 either way) but is logged.
    pub async fn remove_instance_ban(
        &self,
        who: &AdminPrincipal,
        kind: InstanceBanKind,
        value: &str,
    ) -> Result<()> {
        who.require(ban_acl(kind, BanOp::Remove))?;
        let value = normalize(kind, value)?;
        let key = ban_key(kind, &value);
        let existed = self
            .instance_doc::<InstanceBan>(PrivateDocument::InstanceBan, key)
            .await?
            .is_some();
        self.put_instance_doc::<InstanceBan>(PrivateDocument::InstanceBan, key, None)
            .await?;
        self.inner.instance_bans.invalidate();
        self.record_admin_action(
            who,
            AdminAction::new(
                &format!("ban.{}.remove", kind.as_str()),
                kind.as_str(),
                &value,
            )
            .with("existed", existed),
        )
        .await
    }

    /// Whether `value` is banned (`ban:<kind>:check`); for an IP, whether any ban covers it.
    pub async fn check_instance_ban(
        &self,
        who: &AdminPrincipal,
        kind: InstanceBanKind,
        value: &str,
    ) -> Result<bool> {
        who.require(ban_acl(kind, BanOp::Check))?;
        let value = normalize(kind, value)?;
        // Read through to the database: a check must not answer from a stale snapshot.
        self.inner.instance_bans.invalidate();
        let snap = self.ban_snapshot().await?;
        Ok(match kind {
            InstanceBanKind::Ip => match IpRange::parse(&value) {
                Some(r) if r.is_single() => snap.ip_banned(r.net),
                Some(r) => snap.ranges.contains(&r),
                None => false,
            },
            InstanceBanKind::Email => snap.emails.contains(&value),
            InstanceBanKind::Phone => snap.phones.contains(&value),
        })
    }

    /// Up to `limit` (1-500, default 500) bans of a kind, newest first (`ban:<kind>:check`).
    pub async fn list_instance_bans(
        &self,
        who: &AdminPrincipal,
        kind: InstanceBanKind,
        limit: Option<u32>,
    ) -> Result<Vec<InstanceBan>> {
        who.require(ban_acl(kind, BanOp::Check))?;
        let limit = limit.unwrap_or(MAX_BAN_LIST);
        if !(1..=MAX_BAN_LIST).contains(&limit) {
            return Err(Error::field(
                "limit",
                "NUMBER_TYPE_OUT_OF_RANGE",
                "Must be between 1 and 500.",
            ));
        }
        let mut bans: Vec<InstanceBan> = self
            .instance_docs::<InstanceBan>(PrivateDocument::InstanceBan)
            .await?
            .into_iter()
            .map(|(_, b)| b)
            .filter(|b| b.kind == kind)
            .collect();
        bans.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.value.cmp(&b.value)));
        bans.truncate(limit as usize);
        Ok(bans)
    }
}

/// 403 `IP_BANNED`.
pub fn ip_banned() -> Error {
    Error::forbidden("IP_BANNED", "Requests from this address are not accepted.")
}

enum BanOp {
    Add,
    Remove,
    Check,
}

fn ban_acl(kind: InstanceBanKind, op: BanOp) -> &'static str {
    match (kind, op) {
        (InstanceBanKind::Ip, BanOp::Add) => acl::BAN_IP_ADD,
        (InstanceBanKind::Ip, BanOp::Remove) => acl::BAN_IP_REMOVE,
        (InstanceBanKind::Ip, BanOp::Check) => acl::BAN_IP_CHECK,
        (InstanceBanKind::Email, BanOp::Add) => acl::BAN_EMAIL_ADD,
        (InstanceBanKind::Email, BanOp::Remove) => acl::BAN_EMAIL_REMOVE,
        (InstanceBanKind::Email, BanOp::Check) => acl::BAN_EMAIL_CHECK,
        (InstanceBanKind::Phone, BanOp::Add) => acl::BAN_PHONE_ADD,
        (InstanceBanKind::Phone, BanOp::Remove) => acl::BAN_PHONE_REMOVE,
        (InstanceBanKind::Phone, BanOp::Check) => acl::BAN_PHONE_CHECK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_values_are_canonical() {
        let ip = |s| normalize(InstanceBanKind::Ip, s).ok();
        assert_eq!(ip(" 203.0.113.7 "), Some("203.0.113.7".to_owned()));
        assert_eq!(ip("203.0.113.7/24"), Some("203.0.113.0/24".to_owned()));
        assert_eq!(ip("::ffff:203.0.113.7"), Some("203.0.113.7".to_owned()));
        assert_eq!(ip("2001:db8::1/32"), Some("2001:db8::/32".to_owned()));
        assert_eq!(ip("203.0.113.7/33"), None);
        assert_eq!(ip("203.0.113.7/"), None);
        assert_eq!(ip("not an ip"), None);
    }

    #[test]
    fn ranges_cover_their_addresses_only() {
        let snap = BanSnapshot::of(&[
            InstanceBan {
                kind: InstanceBanKind::Ip,
                value: "198.51.100.0/24".to_owned(),
                created_by: crate::id::UserId::new(1),
                created_at: Timestamp::from_unix_ms(0),
            },
            InstanceBan {
                kind: InstanceBanKind::Ip,
                value: "2001:db8::5".to_owned(),
                created_by: crate::id::UserId::new(1),
                created_at: Timestamp::from_unix_ms(0),
            },
        ]);
        assert!(snap.ip_banned("198.51.100.200".parse().unwrap()));
        assert!(snap.ip_banned("::ffff:198.51.100.1".parse().unwrap()));
        assert!(!snap.ip_banned("198.51.101.1".parse().unwrap()));
        assert!(snap.ip_banned("2001:db8::5".parse().unwrap()));
        assert!(!snap.ip_banned("2001:db8::6".parse().unwrap()));
    }

    #[test]
    fn emails_and_phones_normalize() {
        assert_eq!(
            normalize(InstanceBanKind::Email, " Bad@Example.TEST ").ok(),
            Some("bad@example.test".to_owned())
        );
        assert!(normalize(InstanceBanKind::Email, "nope").is_err());
        assert_eq!(
            normalize(InstanceBanKind::Phone, "+1 (555) 010-9999").ok(),
            Some("+15550109999".to_owned())
        );
        assert!(normalize(InstanceBanKind::Phone, "5550109999").is_err());
        assert!(normalize(InstanceBanKind::Phone, "+0123456789").is_err());
    }
}
