//! The member sidebar of a channel, as upstream's clients lay it out: the members who can see the
//! channel, online ones grouped under their highest hoisted role (or "online"), offline ones under
//! "offline", each group sorted by display name. The gateway keeps clients' lists current with it
//! (op 14, `GUILD_MEMBER_LIST_UPDATE`).

use serde::Serialize;

use super::{Fluxer, member_channel_permissions};
use crate::error::Result;
use crate::id::{ChannelId, GuildId, RoleId, UserId};
use crate::model::{MemberResponse, PresenceResponse, UserPartial};
use crate::permission::Permissions;
use crate::ports::Status;

/// A channel's member list at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sidebar {
    /// The guild.
    pub guild_id: GuildId,
    /// The channel whose viewers are listed.
    pub channel_id: ChannelId,
    /// Members who can view the channel.
    pub member_count: u64,
    /// Those of them online.
    pub online_count: u64,
    /// Every group, in order, with its size (empty groups included).
    pub groups: Vec<SidebarGroup>,
    /// The rows: each non-empty group's header followed by its members.
    pub rows: Vec<SidebarRow>,
}

/// A group of the sidebar: a hoisted role's ID, `online` or `offline`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SidebarGroup {
    /// The group's ID.
    pub id: String,
    /// How many members it holds.
    pub count: u64,
}

/// One row of the sidebar: a group header or a member (`{group}` or `{member}` on the wire).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SidebarRow {
    /// A group's header.
    Group(SidebarGroup),
    /// A member under the last header.
    Member(Box<SidebarMember>),
}

/// A member row: the member with its user and presence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SidebarMember {
    /// The member, with its full user.
    #[serde(flatten)]
    pub member: MemberResponse,
    /// Its presence (offline when not connected).
    pub presence: SidebarPresence,
}

/// A member row's presence: what others see, with the user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SidebarPresence {
    /// The member's user.
    pub user: UserPartial,
    /// What others see: invisible members are offline.
    pub status: Status,
    /// Away from keyboard.
    pub afk: bool,
    /// On a mobile client.
    pub mobile: bool,
    /// The custom status; `null` when none (or offline).
    pub custom_status: Option<serde_json::Value>,
}

impl SidebarRow {
    /// What identifies the row across versions of a list: a header by its group, a member by
    /// its group and user (a member changing group is removed and inserted).
    pub fn key(&self, group: &str) -> (String, Option<UserId>) {
        match self {
            SidebarRow::Group(g) => (g.id.clone(), None),
            SidebarRow::Member(m) => (group.to_owned(), Some(m.member.user.id)),
        }
    }
}

impl Sidebar {
    /// Each row's key (see [`SidebarRow::key`]), in order.
    pub fn keys(&self) -> Vec<(String, Option<UserId>)> {
        let mut group = String::new();
        self.rows
            .iter()
            .map(|row| {
                if let SidebarRow::Group(g) = row {
                    group.clone_from(&g.id);
                }
                row.key(&group)
            })
            .collect()
    }
}

impl Fluxer {
    /// The sidebar of `channel_id` in `guild_id`; `None` when either is gone.
    pub async fn sidebar(
        &self,
        guild_id: GuildId,
        channel_id: ChannelId,
    ) -> Result<Option<Sidebar>> {
        let Some(view) = self.guild_view(guild_id).await? else {
            return Ok(None);
        };
        let Some(channel) = view.channels.iter().find(|c| c.id == channel_id) else {
            return Ok(None);
        };
        let now = self.now();
        // Hoisted roles, highest first (by `hoist_position` where set, as clients sort them).
        let mut hoisted: Vec<(i32, RoleId)> = view
            .roles
            .iter()
            .filter(|r| r.hoist && !r.is_everyone())
            .map(|r| (r.hoist_position.unwrap_or(r.position), r.id))
            .collect();
        hoisted.sort_by(|a, b| b.cmp(a));
        let rank = |roles: &[RoleId]| hoisted.iter().position(|(_, id)| roles.contains(id));

        // (group index, sort name, user id, row) for every viewer.
        let online_group = hoisted.len();
        let offline_group = hoisted.len() + 1;
        let mut entries: Vec<(usize, String, UserId, SidebarMember)> = Vec::new();
        let mut after = None;
        loop {
            let page = self.store().list_members(guild_id, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.user_id);
            let viewers: Vec<_> = page
                .iter()
                .filter(|m| {
                    member_channel_permissions(&view.guild, &view.roles, m, channel, now)
                        .contains(Permissions::VIEW_CHANNEL)
                })
                .collect();
            let ids: Vec<UserId> = viewers.iter().map(|m| m.user_id).collect();
            let users = self.user_partials(&ids).await?;
            let presences = self.presences(&ids).await?;
            for (m, p) in viewers.iter().zip(presences) {
                let Some(user) = users.get(&m.user_id) else {
                    continue;
                };
                let presence = PresenceResponse::of(&p, Some(guild_id));
                let group = if p.status.public() == Status::Offline {
                    offline_group
                } else {
                    rank(&m.roles).unwrap_or(online_group)
                };
                let name = m
                    .nick
                    .clone()
                    .or_else(|| user.global_name.clone())
                    .unwrap_or_else(|| user.username.clone())
                    .to_lowercase();
                entries.push((
                    group,
                    name,
                    m.user_id,
                    SidebarMember {
                        member: m.response(user.clone()),
                        presence: SidebarPresence {
                            user: user.clone(),
                            status: presence.status,
                            afk: presence.afk,
                            mobile: presence.mobile,
                            custom_status: presence.custom_status,
                        },
                    },
                ));
            }
            if page.len() < 1000 {
                break;
            }
        }
        entries.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));

        let group_id = |i: usize| match i {
            i if i < online_group => hoisted[i].1.to_string(),
            i if i == online_group => "online".to_owned(),
            _ => "offline".to_owned(),
        };
        let mut groups: Vec<SidebarGroup> = (0..=offline_group)
            .map(|i| SidebarGroup {
                id: group_id(i),
                count: 0,
            })
            .collect();
        for e in &entries {
            groups[e.0].count += 1;
        }
        let mut rows = Vec::with_capacity(entries.len() + groups.len());
        let mut current = None;
        for (group, _, _, member) in entries {
            if current != Some(group) {
                rows.push(SidebarRow::Group(groups[group].clone()));
                current = Some(group);
            }
            rows.push(SidebarRow::Member(Box::new(member)));
        }
        let offline = groups[offline_group].count;
        let member_count = groups.iter().map(|g| g.count).sum::<u64>();
        Ok(Some(Sidebar {
            guild_id,
            channel_id,
            member_count,
            online_count: member_count - offline,
            groups,
            rows,
        }))
    }
}
