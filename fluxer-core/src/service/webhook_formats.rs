//! Other services' webhook payloads turned into messages, so a Fluxer webhook URL can be pasted
//! into GitHub (`/webhooks/{id}/{token}/github`), Slack-compatible senders (`/slack`) and Sentry
//! (`/sentry`). Events a format does not describe post nothing.

use serde_json::{Value, json};

use super::{Fluxer, WebhookExecute};
use crate::error::{Error, Result};
use crate::id::WebhookId;
use crate::model::Embed;

/// GitHub's colours: new things, closed ones, merged ones, everything else.
const GREEN: u32 = 0x2cbe4e;
const RED: u32 = 0xcb2431;
const PURPLE: u32 = 0x6f42c1;
const GREY: u32 = 0x586069;
/// Sentry's alert colour.
const SENTRY: u32 = 0xe03e2f;
/// Longest description taken from a payload.
const MAX_TEXT: usize = 500;
/// Commits listed for one push.
const MAX_COMMITS: usize = 5;

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// At most `max` characters, with an ellipsis when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

fn embed(v: Value) -> Embed {
    serde_json::from_value::<Embed>(v)
        .unwrap_or_else(|_| Embed {
            kind: Some("rich".into()),
            ..Default::default()
        })
        .with_default_kind()
}

fn message(username: &str, avatar: Option<&str>, embed: Embed) -> WebhookExecute {
    WebhookExecute {
        username: Some(username.to_owned()),
        avatar_url: avatar.map(str::to_owned),
        embeds: vec![embed],
        ..Default::default()
    }
}

/// The message a GitHub event becomes; `None` for events that post nothing (`ping`, unknown
/// events, actions nobody reads).
pub(crate) fn github(event: &str, p: &Value) -> Option<WebhookExecute> {
    let repo = text(&p["repository"]["full_name"]);
    let sender = &p["sender"];
    let author = json!({
        "name": text(&sender["login"]),
        "icon_url": sender["avatar_url"],
        "url": sender["html_url"],
    });
    let action = text(&p["action"]);
    let e = match event {
        "push" => {
            let commits = p["commits"].as_array()?;
            if commits.is_empty() {
                return None;
            }
            let branch = text(&p["ref"]).trim_start_matches("refs/heads/");
            let lines: Vec<String> = commits
                .iter()
                .take(MAX_COMMITS)
                .map(|c| {
                    let id = text(&c["id"]);
                    let first_line = text(&c["message"]).lines().next().unwrap_or_default();
                    let by = match text(&c["author"]["username"]) {
                        "" => text(&c["author"]["name"]),
                        username => username,
                    };
                    format!(
                        "[`{}`]({}) {} - {by}",
                        &id[..id.len().min(7)],
                        text(&c["url"]),
                        clip(first_line, 50),
                    )
                })
                .collect();
            let n = commits.len();
            json!({
                "title": format!("[{repo}:{branch}] {n} new commit{}", if n == 1 { "" } else { "s" }),
                "url": p["compare"],
                "description": lines.join("\n"),
                "color": GREY,
                "author": author,
            })
        }
        "issues" | "pull_request" => {
            let (item, noun) = if event == "issues" {
                (&p["issue"], "Issue")
            } else {
                (&p["pull_request"], "Pull request")
            };
            let merged = event == "pull_request" && item["merged"].as_bool() == Some(true);
            let (verb, color) = match action {
                "opened" => ("opened", GREEN),
                "reopened" => ("reopened", GREEN),
                "closed" if merged => ("merged", PURPLE),
                "closed" => ("closed", RED),
                _ => return None,
            };
            let mut e = json!({
                "title": format!("[{repo}] {noun} {verb}: #{} {}", item["number"], text(&item["title"])),
                "url": item["html_url"],
                "color": color,
                "author": author,
            });
            if action == "opened" && !text(&item["body"]).is_empty() {
                e["description"] = json!(clip(text(&item["body"]), MAX_TEXT));
            }
            e
        }
        "issue_comment" | "pull_request_review_comment" | "commit_comment" => {
            if action != "created" && event != "commit_comment" {
                return None;
            }
            let comment = &p["comment"];
            let on = match event {
                "issue_comment" => format!(
                    "{} #{}: {}",
                    if p["issue"]["pull_request"].is_object() {
                        "pull request"
                    } else {
                        "issue"
                    },
                    p["issue"]["number"],
                    text(&p["issue"]["title"])
                ),
                "pull_request_review_comment" => format!(
                    "pull request #{}: {}",
                    p["pull_request"]["number"],
                    text(&p["pull_request"]["title"])
                ),
                _ => format!(
                    "commit `{}`",
                    &text(&comment["commit_id"])[..text(&comment["commit_id"]).len().min(7)]
                ),
            };
            json!({
                "title": format!("[{repo}] New comment on {on}"),
                "url": comment["html_url"],
                "description": clip(text(&comment["body"]), MAX_TEXT),
                "color": GREY,
                "author": author,
            })
        }
        "release" if action == "published" => json!({
            "title": format!("[{repo}] New release published: {}", text(&p["release"]["tag_name"])),
            "url": p["release"]["html_url"],
            "description": clip(text(&p["release"]["body"]), MAX_TEXT),
            "color": GREEN,
            "author": author,
        }),
        "star" if action == "created" => json!({
            "title": format!("[{repo}] New star added"),
            "url": p["repository"]["html_url"],
            "color": GREY,
            "author": author,
        }),
        "fork" => json!({
            "title": format!("[{repo}] Fork created: {}", text(&p["forkee"]["full_name"])),
            "url": p["forkee"]["html_url"],
            "color": GREY,
            "author": author,
        }),
        "create" | "delete" => json!({
            "title": format!(
                "[{repo}] {} {} {}",
                text(&p["ref_type"]),
                text(&p["ref"]),
                if event == "create" { "created" } else { "deleted" }
            ),
            "color": GREY,
            "author": author,
        }),
        _ => return None,
    };
    Some(message(
        "GitHub",
        Some("https://github.githubassets.com/favicons/favicon.png"),
        embed(e),
    ))
}

/// `<url|label>` and `<url>` as Markdown links; Slack's escapes undone.
fn slack_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let inner = &rest[start + 1..start + end];
        match inner.split_once('|') {
            Some((url, label)) if url.starts_with("http") => {
                out.push_str(&format!("[{label}]({url})"));
            }
            _ if inner.starts_with("http") => out.push_str(inner),
            Some((_, label)) => out.push_str(label),
            None => out.push_str(inner),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn slack_color(c: &Value) -> Option<u32> {
    match c.as_str()? {
        "good" => Some(0x2eb886),
        "warning" => Some(0xdaa038),
        "danger" => Some(0xa30200),
        hex => u32::from_str_radix(hex.trim_start_matches('#'), 16).ok(),
    }
}

/// A Slack incoming-webhook payload: `text` becomes the content, `attachments` embeds.
pub(crate) fn slack(p: &Value) -> WebhookExecute {
    let embeds = p["attachments"]
        .as_array()
        .map(|a| {
            a.iter()
                .take(10)
                .map(|a| {
                    let mut e = json!({
                        "title": a["title"].as_str().map(slack_markup),
                        "url": a["title_link"],
                        "description": a["text"].as_str().or(a["fallback"].as_str()).map(slack_markup),
                        "color": slack_color(&a["color"]),
                        "fields": a["fields"].as_array().map(|f| f.iter().take(25).map(|f| json!({
                            "name": text(&f["title"]),
                            "value": slack_markup(text(&f["value"])),
                            "inline": f["short"].as_bool().unwrap_or(false),
                        })).collect::<Vec<_>>()).unwrap_or_default(),
                    });
                    if let Some(name) = a["author_name"].as_str() {
                        e["author"] = json!({ "name": name, "url": a["author_link"], "icon_url": a["author_icon"] });
                    }
                    if let Some(footer) = a["footer"].as_str() {
                        e["footer"] = json!({ "text": footer, "icon_url": a["footer_icon"] });
                    }
                    if let Some(url) = a["image_url"].as_str() {
                        e["image"] = json!({ "url": url });
                    }
                    if let Some(url) = a["thumb_url"].as_str() {
                        e["thumbnail"] = json!({ "url": url });
                    }
                    embed(e)
                })
                .collect()
        })
        .unwrap_or_default();
    WebhookExecute {
        content: p["text"].as_str().map(slack_markup),
        username: p["username"].as_str().map(str::to_owned),
        avatar_url: p["icon_url"].as_str().map(str::to_owned),
        embeds,
        ..Default::default()
    }
}

/// A Sentry event (`X-Sentry-Event`: `issue`, `event_alert`, `error`, ...); `None` for the
/// installation's own housekeeping events.
pub(crate) fn sentry(event: &str, p: &Value) -> Option<WebhookExecute> {
    let data = &p["data"];
    let (title, url, detail) = match event {
        "issue" => {
            let issue = &data["issue"];
            (
                format!("Issue {}: {}", text(&p["action"]), text(&issue["title"])),
                issue["web_url"].clone(),
                text(&issue["culprit"]).to_owned(),
            )
        }
        "event_alert" | "error" => {
            let e = &data["event"];
            let rule = text(&data["triggered_rule"]);
            (
                if rule.is_empty() {
                    text(&e["title"]).to_owned()
                } else {
                    format!("{rule}: {}", text(&e["title"]))
                },
                e["web_url"].clone(),
                text(&e["culprit"]).to_owned(),
            )
        }
        // Legacy alerts: the payload itself is the event.
        "" if p["project_name"].is_string() => (
            format!("[{}] {}", text(&p["project_name"]), text(&p["message"])),
            p["url"].clone(),
            text(&p["culprit"]).to_owned(),
        ),
        _ => return None,
    };
    if title.trim().is_empty() {
        return None;
    }
    Some(message(
        "Sentry",
        None,
        embed(json!({
            "title": clip(&title, 256),
            "url": url,
            "description": clip(&detail, MAX_TEXT),
            "color": SENTRY,
        })),
    ))
}

/// Which service sent a webhook payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// GitHub, with its `X-GitHub-Event` header.
    GitHub,
    /// A Slack-compatible sender.
    Slack,
    /// Sentry, with its `X-Sentry-Event` header.
    Sentry,
}

impl Fluxer {
    /// Executes a webhook with another service's payload (`event`: the service's event header);
    /// `false` when the event posts nothing. Bad payloads are refused before anything is posted.
    pub async fn execute_foreign_webhook(
        &self,
        id: WebhookId,
        token: &str,
        format: WebhookFormat,
        event: &str,
        payload: &Value,
    ) -> Result<bool> {
        // The token first: a wrong one says so whatever the payload.
        self.token_webhook(id, token).await?;
        if !payload.is_object() {
            return Err(Error::field(
                "body",
                "INVALID_FORM_BODY",
                "The payload must be a JSON object.",
            ));
        }
        let message = match format {
            WebhookFormat::GitHub => github(event, payload),
            WebhookFormat::Slack => Some(slack(payload)),
            WebhookFormat::Sentry => sentry(event, payload),
        };
        match message {
            Some(m) => {
                self.execute_webhook(id, token, m).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_links_and_escapes_become_markdown() {
        assert_eq!(
            slack_markup("see <https://x.io/a|the docs> &amp; <https://y.io> &lt;3 <@U123|bob>"),
            "see [the docs](https://x.io/a) & https://y.io <3 bob"
        );
    }

    #[test]
    fn github_push_lists_commits_and_ignores_ping() {
        let push = json!({
            "ref": "refs/heads/main",
            "compare": "https://github.com/o/r/compare/a...b",
            "repository": { "full_name": "o/r" },
            "sender": { "login": "octo", "avatar_url": "https://a/1.png", "html_url": "https://github.com/octo" },
            "commits": [
                { "id": "0123456789abcdef", "url": "https://github.com/o/r/commit/0123456", "message": "Fix the thing\n\nlong body", "author": { "name": "Octo Cat", "username": "octo" } },
                { "id": "fedcba9876543210", "url": "https://github.com/o/r/commit/fedcba9", "message": "Docs", "author": { "name": "Mona", "username": "" } }
            ]
        });
        let m = github("push", &push).unwrap();
        let e = &m.embeds[0];
        assert_eq!(e.title.as_deref(), Some("[o/r:main] 2 new commits"));
        assert_eq!(
            e.description.as_deref(),
            Some(
                "[`0123456`](https://github.com/o/r/commit/0123456) Fix the thing - octo\n[`fedcba9`](https://github.com/o/r/commit/fedcba9) Docs - Mona"
            )
        );
        assert_eq!(m.username.as_deref(), Some("GitHub"));
        assert!(github("ping", &json!({ "zen": "hi" })).is_none());
        assert!(github("issues", &json!({ "action": "labeled" })).is_none());
    }

    #[test]
    fn merged_pull_requests_are_purple() {
        let pr = json!({
            "action": "closed",
            "repository": { "full_name": "o/r" },
            "sender": { "login": "octo" },
            "pull_request": { "number": 7, "title": "Speed", "html_url": "https://github.com/o/r/pull/7", "merged": true }
        });
        let e = &github("pull_request", &pr).unwrap().embeds[0];
        assert_eq!(
            e.title.as_deref(),
            Some("[o/r] Pull request merged: #7 Speed")
        );
        assert_eq!(e.color, Some(PURPLE));
    }
}
