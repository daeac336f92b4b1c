//! The moderator console (`/`) and the supervisor dashboard (`/supervisor`): static files
//! from `crates/server/web/`, embedded in the binary at compile time, served under
//! `/console/…` with their content type, `Cache-Control: no-cache` and a strict
//! Content-Security-Policy; and `/console/config.json`, which tells the pages how to reach
//! the Pusher server and how events are named on the wire.
//!
//! No file is read from disk at run time, and nothing here knows the engine: the pages talk
//! to the same HTTP API and Pusher channels as any other client.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use switchboard_store::rfc3339;

use super::error::Error;
use super::state::AppState;

/// One embedded file.
struct Asset {
    /// Path under `web/`, which is also the path under `/console/`.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal => $content_type:literal),* $(,)?) => {
        &[$(Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)),
        }),*]
    };
}

const HTML: &str = "text/html; charset=utf-8";
#[cfg(test)]
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// Every file of `web/`; a test checks that the directory holds no file missing here.
const ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "supervisor.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "icon.svg" => "image/svg+xml",
    "api.js" => "text/javascript; charset=utf-8",
    "dom.js" => "text/javascript; charset=utf-8",
    "store.js" => "text/javascript; charset=utf-8",
    "realtime.js" => "text/javascript; charset=utf-8",
    "moderator-store.js" => "text/javascript; charset=utf-8",
    "moderator.js" => "text/javascript; charset=utf-8",
    "supervisor-store.js" => "text/javascript; charset=utf-8",
    "supervisor.js" => "text/javascript; charset=utf-8",
    "vendor/pusher.min.js" => "text/javascript; charset=utf-8",
    "vendor/pusher.min.js.LICENSE.txt" => "text/plain; charset=utf-8",
};

/// Scripts and styles from this origin only, no inline code, no plugins, no framing;
/// `connect-src 'self'` covers `fetch` and, in current browsers, the same-origin WebSocket.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The policy of a page, naming its own `ws://`/`wss://` origin as well for browsers whose
/// `'self'` does not cover WebSockets. A `Host` that is not a plain host\[:port\] is left out.
fn page_policy(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).filter(|host| {
        !host.is_empty()
            && host.len() <= 255
            && host.bytes().all(|byte| byte.is_ascii_alphanumeric() || b".-:[]".contains(&byte))
    });
    match host {
        Some(host) => CONTENT_SECURITY_POLICY
            .replace("connect-src 'self'", &format!("connect-src 'self' ws://{host} wss://{host}")),
        None => CONTENT_SECURITY_POLICY.to_owned(),
    }
}

/// The paths of every embedded file, for tests.
#[must_use]
pub fn asset_paths() -> Vec<&'static str> {
    ASSETS.iter().map(|asset| asset.path).collect()
}

/// `/console/{*path}` and `/console/config.json`. Not in the route table: these are files,
/// not API (`/` and `/supervisor` are, through [`moderator_page`] and [`supervisor_page`]).
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/console/config.json", get(config)).route("/console/{*path}", get(file))
}

fn serve(asset: &Asset) -> Response {
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // `?token=` may be in the address for a moment: never send it elsewhere.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

fn page(path: &str, headers: &HeaderMap) -> Response {
    match asset(path) {
        Some(asset) => {
            let mut response = serve(asset);
            if let Ok(policy) = HeaderValue::from_str(&page_policy(headers)) {
                response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, policy);
            }
            response
        }
        None => Error::Internal(format!("{path} is not embedded")).into_response(),
    }
}

/// `GET /`: the moderator console.
pub(crate) async fn moderator_page(headers: HeaderMap) -> Response {
    page("index.html", &headers)
}

/// `GET /supervisor`: the supervisor dashboard.
pub(crate) async fn supervisor_page(headers: HeaderMap) -> Response {
    page("supervisor.html", &headers)
}

async fn file(Path(path): Path<String>) -> Response {
    match asset(&path) {
        Some(asset) if asset.content_type != HTML => serve(asset),
        _ => Error::NotFound(format!("no console file {path}")).into_response(),
    }
}

/// The realtime settings the pages need. `ws_host`/`ws_port` are null: the WebSocket is on
/// the page's own origin (the same binary serves both). `server_time` lets the pages correct
/// countdowns for a wrong local clock.
async fn config(State(state): State<AppState>) -> Response {
    let settings = &state.console;
    let mut response = json!({
        "pusher_app_key": settings.pusher_app_key,
        "event_namespace": settings.event_namespace,
        "ws_host": null,
        "ws_port": null,
        "auth_endpoint": "/broadcasting/auth",
        "server_time": rfc3339(state.clock.now()),
    })
    .to_string()
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_web_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut found = Vec::new();
        let mut folders = vec![root.clone()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).expect("web/ is readable") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    folders.push(path);
                } else {
                    let relative = path.strip_prefix(&root).expect("under web/").to_string_lossy().replace('\\', "/");
                    found.push(relative);
                }
            }
        }
        found.sort();
        let mut embedded: Vec<String> = asset_paths().into_iter().map(str::to_owned).collect();
        embedded.sort();
        assert_eq!(found, embedded, "web/ and the ASSETS list differ");
    }

    #[test]
    fn page_policy_names_only_plain_hosts() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(page_policy(&headers).contains("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"));
        headers.insert(header::HOST, HeaderValue::from_static("evil; script-src *"));
        assert_eq!(page_policy(&headers), CONTENT_SECURITY_POLICY);
        assert_eq!(page_policy(&HeaderMap::new()), CONTENT_SECURITY_POLICY);
    }

    #[test]
    fn content_types_follow_extensions() {
        for asset in ASSETS {
            let expected = match asset.path.rsplit('.').next() {
                Some("html") => HTML,
                Some("js") => JAVASCRIPT,
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                _ => "text/plain; charset=utf-8",
            };
            assert_eq!(asset.content_type, expected, "{}", asset.path);
        }
    }
}
