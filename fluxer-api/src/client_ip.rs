//! Who the client is: the socket's peer, or, behind trusted reverse proxies, the nearest
//! `X-Forwarded-For` hop that is not one of them. Rate limits, connection bounds and logs all ask
//! [`ClientIp`].

use std::net::IpAddr;

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};

/// Which proxies may say who the client is, in `X-Forwarded-For`.
#[derive(Debug, Clone, Default)]
pub struct ClientIp {
    /// Peers whose `X-Forwarded-For` is believed. Empty: the socket's peer is the client.
    pub trusted_proxies: Vec<IpNet>,
}

/// An address range (`10.0.0.0/8`, `::1/128`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}` has a prefix length outside 0..={max}"))?,
            None => max,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl IpNet {
    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 form).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (canonical(self.addr), ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses as the IPv4 address they carry, so one client has one key.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl ClientIp {
    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(ip))
    }

    /// Whether the request came straight from a trusted proxy, whose headers (`X-Forwarded-For`,
    /// a CDN's `CF-IPCountry`) may then be believed.
    pub fn from_trusted_proxy(&self, extensions: &Extensions) -> bool {
        extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .is_some_and(|c| self.trusted(canonical(c.0.ip())))
    }

    /// The client's address for a request whose server inserted `ConnectInfo<SocketAddr>` (the
    /// peer), as [`ClientIp::resolve`] decides it.
    pub fn of(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        self.resolve(peer, headers)
    }

    /// The client's address: the peer, unless the peer is a trusted proxy; then the nearest
    /// `X-Forwarded-For` hop that is not a trusted proxy (hops further left are the client's word).
    pub fn resolve(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer.map(canonical)?;
        if !self.trusted(peer) {
            return Some(peer);
        }
        // Several header lines are one list in order (RFC 9110 §5.3): the nearest hop is the last
        // entry of the last line, whichever proxy added it. A line that is not text ends the walk.
        let mut hops = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(value) = value.to_str() else {
                hops.clear();
                hops.push(None);
                continue;
            };
            hops.extend(
                value
                    .split(',')
                    .map(|hop| hop.trim().parse::<IpAddr>().ok()),
            );
        }
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            let Some(hop) = hop else {
                return Some(client);
            };
            client = canonical(hop);
            if !self.trusted(client) {
                return Some(client);
            }
        }
        Some(client)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn ranges_parse_and_contain() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.200.1.2".parse().unwrap()));
        assert!(net.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let one: IpNet = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("::2".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "1.2.3.4/x", "::/129"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let none = ClientIp::default();
        // No trusted proxy: the header is the client's word, ignored.
        assert_eq!(
            none.resolve(Some(client), &forwarded("198.51.100.1")),
            Some(client)
        );
        let trusting = ClientIp {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        };
        assert_eq!(
            trusting.resolve(Some(proxy), &forwarded("198.51.100.1")),
            Some("198.51.100.1".parse().unwrap())
        );
        // A client that forges a hop in front of the proxy's own gets its real address counted.
        assert_eq!(
            trusting.resolve(Some(proxy), &forwarded("1.1.1.1, 203.0.113.9, 10.0.0.7")),
            Some(client)
        );
        // A proxy that adds its own header line instead of appending: the client's forged line
        // comes first, the nearest hop is the last line's last entry.
        let mut two_lines = HeaderMap::new();
        two_lines.append("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        two_lines.append("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        assert_eq!(trusting.resolve(Some(proxy), &two_lines), Some(client));
        // Not from the proxy: the header is ignored.
        assert_eq!(
            trusting.resolve(Some(client), &forwarded("1.1.1.1")),
            Some(client)
        );
        // Garbage in the header stops at the last good hop.
        assert_eq!(
            trusting.resolve(Some(proxy), &forwarded("junk")),
            Some(proxy)
        );
        assert_eq!(trusting.resolve(None, &HeaderMap::new()), None);
    }
}
