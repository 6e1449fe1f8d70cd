//! What a node does: one or more of the API, the gateway, the worker, the media proxy and the S3
//! endpoint.

use std::fmt;
use std::str::FromStr;

/// One part of the platform a node can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// The REST API.
    Api,
    /// The WebSocket gateway.
    Gateway,
    /// The job runner and its schedule.
    Worker,
    /// The media proxy.
    Media,
    /// The S3-compatible endpoint.
    S3,
}

impl Role {
    /// Every role, in the order they are listed.
    pub const ALL: [Role; 5] = [
        Role::Api,
        Role::Gateway,
        Role::Worker,
        Role::Media,
        Role::S3,
    ];

    /// The role's name on the command line and in logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Gateway => "gateway",
            Role::Worker => "worker",
            Role::Media => "media",
            Role::S3 => "s3",
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected api, gateway, worker, media or s3)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A set of roles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Roles(u8);

impl Roles {
    /// Every role: the monolith.
    pub const ALL: Roles = Roles(0b1_1111);

    /// No role.
    pub const NONE: Roles = Roles(0);

    /// One role alone.
    pub const fn only(role: Role) -> Roles {
        Roles(role.bit())
    }

    /// This set with `role` added.
    pub const fn with(self, role: Role) -> Roles {
        Roles(self.0 | role.bit())
    }

    /// Whether `role` is in the set.
    pub const fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The roles in the set, in [`Role::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl FromIterator<Role> for Roles {
    fn from_iter<I: IntoIterator<Item = Role>>(roles: I) -> Roles {
        roles.into_iter().fold(Roles::NONE, Roles::with)
    }
}

impl fmt::Display for Roles {
    /// `api+gateway`, or `all`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Roles::ALL {
            return f.write_str("all");
        }
        let names: Vec<&str> = self.iter().map(Role::as_str).collect();
        f.write_str(&names.join("+"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_combine_and_print() {
        let roles: Roles = ["gateway", "api"]
            .iter()
            .map(|s| s.parse::<Role>().unwrap())
            .collect();
        assert!(roles.contains(Role::Api) && roles.contains(Role::Gateway));
        assert!(!roles.contains(Role::Worker));
        assert_eq!(roles.to_string(), "api+gateway");
        assert_eq!(Role::ALL.into_iter().collect::<Roles>(), Roles::ALL);
        assert_eq!(Roles::ALL.to_string(), "all");
        assert_eq!(
            "queue".parse::<Role>(),
            Err(UnknownRole("queue".to_owned()))
        );
    }
}
