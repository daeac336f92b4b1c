//! `GET /api/supervisor/state` with its optional paging and filters: without parameters the
//! whole state as before; with any, one page of moderators and one of profiles (searched by id
//! or name, filtered by state or status) with the number of matches, counts and totals that
//! agree with the load report, and strict refusals of bad parameters.

mod common;

use common::{error_code, Db, TestApp};
use serde_json::{json, Value};

async fn page(app: &TestApp, query: &str) -> Value {
    let (status, value) = app.supervisor("GET", &format!("/api/supervisor/state?{query}"), None).await;
    assert_eq!(status, 200, "{query}: {value}");
    value
}

fn ids(table: &Value, key: &str) -> Vec<u64> {
    table["rows"].as_array().expect("rows").iter().map(|row| row[key].as_u64().expect("id")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_state_pages_searches_filters_and_counts() {
    let app = TestApp::start(Db::Sqlite).await;
    let names = ["Alice Martin", "Bruno Petit", "Chantal Roux", "ALINE Dubois", "Élodie Faure", "Farid Benali"];
    for id in 1..=12_u64 {
        let name = names.get(id as usize - 1).map_or_else(|| format!("Moderator {id}"), |name| (*name).to_owned());
        app.platform("PUT", &format!("/api/moderators/{id}"), json!({ "name": name })).await;
    }
    for id in 1..=15_u64 {
        app.platform(
            "PUT",
            &format!("/api/profiles/{id}"),
            json!({"name": format!("Profile {id}"), "active": id != 15}),
        )
        .await;
    }
    for id in [1, 2, 3] {
        app.connect(id).await;
    }
    app.inbound(1, 100, 9).await;

    // No parameter: today's answer, every row and the conversations.
    let whole = app.state().await;
    assert_eq!(whole["moderators"].as_array().expect("array").len(), 12);
    assert_eq!(whole["profiles"].as_array().expect("array").len(), 15);
    assert!(whole["conversations"].is_array());

    let first = page(&app, "moderators_limit=5&profiles_limit=4").await;
    assert_eq!(ids(&first["moderators"], "moderator_id"), [1, 2, 3, 4, 5]);
    assert_eq!(first["moderators"]["total"], 12);
    assert_eq!(ids(&first["profiles"], "profile_id"), [1, 2, 3, 4]);
    assert_eq!(first["profiles"]["total"], 15);
    let last = page(&app, "moderators_offset=10&moderators_limit=5&profiles_offset=15").await;
    assert_eq!(ids(&last["moderators"], "moderator_id"), [11, 12]);
    assert_eq!(ids(&last["profiles"], "profile_id"), Vec::<u64>::new());
    assert_eq!(last["profiles"]["total"], 15);

    // Rows are the full state's rows, plus response figures for moderators and a status for profiles.
    let row = &first["moderators"]["rows"][0];
    assert_eq!(row["name"], "Alice Martin");
    assert_eq!(row["state"], whole["moderators"][0]["state"]);
    assert_eq!(row["replies"], 0);
    assert!(row.get("median_response_seconds").is_some());

    // Search: part of a name, any case, accents included; or an exact id.
    assert_eq!(ids(&page(&app, "moderators_q=ali").await["moderators"], "moderator_id"), [1, 4, 6]);
    assert_eq!(ids(&page(&app, "moderators_q=%C3%A9LODIE").await["moderators"], "moderator_id"), [5]);
    assert_eq!(ids(&page(&app, "moderators_q=12").await["moderators"], "moderator_id"), [12]);
    assert_eq!(ids(&page(&app, "moderators_q=1").await["moderators"], "moderator_id"), [1, 10, 11, 12]);
    assert_eq!(ids(&page(&app, "profiles_q=profile%201").await["profiles"], "profile_id"), [1, 10, 11, 12, 13, 14, 15]);

    // Filters.
    let connected = page(&app, "moderators_state=queued,working").await;
    assert_eq!(ids(&connected["moderators"], "moderator_id"), [1, 2, 3]);
    let offline = page(&app, "moderators_state=offline&moderators_limit=2").await;
    assert_eq!(ids(&offline["moderators"], "moderator_id"), [4, 5]);
    assert_eq!(offline["moderators"]["total"], 9);
    // Three moderators took one profile each; the message to profile 9 gave it to one of them.
    let held_in_whole =
        whole["profiles"].as_array().expect("profiles").iter().filter(|p| p["lock"].is_object()).count();
    assert_eq!(held_in_whole, 4);
    let held = page(&app, "profiles_status=held").await;
    assert_eq!(held["profiles"]["total"], 4);
    assert!(held["profiles"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .all(|p| p["status"] == "held" && p["lock"].is_object()));
    let inactive = page(&app, "profiles_status=inactive").await;
    assert_eq!(ids(&inactive["profiles"], "profile_id"), [15]);
    let nothing = page(&app, "moderators_limit=0&profiles_limit=0").await;
    assert_eq!(nothing["moderators"]["rows"], json!([]));
    assert_eq!(nothing["moderators"]["total"], 12);

    // Counts cover the whole directory, whatever the page; totals are the load report's.
    let counts = &first["counts"];
    assert_eq!(counts["moderators"]["offline"], 9);
    let moderators: u64 =
        counts["moderators"].as_object().expect("counts").values().map(|n| n.as_u64().expect("n")).sum();
    assert_eq!(moderators, 12);
    let profiles: u64 = counts["profiles"].as_object().expect("counts").values().map(|n| n.as_u64().expect("n")).sum();
    assert_eq!(profiles, 15);
    assert_eq!(counts["profiles"]["held"], 4);
    assert_eq!(counts["profiles"]["inactive"], 1);
    let (_, report) = app.supervisor("GET", "/api/supervisor/load-report", None).await;
    assert_eq!(first["totals"], report["totals"], "the page's totals are the load report's");
    assert_eq!(first["free_profiles"], whole["free_profiles"]);
    assert_eq!(first["queue_length"], whole["queue"].as_array().expect("queue").len());
    assert_eq!(first["client_locks_total"], whole["client_locks"].as_array().expect("locks").len());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_state_refuses_bad_parameters_with_the_error_body() {
    let app = TestApp::start(Db::Sqlite).await;
    let long = format!("moderators_q={}", "x".repeat(201));
    for query in
        ["moderators_limit=1001", "moderators_state=busy", "profiles_status=held,lost", "nope=1", long.as_str()]
    {
        let (status, body) = app.supervisor("GET", &format!("/api/supervisor/state?{query}"), None).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(error_code(&body), "invalid_request", "{query}: {body}");
    }
    let (status, body) =
        app.supervisor("GET", "/api/supervisor/state?moderators_limit=1&moderators_limit=2", None).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().expect("message").contains("more than once"), "{body}");
    // The longest accepted search and the largest page are fine.
    let longest = format!("moderators_q={}&moderators_limit=1000", "x".repeat(200));
    let (status, body) = app.supervisor("GET", &format!("/api/supervisor/state?{longest}"), None).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_describes_the_state_query() {
    let app = TestApp::start(Db::Sqlite).await;
    let (_, document) = app.call("GET", "/openapi.json", None, None).await;
    let parameters = document["paths"]["/api/supervisor/state"]["get"]["parameters"].as_array().expect("parameters");
    let names: Vec<&str> = parameters.iter().map(|p| p["name"].as_str().expect("name")).collect();
    assert_eq!(
        names,
        [
            "moderators_offset",
            "moderators_limit",
            "moderators_q",
            "moderators_state",
            "profiles_offset",
            "profiles_limit",
            "profiles_q",
            "profiles_status"
        ]
    );
    assert!(parameters.iter().all(|p| p["in"] == "query" && p["required"] == false));
    assert_eq!(parameters[1]["schema"]["maximum"], 1000);
    assert!(document["paths"]["/api/supervisor/state"]["get"]["responses"]["422"].is_object());
    app.stop().await;
}
