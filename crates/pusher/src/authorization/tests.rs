//! The `/broadcasting/auth` handler through a real axum router, one request at a time.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::*;
use crate::config::PusherConfig;

const KEY: &str = "278d425bdf160c739803";
const SECRET: &str = "7ad3773142a6692b25b8";
const VECTOR_AUTH: &str = "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4";

fn app() -> Router {
    let realtime = Realtime::new(PusherConfig::new("1", KEY, SECRET)).expect("valid config");
    Router::new()
        .route(
            "/broadcasting/auth",
            realtime.authorization_handler(|headers: &HeaderMap, channel: &str| {
                let bearer = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
                if bearer != Some("Bearer good") {
                    return Err(AuthDenied::new("a valid bearer token is required"));
                }
                if channel.starts_with("private-allowed.") || channel == "private-foobar" {
                    Ok(())
                } else {
                    Err(AuthDenied::new("not your channel"))
                }
            }),
        )
        .route(
            "/async/auth",
            realtime.authorization_handler_async(|_headers: HeaderMap, channel: String| async move {
                if channel == "private-foobar" {
                    Ok(())
                } else {
                    Err(AuthDenied::new("no"))
                }
            }),
        )
}

async fn call(
    path: &str,
    content_type: Option<&str>,
    bearer: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    let mut request = Request::post(path);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    if let Some(bearer) = bearer {
        request = request.header(header::AUTHORIZATION, format!("Bearer {bearer}"));
    }
    let response =
        app().oneshot(request.body(body.into()).expect("a valid request")).await.expect("the router answers");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("a readable body").to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
const JSON: Option<&str> = Some("application/json");

#[tokio::test]
async fn form_body_as_pusher_js_sends_it_is_signed() {
    let (status, body) =
        call("/broadcasting/auth", FORM, Some("good"), "socket_id=1234.1234&channel_name=private-foobar").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "auth": VECTOR_AUTH }));
}

#[tokio::test]
async fn json_body_is_signed_too() {
    let (status, body) = call(
        "/broadcasting/auth",
        Some("application/json; charset=utf-8"),
        Some("good"),
        r#"{"socket_id":"1234.1234","channel_name":"private-foobar","extra":1}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "auth": VECTOR_AUTH }));
}

#[tokio::test]
async fn missing_content_type_is_read_as_a_form() {
    let (status, _) =
        call("/broadcasting/auth", None, Some("good"), "channel_name=private-allowed.7&socket_id=1.2").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_embedder_decides() {
    let (status, body) =
        call("/broadcasting/auth", FORM, Some("good"), "socket_id=1.2&channel_name=private-secret.1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, json!({"error": {"code": "forbidden", "message": "not your channel"}}));
    let (status, body) = call("/broadcasting/auth", FORM, None, "socket_id=1.2&channel_name=private-allowed.1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
}

#[tokio::test]
async fn async_decisions_work_the_same() {
    let (status, body) = call("/async/auth", FORM, None, "socket_id=1234.1234&channel_name=private-foobar").await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "auth": VECTOR_AUTH })));
    let (status, _) = call("/async/auth", FORM, None, "socket_id=1234.1234&channel_name=private-other").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn only_private_channels_are_signed() {
    for channel in ["public", "presence-room", "private-encrypted-room"] {
        let (status, body) =
            call("/broadcasting/auth", FORM, Some("good"), format!("socket_id=1.2&channel_name={channel}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{channel}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
}

#[tokio::test]
async fn invalid_fields_are_422() {
    for body in [
        "channel_name=private-allowed.1",
        "socket_id=1.2",
        "socket_id=abc&channel_name=private-allowed.1",
        "socket_id=1.2&channel_name=private-allowed.1%20x",
        "",
    ] {
        let (status, answer) = call("/broadcasting/auth", FORM, Some("good"), body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(answer["error"]["code"], "invalid_request", "{body}");
    }
    let (status, _) = call("/broadcasting/auth", JSON, Some("good"), r#"{"socket_id":"1.2"}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    for (content_type, body) in [
        (JSON, "{not json"),
        (JSON, r#"{"socket_id":12,"channel_name":"private-a"}"#),
        (JSON, "[]"),
        (FORM, "socket_id=1.2&socket_id=3.4&channel_name=private-a"),
        (JSON, ""),
    ] {
        let (status, answer) = call("/broadcasting/auth", content_type, Some("good"), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["error"]["code"], "invalid_request", "{body}");
    }
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let body = format!("socket_id=1.2&channel_name=private-a&pad={}", "x".repeat(MAX_AUTHORIZATION_BODY_BYTES));
    let (status, answer) = call("/broadcasting/auth", FORM, Some("good"), body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["error"]["code"], "invalid_request");
}

#[test]
fn authorize_channel_validates_before_signing() {
    let realtime = Realtime::new(PusherConfig::new("1", KEY, SECRET)).expect("valid config");
    assert_eq!(realtime.authorize_channel("1234.1234", "private-foobar").as_deref(), Ok(VECTOR_AUTH));
    assert_eq!(realtime.authorize_channel("1234", "private-foobar"), Err(ChannelAuthorizationError::InvalidSocketId));
    assert_eq!(
        realtime.authorize_channel("1.1", "news"),
        Err(ChannelAuthorizationError::NotPrivate(ChannelKind::Public))
    );
    assert!(matches!(
        realtime.authorize_channel("1.1", "private-a b"),
        Err(ChannelAuthorizationError::InvalidChannelName(_))
    ));
}
