//! `GET /app/{key}`: the WebSocket upgrade, and the decision to accept the connection or
//! refuse it. A refusal still completes the upgrade, then sends `pusher:error` and closes
//! with the same code: an HTTP-level refusal reaches pusher-js as 1006 and it retries
//! forever.

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use futures_util::StreamExt;

use crate::codes::{APP_NOT_FOUND, NO_PROTOCOL, OVER_CAPACITY, UNSUPPORTED_PROTOCOL};
use crate::connection;
use crate::shared::Shared;
use crate::stats::SocketPermit;

/// The only protocol version served.
const PROTOCOL_VERSION: &str = "7";

/// Why a connection is refused: the code is both the `pusher:error` code and the close code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: u16,
    pub(crate) message: String,
}

/// Initial read and write buffer of each socket.
const SOCKET_BUFFER_BYTES: usize = 8 * 1024;

pub(crate) async fn upgrade_socket(
    State(shared): State<Arc<Shared>>,
    Path(app_key): Path<String>,
    RawQuery(query): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Response {
    let transport_limit_bytes = shared.config.transport_limit_bytes();
    let admission = admit(&shared, &app_key, query.as_deref());
    // tungstenite's default buffers are 128 KiB each; frames here are at most a few KiB, and
    // the buffers grow when a larger message needs it, so small ones save ~250 KiB a socket.
    upgrade
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(SOCKET_BUFFER_BYTES)
        .max_message_size(transport_limit_bytes)
        .max_frame_size(transport_limit_bytes)
        .on_failed_upgrade(|error| tracing::debug!(%error, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            let (writer, reader) = socket.split();
            match admission {
                Ok(permit) => connection::serve(shared, permit, reader, writer).await,
                Err(refusal) => {
                    shared.stats.record_refused();
                    tracing::debug!(code = refusal.code, message = %refusal.message, "connection refused");
                    connection::refuse(refusal.code, &refusal.message, reader, writer).await;
                }
            }
        })
}

/// Checks, in order, the app key, the protocol version and the socket limit.
pub(crate) fn admit(shared: &Shared, app_key: &str, query: Option<&str>) -> Result<SocketPermit, Refusal> {
    if app_key != shared.config.app_key {
        return Err(Refusal { code: APP_NOT_FOUND, message: "Application does not exist".to_owned() });
    }
    check_protocol(query)?;
    SocketPermit::try_acquire(&shared.stats, shared.config.max_sockets).ok_or_else(|| Refusal {
        code: OVER_CAPACITY,
        message: format!("Over capacity: {} connections are open, the most allowed", shared.config.max_sockets),
    })
}

fn check_protocol(query: Option<&str>) -> Result<(), Refusal> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
    let version = pairs.iter().find(|(name, _)| name == "protocol").map_or("", |(_, value)| value.as_str());
    if version.is_empty() {
        return Err(Refusal { code: NO_PROTOCOL, message: "No protocol version supplied".to_owned() });
    }
    if version != PROTOCOL_VERSION {
        return Err(Refusal {
            code: UNSUPPORTED_PROTOCOL,
            message: format!("Unsupported protocol version; this server speaks {PROTOCOL_VERSION}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PusherConfig;

    fn shared(max_sockets: usize) -> Shared {
        let config = PusherConfig { max_sockets, ..PusherConfig::new("1", "key", "secret") };
        Shared::new(config, None)
    }

    fn refusal_code(result: Result<SocketPermit, Refusal>) -> Option<u16> {
        result.err().map(|refusal| refusal.code)
    }

    #[test]
    fn accepts_the_right_key_and_protocol_7() {
        let shared = shared(10);
        let query = Some("protocol=7&client=js&version=8.4.0&flash=false");
        assert!(admit(&shared, "key", query).is_ok());
    }

    #[test]
    fn unknown_key_is_4001_before_anything_else() {
        let shared = shared(10);
        assert_eq!(refusal_code(admit(&shared, "other", None)), Some(4001));
    }

    #[test]
    fn protocol_must_be_7() {
        let shared = shared(10);
        assert_eq!(refusal_code(admit(&shared, "key", None)), Some(4008));
        assert_eq!(refusal_code(admit(&shared, "key", Some("client=js"))), Some(4008));
        assert_eq!(refusal_code(admit(&shared, "key", Some("protocol="))), Some(4008));
        for query in ["protocol=6", "protocol=8", "protocol=seven", "protocol=07", "protocol=%FF"] {
            assert_eq!(refusal_code(admit(&shared, "key", Some(query))), Some(4007), "{query}");
        }
    }

    #[test]
    fn over_max_sockets_is_4100() {
        let shared = shared(1);
        let held = admit(&shared, "key", Some("protocol=7")).expect("first fits");
        assert_eq!(refusal_code(admit(&shared, "key", Some("protocol=7"))), Some(4100));
        drop(held);
        assert!(admit(&shared, "key", Some("protocol=7")).is_ok());
    }
}
