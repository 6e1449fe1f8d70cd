//! Messages: look one up by its channel and ID, or by one of its files (the attachment's ID and
//! name), with the conversation around it; delete it with a reason for the audit log. The same
//! use-cases and ACLs as `/admin/messages/*`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fluxer_core::id::{AttachmentId, ChannelId, MessageId};
use fluxer_core::model::acl;
use fluxer_core::service::{AdminAttachmentLookup, AdminMessageDelete, AdminMessageLookup};
use maud::{Markup, html};
use serde::Deserialize;

use super::{
    Refused, Staff, authorize_form, core_error_page, done_notice, error_page, panel, reasoned_form,
    see_other,
};
use crate::pages::form::FormBody;
use crate::state::ApiState;

/// Messages shown around the one looked up (half on each side).
const CONTEXT: u32 = 20;

#[derive(Deserialize, Default)]
pub(super) struct LookupQuery {
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    message_id: String,
    #[serde(default)]
    attachment_id: String,
    #[serde(default)]
    filename: String,
    #[serde(default)]
    done: String,
}

/// A non-empty field that must be an ID.
fn id_of<T: std::str::FromStr>(raw: &str, what: &str) -> Result<Option<T>, Refused> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<T>().map(Some).map_err(|_| {
        Refused::new(error_page(
            StatusCode::BAD_REQUEST,
            &format!("The {what} is not an ID (a number)."),
        ))
    })
}

pub(super) async fn lookup(
    State(state): State<ApiState>,
    staff: Staff,
    Query(q): Query<LookupQuery>,
) -> Response {
    if let Err(e) = staff.principal.require(acl::MESSAGE_LOOKUP) {
        return core_error_page(e);
    }
    let ids = id_of::<ChannelId>(&q.channel_id, "channel").and_then(|c| {
        Ok((
            c,
            id_of::<MessageId>(&q.message_id, "message")?,
            id_of::<AttachmentId>(&q.attachment_id, "attachment")?,
        ))
    });
    let (channel, message, attachment) = match ids {
        Ok(ids) => ids,
        Err(r) => return r.into_response(),
    };
    let filename: String = q.filename.trim().chars().take(255).collect();
    let found = match (channel, message, attachment) {
        (Some(channel_id), Some(message_id), _) => Some(
            state
                .fluxer
                .admin_lookup_message(
                    &staff.principal,
                    AdminMessageLookup {
                        channel_id,
                        message_id,
                        context_limit: Some(CONTEXT),
                    },
                )
                .await,
        ),
        (Some(channel_id), None, Some(attachment_id)) => Some(
            state
                .fluxer
                .admin_lookup_message_by_attachment(
                    &staff.principal,
                    AdminAttachmentLookup {
                        channel_id,
                        attachment_id,
                        filename: filename.clone(),
                        context_limit: Some(CONTEXT),
                    },
                )
                .await,
        ),
        _ => None,
    };
    let found = match found.transpose() {
        Ok(found) => found,
        Err(e) => return core_error_page(e),
    };
    let may_delete = staff.principal.require(acl::MESSAGE_DELETE).is_ok();
    let body = html! {
        h1 { "Messages" }
        (done_notice(&q.done, &[("deleted", "The message is deleted.")]))
        h2 { "By ID" }
        form.inline id="lookup" method="get" action="/admin/messages" role="search" {
            label { "Channel ID" input type="text" name="channel_id" inputmode="numeric" value=(q.channel_id.trim()) required maxlength="20"; }
            label { "Message ID" input type="text" name="message_id" inputmode="numeric" value=(q.message_id.trim()) required maxlength="20"; }
            button type="submit" { "Look up" }
        }
        h2 { "By file" }
        form.inline id="lookup-attachment" method="get" action="/admin/messages" role="search" {
            label { "Channel ID" input type="text" name="channel_id" inputmode="numeric" value=(q.channel_id.trim()) required maxlength="20"; }
            label { "Attachment ID" input type="text" name="attachment_id" inputmode="numeric" value=(q.attachment_id.trim()) required maxlength="20"; }
            label { "File name" input type="text" name="filename" value=(filename) required maxlength="255"; }
            button type="submit" { "Look up" }
        }
        @if let Some(found) = &found {
            @match (found.message_id, channel) {
                (Some(target), Some(channel)) => {
                    h2 { "Conversation" }
                    @if !found.messages.iter().any(|m| m.id == target) {
                        p.muted id="message-missing" { "Message " code { (target) } " is not in this channel (deleted, or never sent here)." }
                    }
                    (conversation(&found.messages, target))
                    @if may_delete && found.messages.iter().any(|m| m.id == target) {
                        (reasoned_form(&staff, "delete", "/admin/messages/delete", "Delete this message", true, html! {
                            input type="hidden" name="channel_id" value=(channel);
                            input type="hidden" name="message_id" value=(target);
                        }))
                    }
                }
                _ => p.muted id="message-missing" { "No message in this channel carries that file." }
            }
        }
    };
    panel(&staff, "Messages", "/admin/messages", body)
}

fn conversation(messages: &[fluxer_core::service::ReportMessageView], target: MessageId) -> Markup {
    html! {
        ol.conversation {
            @for m in messages {
                li id={"message-" (m.id)} {
                    @if m.id == target { strong { "▶ " } }
                    a href={"/admin/users/" (m.author_id)} { (m.author_username) "#" (m.author_discriminator) } " "
                    span.muted { (m.timestamp.to_iso8601()) " · " code { (m.id) } } br;
                    (m.content)
                    @if !m.attachments.is_empty() {
                        ul { @for a in &m.attachments { li { code { (a.filename) } } } }
                    }
                }
            }
        }
    }
}

pub(super) async fn delete(
    State(state): State<ApiState>,
    mut staff: Staff,
    form: FormBody,
) -> Response {
    if let Err(r) = authorize_form(&mut staff, &form, acl::MESSAGE_DELETE) {
        return r.into_response();
    }
    let ids = id_of::<ChannelId>(form.get("channel_id"), "channel")
        .and_then(|c| Ok((c, id_of::<MessageId>(form.get("message_id"), "message")?)));
    let (Some(channel_id), Some(message_id)) = (match ids {
        Ok(ids) => ids,
        Err(r) => return r.into_response(),
    }) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Give the channel and the message. Nothing was changed.",
        );
    };
    match state
        .fluxer
        .admin_delete_message(
            &staff.principal,
            AdminMessageDelete {
                channel_id,
                message_id,
            },
        )
        .await
    {
        Ok(()) => see_other(&format!(
            "/admin/messages?channel_id={channel_id}&message_id={message_id}&done=deleted"
        )),
        Err(e) => core_error_page(e),
    }
}
