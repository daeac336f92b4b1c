//! A Pusher Channels (protocol 7) WebSocket server for axum and tokio, so that unmodified
//! `pusher-js` and `laravel-echo` clients can connect to the embedding service.
//!
//! The crate owns the wire protocol, the socket lifecycle, the channel subscriber sets and
//! the fan-out of published events. It knows nothing of the embedding application's domain:
//! who may subscribe to which private channel is decided by the embedder, through the
//! closure given to [`Realtime::authorization_handler`] (the `/broadcasting/auth` route),
//! and the embedder learns about subscriptions through a [`SubscriptionHook`].
//!
//! It serves public, private, encrypted (`private-encrypted-*`, relayed untouched) and
//! presence channels, client events (`client-*`) on private and presence channels, the
//! Pusher HTTP API ([`Realtime::http_api_router`]) and Pusher webhooks
//! (`PusherConfig::webhook_url`). The embedder publishes in process with
//! [`Realtime::publish`] and may reserve channels for itself
//! ([`RealtimeBuilder::reserved_channels`]): no HTTP-API publish, no client event.
//!
//! What it deliberately does not do: bearer tokens, roles or any other authentication of
//! its own; `pusher:signin` (user authentication); TLS for webhooks.
//!
//! ```no_run
//! use switchboard_pusher::{AuthDenied, PusherConfig, Realtime};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let realtime = Realtime::new(PusherConfig::new("app-id", "app-key", "app-secret"))?;
//! let app: axum::Router = axum::Router::new()
//!     .merge(realtime.router())
//!     .route(
//!         "/broadcasting/auth",
//!         realtime.authorization_handler(|_headers, channel: &str| {
//!             if channel.starts_with("private-allowed.") {
//!                 Ok(())
//!             } else {
//!                 Err(AuthDenied::new("not your channel"))
//!             }
//!         }),
//!     );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! realtime.publish("private-allowed.7", "App\\Events\\SomethingHappened", r#"{"id":7}"#);
//! # Ok(())
//! # }
//! ```

mod authorization;
mod channel_name;
mod clock;
pub mod codes;
mod config;
mod connection;
mod hooks;
mod http_api;
mod incoming;
mod liveness;
mod outgoing;
mod peers;
mod realtime;
mod registry;
mod session;
mod shared;
mod signature;
mod socket_id;
#[cfg(test)]
mod socket_task_tests;
mod stats;
mod upgrade;
mod webhook;

pub use authorization::{AuthDenied, ChannelAuthorizationError, MAX_AUTHORIZATION_BODY_BYTES};
pub use channel_name::{
    is_valid_channel_name, validate_channel_name, ChannelKind, ChannelNameError, MAX_CHANNEL_NAME_BYTES,
};
pub use clock::{Clock, SystemClock};
pub use config::{ConfigError, PusherConfig};
pub use hooks::{SubscriptionChange, SubscriptionHook, UnsubscribeCause};
pub use http_api::HTTP_API_ROUTES;
pub use peers::{PeerHook, PeerMember, PeerMessage, PeerMessageError};
pub use realtime::{InvalidCloseCode, Realtime, RealtimeBuilder};
pub use shared::ReservedChannels;
pub use signature::{hex_hmac, sign_presence_channel, sign_private_channel};
pub use socket_id::{is_valid_socket_id, InvalidSocketId, SocketId};
pub use stats::StatsSnapshot;
