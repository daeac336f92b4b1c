//! The task behind one WebSocket: reads client frames into the [`Session`], writes its
//! answers and the queued events, pings silent clients and closes the socket when asked.
//! The only place that awaits on a socket.
//!
//! It is generic over the two halves of the socket so that tests can drive it through
//! in-memory channels with tokio's paused clock.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout, Instant};

use crate::codes::{MESSAGE_TOO_BIG, PONG_NOT_RECEIVED, RECONNECT};
use crate::liveness::{Liveness, LivenessAction};
use crate::outgoing;
use crate::registry::{CloseRequest, SocketInbox};
use crate::session::Session;
use crate::shared::Shared;
use crate::stats::SocketPermit;

/// How long the server waits for its close frame to be written and answered before it
/// drops the connection anyway.
pub(crate) const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Queued frames written before one flush: bounds the time between two reads.
const MAX_FRAMES_PER_FLUSH: usize = 64;

/// Longest close reason the WebSocket protocol allows (125 bytes of payload, 2 of them code).
const MAX_CLOSE_REASON_BYTES: usize = 123;

/// A read error from the socket, told apart only as far as the close code needs.
pub(crate) trait ReadError: Display {
    /// The client sent a message larger than the transport limit.
    fn is_message_too_big(&self) -> bool;
}

impl ReadError for axum::Error {
    fn is_message_too_big(&self) -> bool {
        let mut source = std::error::Error::source(self);
        while let Some(error) = source {
            if let Some(tungstenite::Error::Capacity(_)) = error.downcast_ref::<tungstenite::Error>() {
                return true;
            }
            source = error.source();
        }
        false
    }
}

/// Why the read loop stopped.
enum Ending {
    /// Close with this code: requested by the server, or the client went silent.
    Close(CloseRequest),
    /// The client sent a close frame: answer it.
    ClientClosed,
    /// The socket is gone or broken: nothing more can be written.
    Broken,
}

/// Why a write did not complete.
enum WriteStop {
    CloseRequested,
    Broken,
}

/// Serves an accepted connection until it closes.
pub(crate) async fn serve<Reader, Writer, ReaderError, WriterError>(
    shared: Arc<Shared>,
    permit: SocketPermit,
    mut reader: Reader,
    writer: Writer,
) where
    Reader: Stream<Item = Result<Message, ReaderError>> + Unpin,
    Writer: Sink<Message, Error = WriterError> + Unpin,
    ReaderError: ReadError,
    WriterError: Display,
{
    let (mut session, inbox) = Session::open(Arc::clone(&shared));
    let SocketInbox { outbound: mut queue, close: mut close_signal } = inbox;
    let config = &shared.config;
    let mut outlet = Outlet { writer, write_timeout: config.pong_timeout() };
    let established = outgoing::connection_established(session.socket_id(), config.activity_timeout_seconds);
    let ending = match outlet.send(established, &mut close_signal).await {
        Err(WriteStop::Broken) => Ending::Broken,
        Err(WriteStop::CloseRequested) => Ending::Close(requested_close(&close_signal)),
        Ok(()) => {
            shared.stats.record_accepted();
            tracing::debug!(socket_id = %session.socket_id(), "socket connected");
            let mut liveness = Liveness::new(Instant::now(), config.activity_timeout(), config.pong_timeout());
            run(&mut session, &mut reader, &mut outlet, &mut queue, &mut close_signal, &mut liveness).await
        }
    };
    tracing::debug!(socket_id = %session.socket_id(), "socket closing");
    // Unsubscribe before the close handshake so publishes stop reaching this socket; keep
    // the permit until the handshake is over, so `wait_until_no_sockets` waits for it.
    drop(session);
    finish(ending, &mut reader, &mut outlet.writer).await;
    drop(permit);
}

/// Refuses a connection after the upgrade: a `pusher:error`, then the same code as the
/// close code, which is what makes pusher-js give up, back off or retry.
pub(crate) async fn refuse<Reader, Writer, ReaderError, WriterError>(
    code: u16,
    message: &str,
    mut reader: Reader,
    mut writer: Writer,
) where
    Reader: Stream<Item = Result<Message, ReaderError>> + Unpin,
    Writer: Sink<Message, Error = WriterError> + Unpin,
    WriterError: Display,
{
    let error = Message::Text(outgoing::error(code, message));
    let sent = timeout(CLOSE_HANDSHAKE_TIMEOUT, writer.send(error)).await;
    if matches!(sent, Ok(Ok(()))) {
        let request = CloseRequest { code, reason: message.to_owned() };
        finish(Ending::Close(request), &mut reader, &mut writer).await;
    }
}

async fn run<Reader, Writer, ReaderError, WriterError>(
    session: &mut Session,
    reader: &mut Reader,
    outlet: &mut Outlet<Writer>,
    queue: &mut mpsc::Receiver<Utf8Bytes>,
    close_signal: &mut watch::Receiver<Option<CloseRequest>>,
    liveness: &mut Liveness,
) -> Ending
where
    Reader: Stream<Item = Result<Message, ReaderError>> + Unpin,
    Writer: Sink<Message, Error = WriterError> + Unpin,
    ReaderError: ReadError,
    WriterError: Display,
{
    loop {
        // A close request wins over everything; the rest is served fairly (no `biased`), so
        // neither a chatty client nor a busy channel can starve the other direction.
        if close_signal.has_changed().unwrap_or(true) {
            return Ending::Close(requested_close(close_signal));
        }
        let deadline = liveness.deadline();
        let written = tokio::select! {
            _ = close_signal.changed() => return Ending::Close(requested_close(close_signal)),
            incoming = reader.next() => {
                let message = match incoming {
                    Some(Ok(message)) => message,
                    Some(Err(error)) => return read_failure(session, &error),
                    None => return Ending::Broken,
                };
                liveness.on_activity(Instant::now());
                let reply = match message {
                    Message::Text(text) => session.handle_text_now(text.as_str()),
                    Message::Binary(_) => Some(Session::handle_binary()),
                    // The WebSocket layer answers pings itself; both only prove liveness.
                    Message::Ping(_) | Message::Pong(_) => None,
                    Message::Close(_) => return Ending::ClientClosed,
                };
                match reply {
                    Some(frame) => outlet.send(frame, close_signal).await,
                    None => Ok(()),
                }
            }
            Some(frame) = queue.recv() => outlet.send_queued(frame, queue, close_signal).await,
            () = tokio::time::sleep_until(deadline) => match liveness.on_deadline(Instant::now()) {
                LivenessAction::Wait => Ok(()),
                LivenessAction::SendPing => outlet.send(outgoing::ping(), close_signal).await,
                LivenessAction::Close => {
                    return Ending::Close(CloseRequest {
                        code: PONG_NOT_RECEIVED,
                        reason: "Pong reply not received".to_owned(),
                    })
                }
            },
        };
        match written {
            Ok(()) => {}
            Err(WriteStop::CloseRequested) => return Ending::Close(requested_close(close_signal)),
            Err(WriteStop::Broken) => return Ending::Broken,
        }
    }
}

fn read_failure(session: &Session, error: &impl ReadError) -> Ending {
    if error.is_message_too_big() {
        tracing::debug!(socket_id = %session.socket_id(), %error, "message over the transport limit");
        return Ending::Close(CloseRequest { code: MESSAGE_TOO_BIG, reason: "Message too big".to_owned() });
    }
    tracing::debug!(socket_id = %session.socket_id(), %error, "socket read failed");
    Ending::Broken
}

fn requested_close(close_signal: &watch::Receiver<Option<CloseRequest>>) -> CloseRequest {
    close_signal.borrow().clone().unwrap_or_else(|| CloseRequest { code: RECONNECT, reason: "Closing".to_owned() })
}

/// Ends the connection as politely as the ending allows, within
/// [`CLOSE_HANDSHAKE_TIMEOUT`].
async fn finish<Reader, Writer, ReaderError, WriterError>(ending: Ending, reader: &mut Reader, writer: &mut Writer)
where
    Reader: Stream<Item = Result<Message, ReaderError>> + Unpin,
    Writer: Sink<Message, Error = WriterError> + Unpin,
{
    let handshake = async {
        match ending {
            Ending::Close(request) => {
                let frame = CloseFrame {
                    code: request.code,
                    reason: Utf8Bytes::from(truncate(&request.reason, MAX_CLOSE_REASON_BYTES)),
                };
                if writer.send(Message::Close(Some(frame))).await.is_ok() {
                    // Read until the client's close frame ends the stream.
                    while let Some(Ok(_)) = reader.next().await {}
                }
            }
            Ending::ClientClosed => {
                // Flushes the close reply the WebSocket layer queued when the frame arrived.
                let _ = writer.close().await;
            }
            Ending::Broken => {}
        }
    };
    let _ = timeout(CLOSE_HANDSHAKE_TIMEOUT, handshake).await;
}

fn truncate(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The writing half, with the rules every write follows: a close request interrupts it,
/// and a write that takes longer than `write_timeout` means the client stopped reading.
struct Outlet<Writer> {
    writer: Writer,
    write_timeout: Duration,
}

impl<Writer, WriterError> Outlet<Writer>
where
    Writer: Sink<Message, Error = WriterError> + Unpin,
    WriterError: Display,
{
    async fn send(
        &mut self,
        frame: Utf8Bytes,
        close_signal: &mut watch::Receiver<Option<CloseRequest>>,
    ) -> Result<(), WriteStop> {
        let writer = &mut self.writer;
        guarded(self.write_timeout, close_signal, writer.send(Message::Text(frame))).await
    }

    /// Writes `first` and whatever else is already queued (up to
    /// [`MAX_FRAMES_PER_FLUSH`]), then flushes once.
    async fn send_queued(
        &mut self,
        first: Utf8Bytes,
        queue: &mut mpsc::Receiver<Utf8Bytes>,
        close_signal: &mut watch::Receiver<Option<CloseRequest>>,
    ) -> Result<(), WriteStop> {
        let writer = &mut self.writer;
        let batch = async {
            writer.feed(Message::Text(first)).await?;
            for _ in 1..MAX_FRAMES_PER_FLUSH {
                let Ok(frame) = queue.try_recv() else {
                    break;
                };
                writer.feed(Message::Text(frame)).await?;
            }
            writer.flush().await
        };
        guarded(self.write_timeout, close_signal, batch).await
    }
}

async fn guarded<WriterError: Display>(
    write_timeout: Duration,
    close_signal: &mut watch::Receiver<Option<CloseRequest>>,
    write: impl std::future::Future<Output = Result<(), WriterError>>,
) -> Result<(), WriteStop> {
    tokio::select! {
        biased;
        _ = close_signal.changed() => Err(WriteStop::CloseRequested),
        outcome = timeout(write_timeout, write) => match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                tracing::debug!(%error, "socket write failed");
                Err(WriteStop::Broken)
            }
            Err(_) => {
                tracing::debug!("socket write timed out: the client stopped reading");
                Err(WriteStop::Broken)
            }
        },
    }
}
