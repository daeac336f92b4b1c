//! `/openapi.json`: an OpenAPI 3.0 document built from the router's own route table
//! ([`RouteDoc`], which `http::routes::Routes` fills as it builds the router), so a route cannot be served without being described or described
//! without being served. Request bodies' schemas are written here beside the input types'
//! names; responses are described by status.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use axum::http::Method;

use crate::auth::Role;

/// One documented route: the router registers it and `/openapi.json` describes it.
#[derive(Clone, Debug)]
pub struct RouteDoc {
    pub method: Method,
    /// axum syntax, which is also OpenAPI's: `/api/profiles/{id}`.
    pub path: &'static str,
    /// `None`: no bearer token needed.
    pub role: Option<Role>,
    pub summary: &'static str,
    /// Name of the request body's schema (see [`schemas`]), if it takes one.
    pub body: Option<&'static str>,
    /// The success status.
    pub success: u16,
    /// Error statuses beyond those of every authenticated route (401, 403, 400/422).
    pub errors: &'static [u16],
    /// Optional query parameters (none for most routes).
    pub query: &'static [QueryDoc],
}

/// One optional query parameter of a route, for `/openapi.json`.
#[derive(Clone, Copy, Debug)]
pub struct QueryDoc {
    pub name: &'static str,
    /// `Some((min, max))`: a whole number in that range; `None`: text.
    pub integer: Option<(u64, u64)>,
    pub description: &'static str,
}

impl QueryDoc {
    pub(crate) const fn integer(name: &'static str, min: u64, max: u64, description: &'static str) -> Self {
        QueryDoc { name, integer: Some((min, max)), description }
    }

    pub(crate) const fn text(name: &'static str, description: &'static str) -> Self {
        QueryDoc { name, integer: None, description }
    }
}

fn id() -> Value {
    json!({"type": "integer", "format": "int64", "minimum": 1})
}

fn name() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 200, "description": "no control characters"})
}

/// API.md contract v2: an integer or a string id, echoed in the form given.
fn message_id() -> Value {
    json!({
        "description": "the platform's id, echoed in the form given; idempotency compares it exactly (5 and \"5\" differ)",
        "oneOf": [
            {"type": "integer", "format": "int64", "minimum": 1},
            {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9._:-]+$"},
        ],
    })
}

fn body() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 10000})
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "additionalProperties": false, "properties": properties, "required": required})
}

/// The request body schemas named by the route table.
fn schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    schemas.insert("NameInput".into(), object(json!({"name": name()}), &["name"]));
    schemas.insert(
        "ProfileInput".into(),
        object(json!({"name": name(), "active": {"type": "boolean"}}), &["name", "active"]),
    );
    schemas.insert(
        "InboundMessageInput".into(),
        object(
            json!({"message_id": message_id(), "client_id": id(), "profile_id": id(), "body": body(),
                   "sent_at": {"type": "string", "format": "date-time"}}),
            &["message_id", "client_id", "profile_id", "body"],
        ),
    );
    schemas.insert(
        "ConversationInput".into(),
        object(json!({"client_id": id(), "profile_id": id()}), &["client_id", "profile_id"]),
    );
    schemas.insert(
        "ReplyInput".into(),
        object(json!({"client_id": id(), "profile_id": id(), "body": body()}), &["client_id", "profile_id", "body"]),
    );
    schemas.insert(
        "PriorityInput".into(),
        object(json!({"priority": {"type": "integer", "minimum": -1_000_000, "maximum": 1_000_000}}), &["priority"]),
    );
    schemas.insert(
        "UnlockInput".into(),
        json!({"type": "object", "additionalProperties": false, "description": "exactly one of profile_id and client_id",
               "properties": {"profile_id": id(), "client_id": id()}}),
    );
    schemas.insert(
        "ExtendInput".into(),
        json!({"type": "object", "additionalProperties": false, "required": ["seconds"],
               "description": "exactly one of profile_id and client_id",
               "properties": {"profile_id": id(), "client_id": id(),
                              "seconds": {"type": "integer", "minimum": 1, "maximum": 86400}}}),
    );
    schemas.insert("ResolveInput".into(), object(json!({"conflict_id": id()}), &["conflict_id"]));
    schemas.insert("PinInput".into(), object(json!({"moderator_id": id()}), &["moderator_id"]));
    schemas.insert(
        "PresenceSetInput".into(),
        object(
            json!({"node": {"type": "string", "minLength": 1, "maxLength": 255},
                   "moderators": {"type": "array", "maxItems": 1_000_000, "items": id()}}),
            &["node", "moderators"],
        ),
    );
    schemas.insert(
        "ChannelAuthorizationInput".into(),
        object(
            json!({"socket_id": {"type": "string", "pattern": "^\\d+\\.\\d+$"}, "channel_name": {"type": "string"}}),
            &["socket_id", "channel_name"],
        ),
    );
    schemas.insert(
        "Error".into(),
        object(
            json!({"error": object(json!({"code": {"type": "string"}, "message": {"type": "string"}}), &["code", "message"])}),
            &["error"],
        ),
    );
    schemas
}

fn describe(status: u16) -> &'static str {
    match status {
        101 => "switching to the WebSocket protocol",
        200 => "OK",
        201 => "created",
        202 => "accepted",
        204 => "done, no body",
        400 => "invalid_request: unreadable body, wrong content type, body over 64 KiB",
        401 => "unauthorized: missing, expired, forged or malformed token",
        403 => "forbidden: wrong role or not allowed",
        404 => "not_found",
        409 => "client_locked, double_initiation, not_profile_holder, not_in_queue or conflict",
        413 => "invalid_request: body too large",
        422 => "invalid_request: unknown, missing or mistyped field, value out of range",
        503 => "unavailable: storage unreachable",
        _ => "see the error body",
    }
}

/// The document for `routes`.
#[must_use]
pub fn document(routes: &[RouteDoc]) -> Value {
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for route in routes {
        let mut responses = Map::new();
        let success = if route.success == 204 || route.success == 101 {
            json!({"description": describe(route.success)})
        } else {
            json!({"description": describe(route.success), "content": {"application/json": {"schema": {"type": "object"}}}})
        };
        responses.insert(route.success.to_string(), success);
        let mut errors: Vec<u16> = route.errors.to_vec();
        if route.role.is_some() {
            errors.extend([401, 403]);
        }
        if route.body.is_some() || route.path.contains('{') || !route.query.is_empty() {
            errors.extend([400, 422]);
        }
        if route.role.is_some() {
            errors.push(503);
        }
        errors.sort_unstable();
        errors.dedup();
        for status in errors {
            responses.insert(
                status.to_string(),
                json!({"description": describe(status),
                       "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
            );
        }
        let parameters: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')))
            .map(|parameter| {
                let schema = if parameter == "app_key" { json!({"type": "string"}) } else { id() };
                json!({"name": parameter, "in": "path", "required": true, "schema": schema})
            })
            .chain(route.query.iter().map(|parameter| {
                let schema = parameter.integer.map_or_else(
                    || json!({"type": "string", "minLength": 1, "maxLength": 200}),
                    |(minimum, maximum)| json!({"type": "integer", "minimum": minimum, "maximum": maximum}),
                );
                json!({"name": parameter.name, "in": "query", "required": false,
                       "description": parameter.description, "schema": schema})
            }))
            .collect();
        let mut operation = json!({
            "summary": route.summary,
            "operationId": operation_id(route),
            "tags": [route.role.map_or("operations", Role::as_str)],
            "parameters": parameters,
            "responses": responses,
        });
        if let Some(schema) = route.body {
            operation["requestBody"] = json!({"required": true, "content": {"application/json": {
                "schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
        }
        if route.role.is_some() {
            operation["security"] = json!([{"bearer": []}]);
            operation["x-role"] = json!(route.role.map(Role::as_str));
        }
        paths.entry(route.path).or_default().insert(route.method.as_str().to_ascii_lowercase(), operation);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Switchboard",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Profile assignment and rotation for moderated chat. Errors are {\"error\": {\"code\", \"message\"}}; times are RFC 3339 UTC; durations are *_seconds.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (HS256)"}},
        },
    })
}

fn operation_id(route: &RouteDoc) -> String {
    let mut id = route.method.as_str().to_ascii_lowercase();
    for segment in route.path.split('/').filter(|segment| !segment.is_empty()) {
        id.push('_');
        id.extend(segment.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').map(|c| c.to_ascii_lowercase()));
    }
    if route.path == "/" {
        id.push_str("_root");
    }
    id
}
