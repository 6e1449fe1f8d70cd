//! One WebSocket connection: HELLO, IDENTIFY or RESUME, heartbeats, client requests, and the frames its
//! session sends.

use std::time::Duration;

use flate2::{Compress, Compression, FlushCompress};
use fluxer_core::ports::{PresenceEntry, Status};
use fluxer_core::service::{Actor, DEFAULT_LARGE_THRESHOLD, LARGE_THRESHOLD_RANGE};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::queue;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tracing::Instrument;

use std::sync::Arc;

use crate::hub::Hub;
use crate::member_list::LazyRequest;
use crate::protocol::{
    Identify, Inbound, PresenceUpdate, RequestMembers, Resume, VoiceStateUpdate, close, frame, op,
};
use crate::session::{
    AttachError, AttachRequest, Attached, CloseReason, Command, ConnectionId, Outbound,
    SessionHandle,
};
use crate::socket::{Frames, Payload, Socket, close_message};

const MAX_INBOUND_BYTES: usize = 4096;
/// Frames written before one flush at most.
const WRITE_BATCH: usize = 64;

struct Conn {
    gateway: Arc<Hub>,
    /// Names this connection to the session it attaches to (its Detach must name it).
    id: ConnectionId,
    session: Option<SessionHandle>,
    out_rx: Option<queue::Receiver<Outbound>>,
    kill_rx: Option<oneshot::Receiver<CloseReason>>,
    last_heartbeat: Instant,
    window_start: Instant,
    frames_in_window: u32,
    /// `compress=zlib-stream`: one zlib context for the whole connection, each payload sync-flushed.
    zlib: Option<Box<Compress>>,
    /// A write of ours failed or timed out, possibly in the middle of a frame: nothing more may be
    /// written (a close frame would be read as the rest of the cut one).
    cut: bool,
}

/// Compresses one payload into the connection's zlib stream (ends with the `00 00 ff ff` sync marker).
fn deflate(z: &mut Compress, input: &[u8]) -> Option<Vec<u8>> {
    let start = z.total_in();
    let mut out = Vec::with_capacity(input.len() / 3 + 64);
    loop {
        out.reserve(input.len() / 3 + 64);
        let consumed = usize::try_from(z.total_in() - start).ok()?;
        z.compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
            .ok()?;
        let done = usize::try_from(z.total_in() - start).ok()? == input.len();
        // Room left over means the flush completed.
        if done && out.len() < out.capacity() {
            return Some(out);
        }
    }
}

impl Conn {
    /// A text payload as the client asked for it: a text frame, or a binary zlib-stream chunk.
    fn encode(&mut self, text: String) -> Payload {
        match &mut self.zlib {
            Some(z) => match deflate(z, text.as_bytes()) {
                Some(bytes) => Payload::Binary(bytes),
                None => Payload::Text(text),
            },
            None => Payload::Text(text),
        }
    }

    /// Writes `first` and whatever else is already queued for this connection (up to
    /// [`WRITE_BATCH`] frames) with one write: under load, one system call carries several frames
    /// instead of one each.
    async fn write_queued(&mut self, socket: &mut Socket, first: Outbound) -> std::io::Result<()> {
        let mut frames = Frames::default();
        frames.push(&self.encode_outbound(first));
        for _ in 1..WRITE_BATCH {
            let Some(Ok(next)) = self.out_rx.as_mut().map(|rx| rx.try_recv()) else {
                break;
            };
            frames.push(&self.encode_outbound(next));
        }
        frames.write(socket).await
    }

    /// A session's frame as a payload; a message's delivery is measured here, as it goes to the
    /// socket.
    fn encode_outbound(&mut self, out: Outbound) -> Payload {
        match out {
            Outbound::Text(text) => self.encode(text),
            Outbound::Message(message) => {
                let (text, created) = *message;
                if let (Some(recorder), Ok(took)) = (
                    fluxer_core::telemetry::recorder(),
                    std::time::SystemTime::now().duration_since(created),
                ) {
                    recorder.message_delivered(took);
                }
                self.encode(text)
            }
        }
    }

    /// Sends one frame, within the write timeout (a client that stops reading must not hold the
    /// connection's task in here).
    async fn send(&mut self, socket: &mut Socket, text: String) -> Result<(), Close> {
        let mut frames = Frames::default();
        frames.push(&self.encode(text));
        let write_timeout = Duration::from_millis(self.gateway.config().write_timeout_ms);
        match tokio::time::timeout(write_timeout, frames.write(socket)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => {
                self.cut = true;
                Err((close::UNKNOWN_ERROR, "send failed"))
            }
        }
    }
}

/// Counts a connection as open for as long as it lives.
struct Open(Arc<Hub>);

impl Open {
    fn new(gateway: &Arc<Hub>) -> Open {
        gateway
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if let Some(recorder) = fluxer_core::telemetry::recorder() {
            recorder.gateway_connections(1);
        }
        Open(gateway.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0
            .connections
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        if let Some(recorder) = fluxer_core::telemetry::recorder() {
            recorder.gateway_connections(-1);
        }
    }
}

pub(crate) async fn run(gateway: Arc<Hub>, mut socket: Socket, zlib: bool) {
    let _open = Open::new(&gateway);
    let mut stopping = gateway.stopping();
    let mut conn = Conn {
        gateway,
        id: ConnectionId::next(),
        session: None,
        out_rx: None,
        kill_rx: None,
        last_heartbeat: Instant::now(),
        window_start: Instant::now(),
        frames_in_window: 0,
        zlib: zlib.then(|| Box::new(Compress::new(Compression::fast(), true))),
        cut: false,
    };
    let hello = frame(
        op::HELLO,
        &json!({ "heartbeat_interval": conn.gateway.config().heartbeat_interval_ms }),
    );
    // Boxed, like the rare awaits below: an idle connection's task is as large as its largest
    // await, and these must not make it larger.
    if Box::pin(conn.send(&mut socket, hello)).await.is_err() {
        return;
    }
    let timeout = Duration::from_millis(conn.gateway.config().heartbeat_timeout_ms);
    let identify_by =
        Instant::now() + Duration::from_millis(conn.gateway.config().identify_timeout_ms);
    let write_timeout = Duration::from_millis(conn.gateway.config().write_timeout_ms);
    let mut ticker = tokio::time::interval(Duration::from_millis(
        (conn.gateway.config().heartbeat_timeout_ms / 4).max(10),
    ));
    let closing = loop {
        tokio::select! {
            msg = socket.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    // Boxed: the handling of a frame (IDENTIFY builds READY) is large and rare; an idle
                    // connection should not carry its state.
                    if let Err(code) = Box::pin(conn.on_text(&mut socket, text.as_str())).await {
                        break Some(code);
                    }
                }
                Some(Ok(Message::Binary(_))) => break Some((close::DECODE_ERROR, "binary frames are not supported")),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) => {
                    // tungstenite has queued its answering close frame: send it.
                    let _ = tokio::time::timeout(write_timeout, socket.flush()).await;
                    break None;
                }
                None => break None,
                // A frame over the size limit, or not WebSocket at all: say so, if the socket
                // still carries a close frame.
                Some(Err(_)) => break Some((close::DECODE_ERROR, "invalid or oversized frame")),
            },
            out = recv_opt(&mut conn.out_rx) => match out {
                Some(out) => {
                    match tokio::time::timeout(write_timeout, conn.write_queued(&mut socket, out)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => {
                            conn.cut = true;
                            break None;
                        }
                        // The client stopped reading: drop it; the session keeps its events for
                        // RESUME. The batch may have been cut mid-frame, so no close frame follows:
                        // the client sees the connection end (1006) and resumes.
                        Err(_) => {
                            tracing::warn!(timeout_ms = write_timeout.as_millis() as u64, "a write to the client timed out; disconnecting resumably");
                            conn.cut = true;
                            break None;
                        }
                    }
                }
                None => {
                    // The session let go of this connection; its kill switch says why.
                    conn.out_rx = None;
                    let reason = match conn.kill_rx.take() {
                        Some(mut k) => k.try_recv().unwrap_or((close::UNKNOWN_ERROR, "session detached")),
                        None => (close::UNKNOWN_ERROR, "session detached"),
                    };
                    conn.session = None;
                    break Some(reason);
                }
            },
            reason = kill_opt(&mut conn.kill_rx) => {
                conn.kill_rx = None;
                conn.out_rx = None;
                conn.session = None;
                break Some(reason);
            },
            _ = ticker.tick() => {
                if conn.last_heartbeat.elapsed() > timeout {
                    break Some((close::SESSION_TIMEOUT, "heartbeat timed out"));
                }
                if conn.session.is_none() && Instant::now() > identify_by {
                    break Some((close::SESSION_TIMEOUT, "identify timed out"));
                }
            }
            () = until_set(&mut stopping) => {
                // The session stays (until the process ends) so the client can resume it here
                // or, in a cluster, on another node.
                let _ = Box::pin(conn.send(&mut socket, frame(op::RECONNECT, &Value::Null))).await;
                break Some((close::UNKNOWN_ERROR, "the server is restarting"));
            }
        }
    };
    Box::pin(finish(conn, socket, closing, write_timeout)).await;
}

/// After the loop: tells the session this connection is gone, then sends the close frame (when
/// there is one to send and no write of ours was cut) and lingers for the client's.
async fn finish(
    mut conn: Conn,
    mut socket: Socket,
    closing: Option<CloseReason>,
    write_timeout: Duration,
) {
    if let Some(session) = conn.session.take() {
        let _ = session.commands.send(Command::Detach(conn.id)).await;
    }
    if let Some((code, reason)) = closing.filter(|_| !conn.cut)
        && tokio::time::timeout(write_timeout, socket.send(close_message(code, reason)))
            .await
            .is_ok_and(|sent| sent.is_ok())
    {
        linger(&mut socket).await;
    }
}

/// After our close frame: reads (and discards) what the client still sends until its own close,
/// for a moment at most. Dropping a socket with unread input makes the kernel reset the
/// connection, and a reset can destroy the close frame before the client reads it (it would see
/// 1006 instead of our code). A flooding client must not hold the connection, hence the bound.
async fn linger(socket: &mut Socket) {
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Close(_))) | None) | Err(_) => return,
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) => {
                // Unreadable input (the rest of an oversized frame) stays unread: give the
                // client the moment to read our close before the reset.
                tokio::time::sleep_until(deadline).await;
                return;
            }
        }
    }
}

/// Resolves once the flag is set (the guard `wait_for` returns is not `Send`: dropped here).
async fn until_set(flag: &mut tokio::sync::watch::Receiver<bool>) {
    if flag.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn kill_opt(rx: &mut Option<oneshot::Receiver<CloseReason>>) -> CloseReason {
    match rx {
        Some(k) => match k.await {
            Ok(reason) => reason,
            // The session ended without a word: it expired or was invalidated.
            Err(_) => (close::SESSION_TIMEOUT, "session ended"),
        },
        None => std::future::pending().await,
    }
}

async fn recv_opt(rx: &mut Option<queue::Receiver<Outbound>>) -> Option<Outbound> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

type Close = (u16, &'static str);

impl Conn {
    async fn on_text(&mut self, socket: &mut Socket, text: &str) -> Result<(), Close> {
        if text.len() > MAX_INBOUND_BYTES {
            return Err((close::DECODE_ERROR, "payload too large"));
        }
        let config = self.gateway.config();
        if self.window_start.elapsed() > Duration::from_millis(config.rate_window_ms) {
            self.window_start = Instant::now();
            self.frames_in_window = 0;
        }
        self.frames_in_window += 1;
        if self.frames_in_window > config.rate_limit_frames {
            return Err((close::RATE_LIMITED, "you are sending too fast"));
        }
        let inbound: Inbound =
            serde_json::from_str(text).map_err(|_| (close::DECODE_ERROR, "invalid payload"))?;
        // IDENTIFY and RESUME are traced, each as a trace of its own (authentication, READY or
        // the replay); heartbeats and the rest are too frequent and too cheap to be worth it.
        let span = match (fluxer_core::telemetry::recorder(), inbound.op) {
            (Some(_), op::IDENTIFY) => tracing::info_span!(
                parent: None,
                "gateway.identify",
                otel.name = "gateway IDENTIFY",
                otel.kind = "server",
            ),
            (Some(_), op::RESUME) => tracing::info_span!(
                parent: None,
                "gateway.resume",
                otel.name = "gateway RESUME",
                otel.kind = "server",
            ),
            _ => tracing::Span::none(),
        };
        self.on_inbound(socket, inbound).instrument(span).await
    }

    async fn on_inbound(&mut self, socket: &mut Socket, inbound: Inbound) -> Result<(), Close> {
        match inbound.op {
            op::HEARTBEAT => {
                self.last_heartbeat = Instant::now();
                if let (Some(session), Some(seq)) = (&self.session, inbound.d.as_u64()) {
                    let _ = session.commands.send(Command::Ack(seq)).await;
                }
                self.send(socket, frame(op::HEARTBEAT_ACK, &Value::Null))
                    .await
            }
            op::IDENTIFY => {
                if self.session.is_some() {
                    return Err((close::ALREADY_AUTHENTICATED, "already authenticated"));
                }
                let identify: Identify = serde_json::from_value(inbound.d)
                    .map_err(|_| (close::DECODE_ERROR, "invalid identify"))?;
                if !identify.properties.is_object() {
                    return Err((close::DECODE_ERROR, "invalid identify properties"));
                }
                let actor = self.authenticate(&identify.token).await?;
                if !self.gateway.allow_identify(actor.id()) {
                    return Err((close::RATE_LIMITED, "too many sessions started"));
                }
                let presence = identify
                    .presence
                    .as_ref()
                    .map(parse_presence)
                    .unwrap_or(Status::Online);
                let mut entry = presence_entry(&actor, presence);
                if let Some(p) = &identify.presence {
                    entry.afk = p.afk;
                    entry.mobile = p.mobile;
                    entry.custom_status = p.custom_status.clone();
                }
                let (handle, out_rx, kill_rx) = self
                    .gateway
                    .start_session(
                        self.id,
                        &actor,
                        identify.token.trim(),
                        entry,
                        identify.ignored_events,
                        identify
                            .large_threshold
                            .map_or(DEFAULT_LARGE_THRESHOLD, |t| {
                                t.clamp(
                                    *LARGE_THRESHOLD_RANGE.start(),
                                    *LARGE_THRESHOLD_RANGE.end(),
                                )
                            }),
                    )
                    .await
                    .map_err(|_| (close::UNKNOWN_ERROR, "could not start session"))?;
                self.session = Some(handle);
                self.out_rx = Some(out_rx);
                self.kill_rx = Some(kill_rx);
                self.last_heartbeat = Instant::now();
                Ok(())
            }
            op::RESUME => {
                if self.session.is_some() {
                    return Err((close::ALREADY_AUTHENTICATED, "already authenticated"));
                }
                let resume: Resume = serde_json::from_value(inbound.d)
                    .map_err(|_| (close::DECODE_ERROR, "invalid resume"))?;
                let actor = self.authenticate(&resume.token).await?;
                let Some(handle) = self.gateway.ctx.session(&resume.session_id) else {
                    // Not held here: maybe its node died and another node may take it over.
                    let taken = self
                        .gateway
                        .resume_elsewhere(
                            self.id,
                            &actor,
                            resume.token.trim(),
                            &resume.session_id,
                            resume.seq.unwrap_or(0),
                        )
                        .await;
                    let Some((handle, out_rx, kill_rx)) = taken else {
                        return self
                            .send(socket, frame(op::INVALID_SESSION, &Value::Bool(false)))
                            .await;
                    };
                    self.session = Some(handle);
                    self.out_rx = Some(out_rx);
                    self.kill_rx = Some(kill_rx);
                    self.last_heartbeat = Instant::now();
                    return Ok(());
                };
                if handle.user_id != actor.id() {
                    return Err((
                        close::AUTHENTICATION_FAILED,
                        "session belongs to someone else",
                    ));
                }
                let (attached, out_rx, kill_rx) =
                    Attached::new(self.gateway.config().outbound_capacity, self.id);
                let (reply_tx, reply_rx) = oneshot::channel();
                let attach = Command::Attach(Box::new(AttachRequest {
                    conn: attached,
                    resume_from: Some(resume.seq.unwrap_or(0)),
                    reply: reply_tx,
                }));
                if handle.commands.send(attach).await.is_err() {
                    return self
                        .send(socket, frame(op::INVALID_SESSION, &Value::Bool(false)))
                        .await;
                }
                match reply_rx.await {
                    Ok(Ok(())) => {
                        self.session = Some(handle);
                        self.out_rx = Some(out_rx);
                        self.kill_rx = Some(kill_rx);
                        self.last_heartbeat = Instant::now();
                        Ok(())
                    }
                    Ok(Err(AttachError::InvalidSeq)) => {
                        Err((close::INVALID_SEQ, "invalid sequence"))
                    }
                    Ok(Err(AttachError::Stale)) | Err(_) => {
                        self.send(socket, frame(op::INVALID_SESSION, &Value::Bool(false)))
                            .await
                    }
                }
            }
            op::PRESENCE_UPDATE => {
                let session = self.require_session()?;
                let update: PresenceUpdate = serde_json::from_value(inbound.d)
                    .map_err(|_| (close::DECODE_ERROR, "invalid presence"))?;
                let entry = PresenceEntry {
                    user_id: session.user_id,
                    status: parse_presence(&update),
                    afk: update.afk,
                    mobile: update.mobile,
                    custom_status: update.custom_status,
                    last_seen: Some(self.gateway.fluxer().now()),
                };
                let _ = session
                    .commands
                    .send(Command::Presence(Box::new(entry)))
                    .await;
                Ok(())
            }
            op::REQUEST_GUILD_MEMBERS => {
                let session = self.require_session()?.clone();
                let req: RequestMembers = serde_json::from_value(inbound.d)
                    .map_err(|_| (close::DECODE_ERROR, "invalid member request"))?;
                if req.nonce.as_ref().is_some_and(|n| n.len() > 32)
                    || req.user_ids.as_ref().is_some_and(|u| u.len() > 100)
                {
                    return Err((close::DECODE_ERROR, "invalid member request"));
                }
                let gateway = self.gateway.clone();
                tokio::spawn(async move { gateway.send_member_chunks(&session, req).await });
                Ok(())
            }
            op::VOICE_STATE_UPDATE => {
                let session = self.require_session()?;
                if !inbound.d.is_object() {
                    return Err((close::DECODE_ERROR, "invalid voice state"));
                }
                let update: VoiceStateUpdate = serde_json::from_value(inbound.d)
                    .map_err(|_| (close::DECODE_ERROR, "invalid voice state"))?;
                let _ = session
                    .commands
                    .send(Command::Voice(Box::new(update.into_request())))
                    .await;
                Ok(())
            }
            op::LAZY_REQUEST => {
                let session = self.require_session()?;
                let request: LazyRequest = serde_json::from_value(inbound.d)
                    .map_err(|_| (close::DECODE_ERROR, "invalid lazy request"))?;
                if !request.within_bounds() {
                    return Err((close::DECODE_ERROR, "lazy request too large"));
                }
                let _ = session
                    .commands
                    .send(Command::Lazy(Box::new(request)))
                    .await;
                Ok(())
            }
            _ => Err((close::UNKNOWN_OPCODE, "unknown opcode")),
        }
    }

    fn require_session(&self) -> Result<&SessionHandle, Close> {
        self.session
            .as_ref()
            .ok_or((close::NOT_AUTHENTICATED, "not authenticated"))
    }

    async fn authenticate(&self, token: &str) -> Result<Actor, Close> {
        let token = token.trim();
        self.gateway
            .fluxer()
            .authenticate(token)
            .await
            .ok()
            // An OAuth2 access token is for the REST routes that take one, as upstream: the
            // gateway would show an application everything the user sees.
            .filter(|actor| !actor.is_oauth2())
            .ok_or((close::AUTHENTICATION_FAILED, "authentication failed"))
    }
}

fn parse_presence(p: &PresenceUpdate) -> Status {
    match p.status.as_str() {
        "idle" => Status::Idle,
        "dnd" => Status::Dnd,
        "invisible" | "offline" => Status::Invisible,
        _ => Status::Online,
    }
}

fn presence_entry(actor: &Actor, status: Status) -> PresenceEntry {
    PresenceEntry {
        user_id: actor.id(),
        status,
        afk: false,
        mobile: false,
        custom_status: None,
        last_seen: None,
    }
}
