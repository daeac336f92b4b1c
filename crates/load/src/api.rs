//! The service's HTTP API as the tools call it: one request helper that answers the status
//! and the JSON body or the kind of failure, the kinds unexpected answers are counted under,
//! `POST /api/messages`, and the directory registration every tool starts with.
//!
//! It owns requests and their classification only; what a tool does with an answer (count
//! it, retry, give up) is the tool's.

use std::collections::BTreeMap;
use std::sync::Mutex;

use anyhow::bail;
use futures_util::stream::{self, StreamExt as _};
use reqwest::Method;
use serde_json::{json, Value};

/// A client of one running service.
#[derive(Clone, Debug)]
pub struct Api {
    pub http: reqwest::Client,
    /// `http://host:port`, without a trailing slash.
    pub base_url: String,
}

impl Api {
    #[must_use]
    pub fn new(http: reqwest::Client, base_url: &str) -> Api {
        Api { http, base_url: base_url.trim_end_matches('/').to_owned() }
    }

    /// Sends a request; answers the status and the JSON body (`Null` when it is not JSON), or
    /// the kind of transport failure (`"POST /api/messages timeout"`).
    ///
    /// # Errors
    /// No answer: the kind to count it under.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base_url)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
            }
            Err(error) => {
                let kind = if error.is_timeout() {
                    "timeout"
                } else if error.is_connect() {
                    "connect"
                } else {
                    "transport"
                };
                Err(format!("{method} {} {kind}", route_template(path)))
            }
        }
    }

    /// Like [`Api::call`], with any status but `expected` turned into its error kind.
    ///
    /// # Errors
    /// No answer, or another status: the kind to count it under.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
        expected: u16,
    ) -> Result<Value, String> {
        let (status, value) = self.call(method.clone(), path, token, body).await?;
        if status == expected {
            Ok(value)
        } else {
            Err(error_kind(method.as_str(), path, status, &value))
        }
    }

    /// `POST /api/messages` as the host platform: the 202's body, or the error kind.
    ///
    /// # Errors
    /// No answer, or not 202: the kind to count it under.
    pub async fn post_message(&self, platform_token: &str, message: &Value) -> Result<Value, String> {
        self.expect(Method::POST, "/api/messages", platform_token, Some(message), 202).await
    }

    /// Registers moderators, profiles (active) and clients with `PUT`, `concurrency` requests
    /// at a time, as the host platform does before sending traffic.
    ///
    /// # Errors
    /// Any registration was refused or unanswered: how many, and the first.
    pub async fn register_directory(
        &self,
        platform_token: &str,
        directory: &Directory,
        concurrency: usize,
    ) -> anyhow::Result<()> {
        let requests = directory.requests();
        let failures: Vec<String> = stream::iter(requests)
            .map(|(path, body)| async move {
                self.expect(Method::PUT, &path, platform_token, Some(&body), 200)
                    .await
                    .err()
                    .map(|kind| format!("PUT {path}: {kind}"))
            })
            .buffer_unordered(concurrency.max(1))
            .filter_map(|failure| async move { failure })
            .collect()
            .await;
        if let Some(first) = failures.first() {
            bail!("{} directory requests failed, the first: {first}", failures.len());
        }
        Ok(())
    }
}

/// Who to register: ids of moderators, profiles and clients.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    pub moderators: Vec<u64>,
    pub profiles: Vec<u64>,
    pub clients: Vec<u64>,
}

impl Directory {
    /// `PUT` path and body of each entry, moderators first.
    #[must_use]
    pub fn requests(&self) -> Vec<(String, Value)> {
        let moderators = self
            .moderators
            .iter()
            .map(|id| (format!("/api/moderators/{id}"), json!({"name": format!("Moderator {id}")})));
        let profiles = self
            .profiles
            .iter()
            .map(|id| (format!("/api/profiles/{id}"), json!({"name": format!("Profile {id}"), "active": true})));
        let clients =
            self.clients.iter().map(|id| (format!("/api/clients/{id}"), json!({"name": format!("Client {id}")})));
        moderators.chain(profiles).chain(clients).collect()
    }
}

/// `"POST /moderateur/typing 409 client_locked"`: the kind an unexpected answer is counted under.
#[must_use]
pub fn error_kind(method: &str, path: &str, status: u16, body: &Value) -> String {
    let code = body["error"]["code"].as_str().unwrap_or("-");
    format!("{method} {} {status} {code}", route_template(path))
}

/// A path with its ids replaced by `{id}`, so error kinds do not multiply per id.
#[must_use]
pub fn route_template(path: &str) -> String {
    path.split('/')
        .map(
            |segment| if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) { "{id}" } else { segment },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// Occurrences by kind (errors by kind, events by name), shared by a tool's tasks.
#[derive(Debug, Default)]
pub struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    pub fn add(&self, kind: impl Into<String>) {
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(kind.into()).or_insert(0) += 1;
        }
    }

    #[must_use]
    pub fn total(&self) -> u64 {
        self.0.lock().map(|counts| counts.values().sum()).unwrap_or_default()
    }

    #[must_use]
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|counts| counts.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_name_the_route_not_the_ids() {
        let body = json!({"error": {"code": "client_locked", "message": "x"}});
        assert_eq!(error_kind("POST", "/moderateur/typing", 409, &body), "POST /moderateur/typing 409 client_locked");
        assert_eq!(error_kind("PUT", "/api/profiles/17", 500, &Value::Null), "PUT /api/profiles/{id} 500 -");
        assert_eq!(route_template("/api/clients/12/x"), "/api/clients/{id}/x");
    }

    #[test]
    fn a_directory_registers_moderators_then_profiles_then_clients() {
        let directory = Directory { moderators: vec![1], profiles: vec![2, 3], clients: vec![4] };
        let paths: Vec<String> = directory.requests().into_iter().map(|(path, _)| path).collect();
        assert_eq!(paths, ["/api/moderators/1", "/api/profiles/2", "/api/profiles/3", "/api/clients/4"]);
        assert_eq!(directory.requests()[1].1, json!({"name": "Profile 2", "active": true}));
    }

    #[test]
    fn a_tally_counts_per_kind() {
        let tally = Tally::default();
        tally.add("a");
        tally.add("b");
        tally.add("a");
        assert_eq!(tally.total(), 3);
        assert_eq!(tally.snapshot().get("a"), Some(&2));
    }
}
