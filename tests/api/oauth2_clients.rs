//! OAuth2 clients' admin face (SPEC §11.2): `/oauth2/clients` under both API prefixes and
//! `tessera client …`. The secret is shown only when made and stored only as a digest; a caller
//! cannot give a client a ceiling it does not hold; deleting a client ends its tokens.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_stores;
use crate::common::{
    self, assert_api_error, assert_unauthorized, is_uuid, s, stderr_of, Reply, Store, TestServer,
};

const CLIENTS: &str = "/oauth2/clients";

both_stores!(
    create_get_update_delete_client,
    list_takes_the_list_parameters,
    the_secret_is_only_in_the_answers_that_make_it,
    a_new_secret_ends_the_old_one,
    a_client_id_secret_or_unknown_field_in_the_body_is_400,
    grant_types_are_required_and_checked,
    invalid_redirect_uris_are_400,
    a_ceiling_the_caller_does_not_hold_is_refused,
    every_endpoint_needs_its_acl,
    unknown_or_malformed_client_id_is_404,
    the_database_holds_only_a_digest_of_the_secret,
    deleting_a_client_ends_its_tokens,
    cli_adds_lists_and_removes_clients,
    a_client_s_ceiling_must_be_held_to_renew_its_secret_change_or_delete_it,
    a_user_cannot_take_a_client_s_uuid,
);

/// A confidential client of the client-credentials grant, with a ceiling the admin holds.
fn service(name: &str) -> Value {
    json!({"name": name, "grant_types": ["client_credentials"], "scope": ["confd.users.read"]})
}

/// A public client of the code grant (a native application).
fn app(name: &str) -> Value {
    json!({
        "name": name,
        "type": "public",
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": ["http://127.0.0.1/callback", "com.example.app:/callback"],
    })
}

impl TestServer {
    async fn post_client(&self, token: &str, body: Value) -> Reply {
        self.call(Method::POST, CLIENTS, Some(token), Some(body))
            .await
    }

    /// POST /oauth2/clients, which must succeed; the answer.
    async fn client_made(&self, token: &str, body: Value) -> Value {
        let reply = self.post_client(token, body).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body
    }

    async fn put_client(&self, token: &str, client_id: &str, body: Value) -> Reply {
        let path = format!("{CLIENTS}/{client_id}");
        self.call(Method::PUT, &path, Some(token), Some(body)).await
    }

    async fn renew_secret(&self, token: &str, client_id: &str) -> Reply {
        let path = format!("{CLIENTS}/{client_id}/secret");
        self.call(Method::POST, &path, Some(token), None).await
    }

    /// The client-credentials grant at the root's `/oauth2/token`, with HTTP Basic.
    async fn client_grant(&self, client_id: &str, secret: &str) -> Reply {
        let request = self
            .client
            .post(self.raw_url("/oauth2/token"))
            .basic_auth(client_id, Some(secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials");
        self.send(request).await
    }

    /// One value of a query on the server's database, read straight (not through Tessera).
    async fn sql_i64(&self, query: &str) -> i64 {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.database_url)
            .await
            .expect("connect to the server's database");
        let value: i64 = sqlx::query_scalar(query)
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        pool.close().await;
        value
    }
}

/// Every field of a client answer, and never a secret or its digest.
fn assert_client_shape(client: &Value, context: &str) {
    let fields = client.as_object().expect("a client is an object");
    for field in [
        "client_id",
        "name",
        "type",
        "redirect_uris",
        "post_logout_redirect_uris",
        "grant_types",
        "scope",
        "consent",
        "created_at",
    ] {
        assert!(fields.contains_key(field), "{context}: {field} in {client}");
    }
    assert!(is_uuid(&client["client_id"]), "{context}: {client}");
    let created_at = s(&client["created_at"]);
    assert!(
        chrono::DateTime::parse_from_rfc3339(&created_at).is_ok() && created_at.ends_with("+00:00"),
        "{context}: created_at {created_at}"
    );
    assert!(!fields.contains_key("secret_digest"), "{context}: {client}");
}

async fn create_get_update_delete_client(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let made = srv.client_made(&admin, app("Phone app")).await;
    assert_client_shape(&made, "create");
    assert_eq!(made["type"], json!("public"));
    assert_eq!(made["consent"], json!("required"));
    assert_eq!(made["post_logout_redirect_uris"], json!([]));
    assert_eq!(made["scope"], json!([]));
    assert!(made.get("client_secret").is_none(), "public: {made}");
    let id = s(&made["client_id"]);

    // The same client under the other prefix.
    let path = format!("{CLIENTS}/{id}");
    let other = srv
        .client
        .get(format!("http://{}/0.1{path}", srv.addr))
        .header("X-Auth-Token", &admin);
    let got = srv.send(other).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body, made);

    let mut changed = app("Phone app 2");
    changed["consent"] = json!("implicit");
    changed["redirect_uris"] = json!(["https://app.example.com/cb"]);
    changed.as_object_mut().expect("object").remove("type");
    let updated = srv.put_client(&admin, &id, changed.clone()).await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.body["name"], json!("Phone app 2"));
    assert_eq!(updated.body["consent"], json!("implicit"));
    assert_eq!(updated.body["type"], json!("public"), "the type stays");
    assert_eq!(updated.body["created_at"], made["created_at"]);
    assert_eq!(srv.get(&path, &admin).await.body, updated.body);

    changed["type"] = json!("confidential");
    let retyped = srv.put_client(&admin, &id, changed).await;
    assert_api_error(&retyped, 400, "a different type");
    assert!(
        retyped.body["details"]["type"].is_object(),
        "{}",
        retyped.text
    );

    let deleted = srv.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_api_error(&srv.get(&path, &admin).await, 404, "get after delete");
    let again = srv.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_api_error(&again, 404, "delete after delete");
}

async fn list_takes_the_list_parameters(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    for name in ["beta", "alpha", "gamma"] {
        srv.client_made(&admin, service(name)).await;
    }
    let names = |reply: &Reply| common::items_field(reply, "name");
    let all = srv.get(CLIENTS, &admin).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(
        (all.body["total"].clone(), all.body["filtered"].clone()),
        (json!(3), json!(3))
    );
    assert_eq!(names(&all), [json!("alpha"), json!("beta"), json!("gamma")]);
    for item in all.body["items"].as_array().expect("items") {
        assert_client_shape(item, "list item");
        assert!(item.get("client_secret").is_none(), "{item}");
    }

    let page = srv
        .get(
            &format!("{CLIENTS}?order=name&direction=desc&limit=1&offset=1"),
            &admin,
        )
        .await;
    assert_eq!(names(&page), [json!("beta")]);
    assert_eq!(page.body["filtered"], json!(3));
    let searched = srv.get(&format!("{CLIENTS}?search=AMM"), &admin).await;
    assert_eq!(names(&searched), [json!("gamma")]);
    assert_eq!(
        (
            searched.body["total"].clone(),
            searched.body["filtered"].clone()
        ),
        (json!(3), json!(1))
    );
    for order in ["client_id", "created_at"] {
        let ordered = srv.get(&format!("{CLIENTS}?order={order}"), &admin).await;
        assert_eq!(ordered.status, 200, "{order}: {}", ordered.text);
    }
    let by_id = common::items_field(
        &srv.get(&format!("{CLIENTS}?order=client_id"), &admin).await,
        "client_id",
    );
    let mut sorted = by_id.clone();
    sorted.sort_by_key(s);
    assert_eq!(by_id, sorted);

    for bad in ["order=scope", "direction=up", "limit=-1", "offset=x"] {
        let reply = srv.get(&format!("{CLIENTS}?{bad}"), &admin).await;
        assert_api_error(&reply, 400, bad);
        assert_eq!(reply.body["error_id"], json!("invalid-list-param"), "{bad}");
    }
}

async fn the_secret_is_only_in_the_answers_that_make_it(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let made = srv.client_made(&admin, service("billing")).await;
    assert_client_shape(&made, "create");
    assert_eq!(
        made["type"],
        json!("confidential"),
        "confidential by default"
    );
    let first = s(&made["client_secret"]);
    assert!(first.len() >= 43, "at least 256 bits: {first}");
    let id = s(&made["client_id"]);

    let renewed = srv.renew_secret(&admin, &id).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    let fields: Vec<&String> = renewed.body.as_object().expect("object").keys().collect();
    assert_eq!(fields, ["client_id", "client_secret"], "{}", renewed.text);
    assert_eq!(renewed.body["client_id"], json!(id));
    let second = s(&renewed.body["client_secret"]);
    assert_ne!(first, second);

    let path = format!("{CLIENTS}/{id}");
    let answers = [
        srv.get(&path, &admin).await,
        srv.get(CLIENTS, &admin).await,
        srv.put_client(&admin, &id, service("billing 2")).await,
    ];
    for reply in answers {
        assert_eq!(reply.status, 200, "{}", reply.text);
        for secret in [&first, &second] {
            assert!(!reply.text.contains(secret.as_str()), "{}", reply.text);
        }
        assert!(!reply.text.contains("secret"), "{}", reply.text);
    }
}

async fn a_new_secret_ends_the_old_one(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let made = srv.client_made(&admin, service("reports")).await;
    let (id, old) = (s(&made["client_id"]), s(&made["client_secret"]));
    let granted = srv.client_grant(&id, &old).await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    assert!(granted.body["access_token"].is_string(), "{}", granted.text);

    let new = s(&srv.renew_secret(&admin, &id).await.body["client_secret"]);
    let refused = srv.client_grant(&id, &old).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert_eq!(refused.body["error"], json!("invalid_client"));
    let granted = srv.client_grant(&id, &new).await;
    assert_eq!(granted.status, 200, "{}", granted.text);

    let public = srv.client_made(&admin, app("native")).await;
    let renewed = srv.renew_secret(&admin, &s(&public["client_id"])).await;
    assert_api_error(&renewed, 400, "a public client has no secret");
}

async fn a_client_id_secret_or_unknown_field_in_the_body_is_400(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let id = s(&srv.client_made(&admin, service("kept")).await["client_id"]);
    let chosen = uuid::Uuid::new_v4().to_string();
    for (field, value) in [
        ("client_id", json!(chosen)),
        (
            "client_secret",
            json!("a-secret-of-my-own-choice-0123456789"),
        ),
        ("colour", json!("blue")),
    ] {
        let mut body = service("stray");
        body[field] = value;
        let created = srv.post_client(&admin, body.clone()).await;
        assert_api_error(&created, 400, field);
        assert!(
            created.body["details"][field].is_object(),
            "{}",
            created.text
        );
        let updated = srv.put_client(&admin, &id, body).await;
        assert_api_error(&updated, 400, field);
    }
    let path = format!("{CLIENTS}/{chosen}");
    assert_api_error(
        &srv.get(&path, &admin).await,
        404,
        "no client of the chosen id",
    );
    assert_eq!(srv.get(CLIENTS, &admin).await.body["total"], json!(1));
}

async fn grant_types_are_required_and_checked(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let mut missing = service("no grants");
    missing
        .as_object_mut()
        .expect("object")
        .remove("grant_types");
    let cases = [
        ("missing", missing),
        ("empty", json!({"name": "x", "grant_types": []})),
        ("unknown", json!({"name": "x", "grant_types": ["password"]})),
        (
            "not a list",
            json!({"name": "x", "grant_types": "client_credentials"}),
        ),
        (
            "client_credentials for a public client",
            json!({"name": "x", "type": "public", "grant_types": ["client_credentials"]}),
        ),
        (
            "the code grant without a redirect URI",
            json!({"name": "x", "grant_types": ["authorization_code"]}),
        ),
        ("no name", json!({"grant_types": ["client_credentials"]})),
        (
            "a bad type",
            json!({"name": "x", "type": "secret", "grant_types": ["refresh_token"]}),
        ),
    ];
    for (case, body) in cases {
        let reply = srv.post_client(&admin, body).await;
        assert_api_error(&reply, 400, case);
        assert_eq!(reply.body["error_id"], json!("invalid-data"), "{case}");
    }
    assert_eq!(srv.get(CLIENTS, &admin).await.body["total"], json!(0));
}

async fn invalid_redirect_uris_are_400(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let with_uri = |client_type: &str, uri: &str| {
        json!({
            "name": "web",
            "type": client_type,
            "grant_types": ["authorization_code"],
            "redirect_uris": [uri],
        })
    };
    for (client_type, uri) in [
        ("confidential", "http://app.example.com/cb"),
        ("confidential", "https://app.example.com/cb#fragment"),
        ("confidential", "/cb"),
        ("confidential", "javascript:alert(1)"),
        ("public", "javascript:alert(1)"),
        ("confidential", "com.example.app:/callback"),
    ] {
        let reply = srv.post_client(&admin, with_uri(client_type, uri)).await;
        assert_api_error(&reply, 400, uri);
        assert!(
            reply.body["details"]["redirect_uris"].is_object(),
            "{}",
            reply.text
        );
    }
    let mut logout = service("logout");
    logout["post_logout_redirect_uris"] = json!(["http://evil.example.com/"]);
    let reply = srv.post_client(&admin, logout).await;
    assert!(
        reply.body["details"]["post_logout_redirect_uris"].is_object(),
        "{}",
        reply.text
    );
    for (client_type, uri) in [
        ("confidential", "https://app.example.com/cb"),
        ("confidential", "http://localhost:8080/cb"),
        ("public", "com.example.app:/callback"),
    ] {
        let reply = srv.post_client(&admin, with_uri(client_type, uri)).await;
        assert_eq!(reply.status, 200, "{uri}: {}", reply.text);
    }
}

async fn a_ceiling_the_caller_does_not_hold_is_refused(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let acl = ["auth.oauth2.clients.create", "confd.users.read"];
    let (_, token) = srv.caller(&admin, "registrar", &acl).await;
    for ceiling in ["#", "confd.#", "confd.users.*", "auth.users.read"] {
        let mut body = service("greedy");
        body["scope"] = json!([ceiling]);
        let reply = srv.post_client(&token, body).await;
        assert_unauthorized(&reply, ceiling);
        assert_eq!(reply.body["details"]["required_access"], json!(ceiling));
    }
    assert_eq!(srv.get(CLIENTS, &admin).await.body["total"], json!(0));
    let mut body = service("modest");
    body["scope"] = json!(["confd.users.read", "!confd.users.read"]);
    let reply = srv.post_client(&token, body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    // The same rule on a PUT, for a caller who may update the client.
    let id = s(&reply.body["client_id"]);
    let update = format!("auth.oauth2.clients.{id}.update");
    let (_, editor) = srv
        .caller(&admin, "editor", &[&update, "confd.users.read"])
        .await;
    let mut body = service("modest");
    body["scope"] = json!(["confd.#"]);
    assert_unauthorized(&srv.put_client(&editor, &id, body).await, "PUT confd.#");
    let fine = srv.put_client(&editor, &id, service("modest 2")).await;
    assert_eq!(fine.status, 200, "{}", fine.text);
}

async fn every_endpoint_needs_its_acl(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let id = s(&srv.client_made(&admin, service("guarded")).await["client_id"]);
    let other = s(&srv.client_made(&admin, service("other")).await["client_id"]);
    let (_, token) = srv.caller(&admin, "nobody", &["confd.users.read"]).await;
    let one = format!("{CLIENTS}/{id}");
    let calls = [
        (
            Method::POST,
            CLIENTS.to_string(),
            Some(service("x")),
            "auth.oauth2.clients.create".to_string(),
        ),
        (
            Method::GET,
            CLIENTS.to_string(),
            None,
            "auth.oauth2.clients.read".to_string(),
        ),
        (
            Method::GET,
            one.clone(),
            None,
            format!("auth.oauth2.clients.{id}.read"),
        ),
        (
            Method::PUT,
            one.clone(),
            Some(service("x")),
            format!("auth.oauth2.clients.{id}.update"),
        ),
        (
            Method::DELETE,
            one.clone(),
            None,
            format!("auth.oauth2.clients.{id}.delete"),
        ),
        (
            Method::POST,
            format!("{one}/secret"),
            None,
            format!("auth.oauth2.clients.{id}.update"),
        ),
    ];
    for (method, path, body, required) in calls {
        let context = format!("{method} {path}");
        for caller in [Some(token.as_str()), None] {
            let reply = srv.call(method.clone(), &path, caller, body.clone()).await;
            assert_unauthorized(&reply, &context);
            assert_eq!(
                reply.body["details"]["required_access"],
                json!(required),
                "{context}"
            );
        }
    }
    // An ACL naming one client reaches that client only.
    let (_, reader) = srv
        .caller(
            &admin,
            "reader",
            &[&format!("auth.oauth2.clients.{id}.read")],
        )
        .await;
    assert_eq!(srv.get(&one, &reader).await.status, 200);
    assert_unauthorized(
        &srv.get(&format!("{CLIENTS}/{other}"), &reader).await,
        "other",
    );
    assert_eq!(
        srv.get(CLIENTS, &admin).await.body["total"],
        json!(2),
        "nothing changed"
    );
}

async fn unknown_or_malformed_client_id_is_404(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    for id in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
        let one = format!("{CLIENTS}/{id}");
        let calls = [
            (Method::GET, one.clone(), None),
            (Method::PUT, one.clone(), Some(service("x"))),
            (Method::DELETE, one.clone(), None),
            (Method::POST, format!("{one}/secret"), None),
        ];
        for (method, path, body) in calls {
            let reply = srv.call(method.clone(), &path, Some(&admin), body).await;
            assert_api_error(&reply, 404, &format!("{method} {path}"));
        }
    }
}

async fn the_database_holds_only_a_digest_of_the_secret(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let made = srv.client_made(&admin, service("vault")).await;
    let renewed = srv.renew_secret(&admin, &s(&made["client_id"])).await;
    srv.client_made(&admin, app("no secret")).await;
    let digests = "SELECT CAST(COUNT(*) AS BIGINT) FROM oauth2_clients \
                   WHERE secret_digest IS NOT NULL AND length(secret_digest) = 32";
    assert_eq!(srv.sql_i64(digests).await, 1, "one 32-byte digest");
    let public = "SELECT CAST(COUNT(*) AS BIGINT) FROM oauth2_clients WHERE secret_digest IS NULL";
    assert_eq!(srv.sql_i64(public).await, 1, "a public client has none");
    let dump = srv.database_dump().await;
    for secret in [s(&made["client_secret"]), s(&renewed.body["client_secret"])] {
        assert!(
            !dump.contains(&secret),
            "the database holds a secret in clear"
        );
    }
}

async fn deleting_a_client_ends_its_tokens(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let made = srv.client_made(&admin, service("short-lived")).await;
    let (id, secret) = (s(&made["client_id"]), s(&made["client_secret"]));
    let granted = srv.client_grant(&id, &secret).await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    let token = s(&granted.body["access_token"]);
    assert_eq!(srv.head_token(&token, None, None).await, 204);

    let path = format!("{CLIENTS}/{id}");
    let deleted = srv.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_eq!(srv.head_token(&token, None, None).await, 404);
    assert_api_error(&srv.get(&path, &admin).await, 404, "get after delete");
    let refused = srv.client_grant(&id, &secret).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
}

/// `tessera client …` on the server's database (PostgreSQL needs the test secret).
fn tessera_client(srv: &TestServer, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--database-url", srv.database_url.as_str(), "client"];
    all.extend_from_slice(args);
    let mut command = common::tessera_command(&all);
    if srv.store() == Store::Postgres {
        command.env("TESSERA_TOKEN_SECRET", common::TEST_TOKEN_SECRET);
    }
    let output = command.output().expect("tessera runs");
    assert!(
        output.status.success(),
        "client {args:?}: {}",
        stderr_of(&output)
    );
    output
}

/// The value of the `field: value` line of a command's output.
fn line_value(output: &std::process::Output, field: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}: ")))
        .unwrap_or_else(|| panic!("no {field} in {stdout}"))
        .to_string()
}

async fn cli_adds_lists_and_removes_clients(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let added = tessera_client(
        &srv,
        &[
            "add",
            "--name",
            "cron job",
            "--grant-type",
            "client_credentials",
            "--scope",
            "confd.users.read",
        ],
    );
    let (id, secret) = (
        line_value(&added, "client_id"),
        line_value(&added, "client_secret"),
    );
    assert!(String::from_utf8_lossy(&added.stdout).contains("shown only this once"));
    assert_eq!(srv.client_grant(&id, &secret).await.status, 200);
    let got = srv.get(&format!("{CLIENTS}/{id}"), &admin).await;
    assert_eq!(got.body["name"], json!("cron job"), "{}", got.text);

    let listed = String::from_utf8_lossy(&tessera_client(&srv, &["list"]).stdout).into_owned();
    assert!(
        listed.contains(&id) && listed.contains("cron job"),
        "{listed}"
    );
    assert!(!listed.contains(&secret), "{listed}");
    let shown = tessera_client(&srv, &["show", &id]);
    assert!(!String::from_utf8_lossy(&shown.stdout).contains("secret"));

    let renewed = tessera_client(&srv, &["new-secret", &id]);
    let new = line_value(&renewed, "client_secret");
    assert_eq!(srv.client_grant(&id, &secret).await.status, 401);
    assert_eq!(srv.client_grant(&id, &new).await.status, 200);

    // The server remembers a client that authenticated: a change made by another process is
    // seen at the next grant all the same.
    tessera_client(&srv, &["update", &id, "--scope", "confd.users.create"]);
    let granted = srv.client_grant(&id, &new).await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    assert_eq!(
        granted.body["scope"],
        json!("confd.users.create"),
        "{}",
        granted.text
    );

    tessera_client(&srv, &["remove", &id]);
    assert_eq!(srv.client_grant(&id, &new).await.status, 401);
    let listed = String::from_utf8_lossy(&tessera_client(&srv, &["list"]).stdout).into_owned();
    assert!(!listed.contains(&id), "{listed}");
    assert_api_error(
        &srv.get(&format!("{CLIENTS}/{id}"), &admin).await,
        404,
        "removed",
    );
}

/// Attack-run finding: renewing a secret hands out the whole ceiling, and changing or deleting a
/// client takes entries away: each needs the current ceiling held, not only the client's ACL.
async fn a_client_s_ceiling_must_be_held_to_renew_its_secret_change_or_delete_it(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let mut body = service("big");
    body["scope"] = json!(["#"]);
    let big = s(&srv.client_made(&admin, body).await["client_id"]);
    let acl = [
        "auth.oauth2.clients.*.update",
        "auth.oauth2.clients.*.delete",
        "auth.oauth2.clients.*.read",
        "confd.users.read",
    ];
    let (_, limited) = srv.caller(&admin, "limited", &acl).await;
    let renew = srv
        .call(
            Method::POST,
            &format!("{CLIENTS}/{big}/secret"),
            Some(&limited),
            None,
        )
        .await;
    assert_unauthorized(&renew, "a new secret of a client whose ceiling is not held");
    let narrow = srv.put_client(&limited, &big, service("narrowed")).await;
    assert_unauthorized(&narrow, "narrowing a ceiling not held");
    let delete = srv
        .call(
            Method::DELETE,
            &format!("{CLIENTS}/{big}"),
            Some(&limited),
            None,
        )
        .await;
    assert_unauthorized(&delete, "deleting a client whose ceiling is not held");
    let still = srv.get(&format!("{CLIENTS}/{big}"), &admin).await;
    assert_eq!(still.body["scope"], json!(["#"]), "{}", still.text);
}

/// Attack-run finding: a user and a client are both token subjects (`auth_id`), so a user may not
/// be created with a client's uuid; deleting "the user" of a client's uuid touches nothing.
async fn a_user_cannot_take_a_client_s_uuid(store: Store) {
    let srv = common::start(store).await;
    let admin = srv.admin_token().await;
    let made = srv.client_made(&admin, service("svc")).await;
    let (id, secret) = (s(&made["client_id"]), s(&made["client_secret"]));
    let body = json!({"uuid": id, "username": "clash", "password": "clash-password"});
    let reply = srv.post_user(&admin, body).await;
    assert_eq!(reply.status, 409, "{}", reply.text);
    let token = srv
        .send(
            srv.client
                .post(srv.raw_url("/oauth2/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials")]),
        )
        .await;
    let token = s(&token.body["access_token"]);
    let gone = srv
        .call(Method::DELETE, &format!("/users/{id}"), Some(&admin), None)
        .await;
    assert_eq!(gone.status, 404, "{}", gone.text);
    assert_eq!(
        srv.head_token(&token, None, None).await,
        204,
        "the client's token lives"
    );
}
