//! A Pusher Channels (protocol 7) WebSocket server for axum and tokio, so that unmodified
//! `pusher-js` and `laravel-echo` clients can connect to the embedding service.
//!
//! The crate owns the wire protocol, the socket lifecycle, the channel subscriber sets and
//! the fan-out of published events. It knows nothing of the embedding application's domain:
//! who may subscribe to which private channel is decided by the embedder, through the
//! closure given to [`Realtime::authorization_handler`] (the `/broadcasting/auth` route),
//! and the embedder learns about subscriptions through a [`SubscriptionHook`].
//!
//! What it deliberately does not do:
//! - presence channels (`presence-*`) and encrypted channels (`private-encrypted-*`) are
//!   refused with `pusher:subscription_error`;
//! - client events (`client-*`) are refused with `pusher:error` 4301;
//! - no HTTP publishing API (`POST /apps/{id}/events`): the embedder calls
//!   [`Realtime::publish`] in process;
//! - no bearer tokens, roles or any other authentication of its own.
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
pub mod codes;
mod config;
mod connection;
mod hooks;
mod incoming;
mod liveness;
mod outgoing;
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

pub use authorization::{AuthDenied, ChannelAuthorizationError, MAX_AUTHORIZATION_BODY_BYTES};
pub use channel_name::{
    is_valid_channel_name, validate_channel_name, ChannelKind, ChannelNameError, MAX_CHANNEL_NAME_BYTES,
};
pub use config::{ConfigError, PusherConfig};
pub use hooks::{SubscriptionChange, SubscriptionHook, UnsubscribeCause};
pub use realtime::{InvalidCloseCode, Realtime, RealtimeBuilder};
pub use signature::sign_private_channel;
pub use socket_id::{is_valid_socket_id, InvalidSocketId, SocketId};
pub use stats::StatsSnapshot;
