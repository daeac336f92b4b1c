//! The route table: each route is registered in the router and described for
//! `/openapi.json` in the same call, so the two cannot disagree.

use axum::http::Method;
use axum::routing::MethodRouter;
use axum::Router;

use super::state::AppState;
use crate::auth::Role;
use crate::openapi::{QueryDoc, RouteDoc};

/// Collects routes into a router and their descriptions into a table, in one pass.
pub(crate) struct Routes {
    pub(crate) router: Router<AppState>,
    pub(crate) docs: Vec<RouteDoc>,
}

impl Routes {
    pub(crate) fn new() -> Self {
        Routes { router: Router::new(), docs: Vec::new() }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(
        mut self,
        method: Method,
        path: &'static str,
        role: Option<Role>,
        summary: &'static str,
        body: Option<&'static str>,
        success: u16,
        errors: &'static [u16],
        handler: MethodRouter<AppState>,
    ) -> Self {
        self.router = self.router.route(path, handler);
        self.docs.push(RouteDoc { method, path, role, summary, body, success, errors, query: &[] });
        self
    }

    /// Documents the optional query parameters of the route added last.
    pub(crate) fn with_query(mut self, query: &'static [QueryDoc]) -> Self {
        if let Some(doc) = self.docs.last_mut() {
            doc.query = query;
        }
        self
    }

    /// A route served by another component (the Pusher WebSocket): documented here, routed
    /// by its owner.
    pub(crate) fn document(mut self, doc: RouteDoc) -> Self {
        self.docs.push(doc);
        self
    }

    /// Routes served by another component, each as `(method, path, summary)`; Pusher-signed
    /// (query `auth_*`), answering 200 or Pusher's plain-text 400/401/403/404/413.
    pub(crate) fn document_all(mut self, routes: &[(Method, &'static str, &'static str)]) -> Self {
        for (method, path, summary) in routes {
            self.docs.push(RouteDoc {
                method: method.clone(),
                path,
                role: None,
                summary,
                body: None,
                success: 200,
                errors: &[400, 401, 403, 404, 413],
                query: &[],
            });
        }
        self
    }
}
