//! Helpers for tests that drive the use-cases directly, without HTTP: an account with an open
//! session, a message posted. Not a conformance suite.

use crate::id::{ChannelId, MessageId};
use crate::service::{Actor, Fluxer, LoginOutcome, MessageCreate, RegisterRequest};

/// Registers `name` (`{name}@example.com`, password `correct horse battery`) and returns the token
/// of the session that opened and its actor.
pub async fn register(fluxer: &Fluxer, name: &str) -> (String, Actor) {
    let outcome = fluxer
        .register(RegisterRequest {
            email: Some(format!("{name}@example.com")),
            username: Some(name.to_owned()),
            password: Some("correct horse battery".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    let LoginOutcome::Session { token, .. } = outcome else {
        panic!("registering {name} opened no session")
    };
    let actor = fluxer.authenticate(&token).await.unwrap();
    (token, actor)
}

/// Posts `content` in `channel` as `actor`; returns the message's ID.
pub async fn post(fluxer: &Fluxer, actor: &Actor, channel: ChannelId, content: &str) -> MessageId {
    fluxer
        .send_message(
            actor,
            channel,
            MessageCreate {
                content: Some(content.to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id
}
