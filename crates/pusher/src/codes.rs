//! The Pusher protocol's 4xxx codes that this server sends, as WebSocket close codes or as
//! the `code` of a `pusher:error` frame. The range decides what `pusher-js` does next:
//!
//! | range | pusher-js |
//! |---|---|
//! | 4000-4099 | gives up: the connection must not be retried unchanged |
//! | 4100-4199 | reconnects after backing off (1 s, growing) |
//! | 4200-4299 | reconnects at once |
//! | 4300-4399 | gives up (as a close code); informative only inside `pusher:error` |
//!
//! A `pusher:error` that is not followed by a close only reaches the client's `error`
//! listeners; the connection stays up.

/// Close code: the app key in `/app/{key}` is not this server's. Sent after the upgrade
/// completes, because an HTTP-level refusal reaches pusher-js as 1006 and it retries forever.
pub const APP_NOT_FOUND: u16 = 4001;

/// Close code: the `protocol` query parameter is anything other than `7`.
pub const UNSUPPORTED_PROTOCOL: u16 = 4007;

/// Close code: the `protocol` query parameter is missing or empty.
pub const NO_PROTOCOL: u16 = 4008;

/// Close code: the host asked, through the HTTP API's `terminate_connections`, to end
/// every connection of a user; in the range where pusher-js does not reconnect.
pub const TERMINATED: u16 = 4009;

/// Close code: the server is at `max_sockets`, or a socket's outbound queue is full (a slow
/// consumer). pusher-js backs off before reconnecting, which is what an overloaded server
/// or a client that cannot keep up needs.
pub const OVER_CAPACITY: u16 = 4100;

/// Close code: reconnect now. The embedder passes it to [`crate::Realtime::close_all`] on
/// shutdown so that clients move to the next instance at once.
///
/// Also the `pusher:error` code for a frame that is not a well-formed Pusher message (not
/// JSON, no `event`, a subscribe without a channel, a binary frame), as Laravel Reverb does;
/// the connection is kept.
pub const RECONNECT: u16 = 4200;

/// Close code: the server pinged a silent client and no frame came back within
/// `pong_timeout_seconds`.
pub const PONG_NOT_RECEIVED: u16 = 4201;

/// `pusher:error` code (connection kept): a frame was refused, either because it is larger
/// than `max_frame_bytes` or because it is a client event (`client-*`) that may not be
/// relayed (disabled, a public or reserved channel, not subscribed, or over the rate limit
/// of `client_events_per_second`). Soketi uses 4301 for all of them; the event is dropped.
pub const MESSAGE_REJECTED: u16 = 4301;

/// Standard WebSocket close code for a message larger than the transport accepts
/// (`max_frame_bytes` times [`TRANSPORT_LIMIT_FACTOR`]); such a frame is never read whole.
pub const MESSAGE_TOO_BIG: u16 = 1009;

/// How many times `max_frame_bytes` the WebSocket layer accepts before it gives up on the
/// connection. Frames between the two limits are answered with a `pusher:error`
/// [`MESSAGE_REJECTED`] and dropped; beyond it the socket is closed with
/// [`MESSAGE_TOO_BIG`].
pub const TRANSPORT_LIMIT_FACTOR: usize = 4;
