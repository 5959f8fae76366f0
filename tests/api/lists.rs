//! List parameters: limit, offset, order, direction, search and bad values (SPEC §5).

use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{self, assert_api_error, Store};

both_stores!(
    lists_answer_total_filtered_items,
    limit_offset_order_direction_search,
    bad_list_parameters_are_400,
    search_is_case_insensitive,
);

async fn lists_answer_total_filtered_items(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    for path in [
        "/users",
        "/policies",
        "/sessions",
        "/tokens",
        "/users/me/tokens",
    ] {
        let reply = srv.get(path, &admin).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        assert!(reply.body["total"].is_u64(), "{path} total: {}", reply.text);
        assert!(
            reply.body["filtered"].is_u64(),
            "{path} filtered: {}",
            reply.text
        );
        assert!(
            reply.body["items"].is_array(),
            "{path} items: {}",
            reply.text
        );
    }
}

async fn limit_offset_order_direction_search(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    for name in ["lst-b", "lst-d", "lst-a", "lst-c"] {
        srv.create_policy_as(&admin, name, &[]).await;
    }
    let base = "/policies?search=lst-&order=name";
    let asc = srv.get(&format!("{base}&direction=asc"), &admin).await;
    assert_eq!(asc.status, 200, "{}", asc.text);
    assert_eq!(asc.body["filtered"], json!(4));
    assert!(asc.body["total"].as_u64().expect("total") >= 4);
    assert_eq!(
        common::items_field(&asc, "name"),
        vec![
            json!("lst-a"),
            json!("lst-b"),
            json!("lst-c"),
            json!("lst-d")
        ]
    );
    let desc = srv.get(&format!("{base}&direction=desc"), &admin).await;
    assert_eq!(
        common::items_field(&desc, "name"),
        vec![
            json!("lst-d"),
            json!("lst-c"),
            json!("lst-b"),
            json!("lst-a")
        ]
    );
    let page = srv
        .get(&format!("{base}&direction=asc&limit=2&offset=1"), &admin)
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(
        common::items_field(&page, "name"),
        vec![json!("lst-b"), json!("lst-c")]
    );
    assert_eq!(page.body["filtered"], json!(4), "filtered ignores paging");
    let beyond = srv.get(&format!("{base}&offset=10"), &admin).await;
    assert_eq!(beyond.status, 200);
    assert_eq!(common::items_field(&beyond, "name"), Vec::<Value>::new());
    let zero = srv.get(&format!("{base}&limit=0&offset=0"), &admin).await;
    assert_eq!(zero.status, 200, "limit=0 is an integer ≥ 0: {}", zero.text);
    let none = srv
        .get("/policies?search=no-such-policy-name", &admin)
        .await;
    assert_eq!(none.body["filtered"], json!(0));
    assert_eq!(common::items_field(&none, "name"), Vec::<Value>::new());
}

async fn bad_list_parameters_are_400(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    for path in ["/users", "/policies", "/sessions", "/tokens"] {
        for query in [
            "limit=-1",
            "limit=abc",
            "limit=1.5",
            "limit=",
            "offset=-1",
            "offset=x",
            "direction=up",
            "direction=ASCENDING",
            "order=no_such_column",
        ] {
            let reply = srv.get(&format!("{path}?{query}"), &admin).await;
            assert_api_error(&reply, 400, &format!("{path}?{query}"));
        }
    }
}

async fn search_is_case_insensitive(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    srv.create_policy_as(&admin, "Grüße-Équipe", &[]).await;
    srv.create_policy_as(&admin, "Plain-Team", &[]).await;
    for search in [
        "plain-team",
        "PLAIN",
        "grüße",
        "GRÜSSE-ÉQUIPE",
        "équipe",
        "ÉQUIPE",
    ] {
        let reply = srv
            .send(
                srv.request(reqwest::Method::GET, "/policies")
                    .header("X-Auth-Token", &admin)
                    .query(&[("search", search)]),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let expected = if search.to_lowercase().contains("plain") {
            "Plain-Team"
        } else {
            "Grüße-Équipe"
        };
        if search == "GRÜSSE-ÉQUIPE" {
            // ß upper-cases to SS: not a simple case fold; only require no error.
            continue;
        }
        assert_eq!(
            common::items_field(&reply, "name"),
            vec![json!(expected)],
            "search {search:?}: {}",
            reply.text
        );
    }
}
