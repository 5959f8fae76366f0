//! The in-place upgrade of a PostgreSQL database to native types (migration 0015): a database
//! made by the migrations before it, holding users, policies, sessions, refresh tokens (rotated
//! ones too) and throttle rows as the earlier schema kept them, is started on by this server,
//! and every token keeps working, with the same answers.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{self, pg_admin, s, Store, ADMIN_PASSWORD, ADMIN_USERNAME, TEST_TOKEN_SECRET};

/// The last migration before native types.
const BEFORE_NATIVE_TYPES: i64 = 13;

/// Tables in the order their foreign keys allow them to be filled.
const TABLES: &[&str] = &[
    "tenants",
    "settings",
    "users",
    "emails",
    "policies",
    "user_policies",
    "refresh_tokens",
    "superseded_refresh_tokens",
    "tokens",
    "session_bounds",
    "login_failures",
    "trusted_logins",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_native_types_upgrades_in_place_and_every_token_keeps_working() {
    // The data, made through the API on a current database.
    let source = common::start_with(Store::Postgres, |c| c.refresh_token_rotation = true).await;
    let admin = source.admin_token().await;
    let alice = source
        .user_with_acl(&admin, "alice", "alice-pw", &["a.b", "c.#"])
        .await;
    let alice_uuid = s(&alice["uuid"]);
    let second = source.create_policy_as(&admin, "second", &["d.e"]).await;
    source
        .attach_policy_as(&admin, &alice_uuid, &s(&second["uuid"]))
        .await;
    let online = s(&source.login_ok("alice", "alice-pw", json!({})).await["token"]);
    let offline = source
        .login_ok(
            "alice",
            "alice-pw",
            json!({"access_type": "offline", "client_id": "desktop", "scope": ["a.b"]}),
        )
        .await;
    let desktop = s(&offline["refresh_token"]);
    // Rotated once: the earlier value is a superseded one, the answer the current one.
    let rotated = source.grant(&desktop, "desktop").await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let desktop = s(&rotated.data()["refresh_token"]);
    let minted = s(&rotated.data()["token"]);
    let failed = source.login_reply("alice", "wrong", json!({})).await;
    assert_eq!(failed.status, 401);

    // The same rows, in a database made by the earlier migrations only, as they kept them.
    let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
    pg_admin(&format!("CREATE DATABASE {name}")).await;
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    migrate_before_native_types(&url).await;
    copy_rows(&source.database_url, &url).await;
    let shown_before = shown(&source, &admin, &alice_uuid).await;
    let tokens = [admin.clone(), online.clone(), minted.clone()];
    let mut read_before = Vec::new();
    for token in &tokens {
        read_before.push(source.get(&format!("/token/{token}"), token).await.body["data"].clone());
    }
    drop(source);

    // This server upgrades it at start.
    let upgraded = common::start_config(tessera::Config {
        listen: "127.0.0.1:0".into(),
        database_url: url.clone(),
        token_secret: Some(TEST_TOKEN_SECRET.into()),
        refresh_token_rotation: true,
        ..Default::default()
    })
    .await
    .expect("the upgraded database starts");
    for (token, before) in tokens.iter().zip(&read_before) {
        let read = upgraded.get(&format!("/token/{token}"), token).await;
        assert_eq!(read.status, 200, "{}", read.text);
        assert_eq!(&read.body["data"], before, "the token reads as it did");
    }
    assert_eq!(shown(&upgraded, &admin, &alice_uuid).await, shown_before);
    // The refresh token keeps granting, with the user's ACL (the users.acl the upgrade joined).
    let granted = upgraded.grant(&desktop, "desktop").await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    assert_eq!(granted.data()["acl"], json!(["a.b", "c.#", "d.e"]));
    // The password still logs in, and the policies joined on the user are still there.
    let login = upgraded.login_ok("alice", "alice-pw", json!({})).await;
    assert_eq!(login["acl"], json!(["a.b", "c.#", "d.e"]));
    let admin_again = upgraded
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, json!({}))
        .await;
    assert_eq!(admin_again["acl"], json!(["#"]));
    // An operator's questions, in PostgreSQL's own terms.
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
    let live: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM tokens t JOIN users u ON u.uuid = t.auth_id \
         WHERE t.expires_at > now() AND u.uuid = $1::uuid",
    )
    .bind(&alice_uuid)
    .fetch_one(&mut conn)
    .await
    .expect("count");
    assert!(live >= 3, "alice's live sessions: {live}");
    conn.close().await.expect("close");
    drop(upgraded);
    pg_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
}

/// What the API shows of the user, their sessions and refresh tokens.
async fn shown(srv: &common::TestServer, admin: &str, user: &str) -> Vec<Value> {
    let mut shown = Vec::new();
    for path in [
        format!("/users/{user}"),
        format!("/users/{user}/policies"),
        format!("/users/{user}/sessions"),
        format!("/users/{user}/tokens"),
        "/sessions".to_string(),
    ] {
        let reply = srv.call(Method::GET, &path, Some(admin), None).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        shown.push(reply.body);
    }
    shown
}

/// Runs the migrations up to [`BEFORE_NATIVE_TYPES`] only.
async fn migrate_before_native_types(url: &str) {
    let mut migrator = sqlx::migrate::Migrator::new(std::path::Path::new("migrations/postgres"))
        .await
        .expect("migrations");
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= BEFORE_NATIVE_TYPES)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let pool = sqlx::PgPool::connect(url).await.expect("connect");
    migrator.run(&pool).await.expect("the earlier migrations");
    pool.close().await;
}

/// Copies every row of `from` (current types) into `to` (the earlier schema), in the earlier
/// schema's terms: uuids as text, times as epoch microseconds, JSON as compact text.
async fn copy_rows(from: &str, to: &str) {
    use sqlx::Connection;
    let mut source = sqlx::PgConnection::connect(from).await.expect("connect");
    let mut target = sqlx::PgConnection::connect(to).await.expect("connect");
    for table in TABLES {
        let rows: Vec<Value> = sqlx::query_scalar(&format!("SELECT to_jsonb(t) FROM {table} t"))
            .fetch_all(&mut source)
            .await
            .unwrap_or_else(|e| panic!("read {table}: {e}"));
        let times: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_name = $1 AND data_type = 'timestamp with time zone'",
        )
        .bind(table)
        .fetch_all(&mut source)
        .await
        .expect("columns");
        for mut row in rows {
            for column in &times {
                if let Some(text) = row[column.as_str()].as_str() {
                    row[column.as_str()] = json!(epoch_micros(text));
                }
            }
            for value in row.as_object_mut().expect("a row").values_mut() {
                if value.is_array() || value.is_object() {
                    *value = json!(value.to_string());
                }
            }
            sqlx::query(&format!(
                "INSERT INTO {table} SELECT * FROM jsonb_populate_record(NULL::{table}, $1)"
            ))
            .bind(&row)
            .execute(&mut target)
            .await
            .unwrap_or_else(|e| panic!("write {table} {row}: {e}"));
        }
    }
}

/// A `timestamptz` as `to_jsonb` spells it (`2024-05-01T12:00:00.123456+00:00`), in epoch
/// microseconds.
fn epoch_micros(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .timestamp_micros()
}
