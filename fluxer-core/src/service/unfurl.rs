//! Link previews: the URLs in a new or edited message become embeds, as upstream does.
//!
//! At most 5 URLs per message count, in order, skipping code, `<https://...>` (the writer's
//! opt-out) and links to this instance. Previews already known (cached 30 minutes per URL) go into
//! the message at once; for the rest a job ([`Task::ExtractEmbeds`]) asks the
//! [`Unfurler`](crate::ports::Unfurler) port, caches what it finds, writes the embeds and sends
//! `MESSAGE_UPDATE` (not when the message suppresses embeds: they are stored, and shown if the flag
//! is lifted). Messages with embeds of their own, and senders without EMBED_LINKS, get none. Each
//! host is asked at most [`HOST_FETCHES`] times per [`HOST_WINDOW`], across the cluster.

use std::time::Duration;

use super::jobs::Task;
use super::{ChannelAccess, Fluxer};
use crate::error::Result;
use crate::id::{ChannelId, MessageId};
use crate::model::{Embed, Message};
use crate::permission::Permissions;
use crate::ports::EventKind;

/// URLs previewed per message.
pub const MAX_PREVIEWED_URLS: usize = 5;
/// How long a URL's preview is reused.
const CACHE_TTL: Duration = Duration::from_secs(30 * 60);
/// Fetches of one host allowed per [`HOST_WINDOW`]; past it, its URLs get no preview for now.
pub const HOST_FETCHES: u64 = 20;
/// See [`HOST_FETCHES`].
pub const HOST_WINDOW: Duration = Duration::from_secs(10);
/// How long a preview job starts new fetches: one link's fetches (page, oEmbed, image) take up to
/// 30 s, and the worker's lease is 60 s.
const JOB_BUDGET_MS: i64 = 25_000;
/// The embed types previews are made of; a message holding any other kind has embeds of its own.
const PREVIEW_KINDS: &[&str] = &["link", "image", "video", "article", "gifv"];
const SUPPRESS_EMBEDS: u32 = 1 << 2;

/// The URLs of `content` a preview is made for: absolute `http(s)` URLs outside code, not written
/// as `<url>`, not on `own_hosts` (`host:port`, lower-case), normalised (lower-case host, IDNA) and
/// without duplicates; at most [`MAX_PREVIEWED_URLS`].
pub fn extract_urls(content: &str, own_hosts: &[impl AsRef<str>]) -> Vec<String> {
    let text = strip_code(content).replace("||", " ").replace("](", " ");
    let mut out: Vec<String> = Vec::new();
    let lower = text.to_ascii_lowercase();
    let mut at = 0;
    while out.len() < MAX_PREVIEWED_URLS {
        let Some(found) = ["http://", "https://"]
            .iter()
            .filter_map(|p| lower[at..].find(p))
            .min()
        else {
            break;
        };
        let start = at + found;
        let end = text[start..]
            .find(|c: char| c.is_whitespace())
            .map_or(text.len(), |e| start + e);
        at = end;
        // `<https://...>`: the writer asked for no preview.
        if text[..start].ends_with('<') && text[start..end].ends_with('>') {
            continue;
        }
        let Some(url) = normalize(trim_trailing(&text[start..end])) else {
            continue;
        };
        let authority = match (url.host_str(), url.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            _ => continue,
        };
        if own_hosts
            .iter()
            .any(|h| h.as_ref().eq_ignore_ascii_case(&authority))
        {
            continue;
        }
        let url = url.to_string();
        if !out.contains(&url) {
            out.push(url);
        }
    }
    out
}

/// Text with fenced blocks and inline code removed.
fn strip_code(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(open) = rest.find('`') {
        out.push_str(&rest[..open]);
        let run = rest[open..].bytes().take_while(|b| *b == b'`').count();
        let fence = &rest[open..open + run];
        match rest[open + run..].find(fence) {
            Some(close) => {
                out.push(' ');
                rest = &rest[open + run + close + run..];
            }
            None => {
                out.push_str(fence);
                rest = &rest[open + run..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Drops punctuation that ends a sentence rather than the URL, and a closing bracket the URL did
/// not open (`(see https://x.y/z)`).
fn trim_trailing(url: &str) -> &str {
    let mut url = url;
    loop {
        let Some(last) = url.chars().last() else {
            return url;
        };
        let unbalanced = |open: char, close: char| {
            last == close && url.matches(close).count() > url.matches(open).count()
        };
        if matches!(
            last,
            '.' | ',' | ';' | ':' | '!' | '?' | '"' | '\'' | '>' | '*' | '_' | '~'
        ) || unbalanced('(', ')')
            || unbalanced('[', ']')
        {
            url = &url[..url.len() - last.len_utf8()];
        } else {
            return url;
        }
    }
}

fn normalize(raw: &str) -> Option<url::Url> {
    let mut url = url::Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    // Credentials are never sent anywhere.
    url.set_username("").ok()?;
    url.set_password(None).ok()?;
    url.set_fragment(None);
    Some(url)
}

/// Whether these embeds are previews (or none), not embeds the sender wrote.
pub(crate) fn only_previews(embeds: &[Embed]) -> bool {
    embeds.iter().all(|e| {
        e.kind
            .as_deref()
            .is_some_and(|k| PREVIEW_KINDS.contains(&k))
    })
}

fn cache_key(url: &str) -> String {
    format!("url-embed:{url}")
}

impl Fluxer {
    /// Where this instance is (`host:port`), whose links get no preview.
    fn own_hosts(&self) -> Vec<String> {
        [&self.config().web_url, &self.config().api_url]
            .iter()
            .filter_map(|u| {
                let url = url::Url::parse(u).ok()?;
                Some(format!(
                    "{}:{}",
                    url.host_str()?,
                    url.port_or_known_default()?
                ))
            })
            .collect()
    }

    /// Whether a message with this content, by this sender, gets previews at all.
    fn previews_wanted(&self, access: &ChannelAccess, content: &str) -> bool {
        self.ports().unfurler.is_some()
            && self.ports().queue.is_some()
            && access.permissions.contains(Permissions::EMBED_LINKS)
            && (content.contains("http://") || content.contains("https://"))
    }

    /// The previews of `content` already cached, in URL order, and whether some URL still needs
    /// the job.
    pub(crate) async fn cached_previews(
        &self,
        access: &ChannelAccess,
        content: &str,
    ) -> Result<(Vec<Embed>, bool)> {
        if !self.previews_wanted(access, content) {
            return Ok((Vec::new(), false));
        }
        let mut embeds = Vec::new();
        let mut missing = false;
        for url in extract_urls(content, &self.own_hosts()) {
            match self.cached_preview(&url).await? {
                Some(found) => embeds.extend(found),
                None => missing = true,
            }
        }
        embeds.truncate(self.limits().await?.embeds_per_message);
        Ok((embeds, missing))
    }

    async fn cached_preview(&self, url: &str) -> Result<Option<Vec<Embed>>> {
        let cached = self.ports().cache.get(&cache_key(url)).await?;
        Ok(cached
            .and_then(|bytes| serde_json::from_slice::<Vec<Embed>>(&bytes).ok())
            .filter(|e| !e.is_empty()))
    }

    /// Queues the job that previews the message's uncached URLs.
    pub(crate) async fn preview_later(&self, message: &Message) -> Result<()> {
        self.enqueue(Task::ExtractEmbeds {
            channel_id: message.channel_id,
            message_id: message.id,
        })
        .await
    }

    /// The job: previews the message's URLs (cached ones reused, the rest fetched), and if that
    /// changes its embeds, stores them (not an edit: no `edited_timestamp`) and sends
    /// `MESSAGE_UPDATE` unless embeds are suppressed.
    pub(crate) async fn extract_embeds(&self, channel: ChannelId, id: MessageId) -> Result<()> {
        let Some(unfurler) = self.ports().unfurler.clone() else {
            return Ok(());
        };
        let Some(message) = self.store().get_message(channel, id).await? else {
            return Ok(());
        };
        if !only_previews(&message.embeds) {
            return Ok(());
        }
        let mut embeds = Vec::new();
        let started = self.now();
        for url in extract_urls(&message.content, &self.own_hosts()) {
            if let Some(found) = self.cached_preview(&url).await? {
                embeds.extend(found);
                continue;
            }
            // Within the worker's lease: past the budget, the rest of the links get no preview
            // (a slow site cannot hold the job long enough for it to be handed out again).
            if self.now().ms_since(started) > JOB_BUDGET_MS {
                continue;
            }
            let host = url::Url::parse(&url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            let hits = self
                .ports()
                .cache
                .hit(&format!("unfurl-host:{host}"), HOST_WINDOW)
                .await?;
            if hits.count > HOST_FETCHES {
                continue;
            }
            let found = unfurler.unfurl(&url).await;
            if !found.is_empty() {
                let bytes = serde_json::to_vec(&found).unwrap_or_default();
                self.ports()
                    .cache
                    .set(&cache_key(&url), &bytes, Some(CACHE_TTL))
                    .await?;
            }
            embeds.extend(found);
        }
        embeds.truncate(self.limits().await?.embeds_per_message);
        if embeds == message.embeds {
            return Ok(());
        }
        // Written on the message as it is now, unless its text changed meanwhile (its own job
        // previews the new text).
        let Some(mut fresh) = self.store().get_message(channel, id).await? else {
            return Ok(());
        };
        if fresh.content != message.content || !only_previews(&fresh.embeds) {
            return Ok(());
        }
        fresh.embeds = embeds;
        self.store().update_message(&fresh).await?;
        if fresh.flags & SUPPRESS_EMBEDS != 0 {
            return Ok(());
        }
        let Some(channel) = self.store().get_channel(channel).await? else {
            return Ok(());
        };
        let response = self.message_response(fresh.author_id, fresh).await?;
        self.emit_channel_event(EventKind::MessageUpdate, &channel, &response)
            .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_found_outside_code_and_opt_outs_normalised_and_capped() {
        let text = "see https://Example.COM/a?b=1#frag, and (http://x.org/y) `https://code.example/` \
                    <https://quiet.example/> ||https://spoiler.example/||\n```\nhttps://fenced.example/\n```\
                    [label](https://md.example/page) https://example.com/a?b=1 https://chat.local/x";
        assert_eq!(
            extract_urls(text, &["chat.local:443"]),
            [
                "https://example.com/a?b=1",
                "http://x.org/y",
                "https://spoiler.example/",
                "https://md.example/page",
            ]
        );
        let many: String = (0..8).map(|i| format!("https://h{i}.example/ ")).collect();
        assert_eq!(extract_urls(&many, &[""]).len(), MAX_PREVIEWED_URLS);
        assert!(extract_urls("ftp://x.example/ https:// http://", &[""]).is_empty());
        assert_eq!(
            extract_urls("https://user:pw@münchen.example/ä", &[""]),
            ["https://xn--mnchen-3ya.example/%C3%A4"]
        );
    }

    #[test]
    fn previews_are_told_from_embeds_of_ones_own() {
        let kind = |k: &str| Embed {
            kind: Some(k.to_owned()),
            ..Embed::default()
        };
        assert!(only_previews(&[]));
        assert!(only_previews(&[kind("link"), kind("image")]));
        assert!(!only_previews(&[kind("link"), kind("rich")]));
    }
}
