//! `token_secret` and the database (docs/configuration.md, "Why token_secret"): the database
//! records the key's fingerprint; a start with another key is refused in one line; `tessera
//! rotate-secret` moves the database to a new key in one transaction, and every refresh token
//! keeps its value.

use crate::both_stores;
use crate::common::{
    self, offline, rotate, run_with_stdin, s, start_on, start_on_with, stderr_of, tessera_command,
    Store, TestServer, ADMIN_PASSWORD, ADMIN_USERNAME,
};

const OLD: &str = "the-old-secret-0123456789abcdef";
const NEW: &str = "the-new-secret-fedcba9876543210";

fn refused(started: anyhow::Result<TestServer>) -> String {
    match started {
        Ok(_) => panic!("started with a key the database does not know"),
        Err(error) => error.to_string(),
    }
}

both_stores!(
    another_secret_is_refused_and_the_same_one_starts,
    rotate_secret_keeps_every_refresh_token,
    rotate_secret_refuses_what_it_cannot_do,
);

/// The fingerprint is recorded at first start; another secret is refused with one line naming
/// `tessera rotate-secret`, and nothing changes; the same secret starts, and refresh tokens work.
async fn another_secret_is_refused_and_the_same_one_starts(store: Store) {
    let srv = common::start_with(store, |c| c.token_secret = Some(OLD.into())).await;
    let data = srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, offline("app"))
        .await;
    let refresh = s(&data["refresh_token"]);

    let error = refused(start_on(&srv, Some(NEW)).await);
    assert_eq!(error.lines().count(), 1, "one line: {error}");
    assert!(
        error.contains("token_secret does not match") && error.contains("tessera rotate-secret"),
        "{error}"
    );
    assert!(!error.contains(OLD) && !error.contains(NEW), "{error}");
    if store == Store::Sqlite {
        // Without token_secret, no key file is made up for a database that has a key.
        let error = refused(start_on(&srv, None).await);
        assert!(error.contains("is missing"), "{error}");
    }

    let again = start_on(&srv, Some(OLD))
        .await
        .expect("the same secret starts");
    assert_eq!(again.grant(&refresh, "app").await.status, 200);
    let data = again
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, offline("app"))
        .await;
    assert_eq!(s(&data["refresh_token"]), refresh, "the same value");
}

/// After `tessera rotate-secret`: (a) every refresh token value clients hold still works;
/// (b) a new offline login for an existing (user, client_id) answers that same value;
/// (c) access tokens are untouched. The old secret is then refused; a second rotation keeps
/// the values too.
async fn rotate_secret_keeps_every_refresh_token(store: Store) {
    let srv = common::start_with(store, |c| c.token_secret = Some(OLD.into())).await;
    let desktop = s(&srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, offline("desktop"))
        .await["refresh_token"]);
    let phone = srv
        .send(
            srv.request(reqwest::Method::POST, "/token")
                .basic_auth(ADMIN_USERNAME, Some(ADMIN_PASSWORD))
                .header("Wazo-Session-Type", "mobile")
                .json(&offline("phone")),
        )
        .await;
    assert_eq!(phone.status, 200, "{}", phone.text);
    let phone = s(&phone.data()["refresh_token"]);
    let access = srv.admin_token().await;

    let rotated = rotate(&srv, Some(OLD), &format!("{NEW}\n"));
    assert!(rotated.status.success(), "rotate: {}", stderr_of(&rotated));
    let said = String::from_utf8_lossy(&rotated.stdout);
    assert!(said.contains("moved 2 refresh tokens"), "{said}");
    assert!(!said.contains(NEW) && !said.contains(OLD), "{said}");

    let error = refused(start_on(&srv, Some(OLD)).await);
    assert!(error.contains("does not match"), "the old secret: {error}");
    let after = start_on(&srv, Some(NEW))
        .await
        .expect("the new secret starts");
    for (value, client) in [(&desktop, "desktop"), (&phone, "phone")] {
        assert_eq!(after.grant(value, client).await.status, 200, "(a) {client}");
    }
    let again = after
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, offline("desktop"))
        .await;
    assert_eq!(s(&again["refresh_token"]), desktop, "(b) the same value");
    assert_eq!(after.head_token(&access, None, None).await, 204, "(c)");
    // A refresh token made under the new key comes back the same after a restart.
    let fresh = s(&after
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, offline("fresh"))
        .await["refresh_token"]);
    drop(after);

    const THIRD: &str = "a-third-secret-for-a-second-rotation";
    let rotated = rotate(&srv, Some(NEW), THIRD);
    assert!(rotated.status.success(), "rotate: {}", stderr_of(&rotated));
    let third = start_on(&srv, Some(THIRD)).await.expect("the third secret");
    for (value, client) in [(&desktop, "desktop"), (&fresh, "fresh"), (&phone, "phone")] {
        assert_eq!(third.grant(value, client).await.status, 200, "{client}");
        let again = third
            .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, offline(client))
            .await;
        if client != "phone" {
            assert_eq!(&s(&again["refresh_token"]), value, "{client}: same value");
        }
    }
}

/// An empty new secret, the current secret again, or a rotation run with a secret the database
/// does not know: a one-line error, non-zero, nothing changed.
async fn rotate_secret_refuses_what_it_cannot_do(store: Store) {
    let srv = common::start_with(store, |c| c.token_secret = Some(OLD.into())).await;
    let refresh = s(&srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, offline("app"))
        .await["refresh_token"]);
    for (secret, stdin, says) in [
        (OLD, "\n", "no new secret"),
        (
            OLD,
            "fifteen-bytes!!\n",
            "the new secret holds fewer than 16 bytes",
        ),
        (OLD, OLD, "the current one"),
        (NEW, "a-third-secret", "does not match"),
    ] {
        let output = rotate(&srv, Some(secret), stdin);
        assert!(!output.status.success(), "{stdin:?} must fail");
        let stderr = stderr_of(&output);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(says), "{stderr} should say {says}");
    }
    let again = start_on(&srv, Some(OLD)).await.expect("nothing changed");
    assert_eq!(again.grant(&refresh, "app").await.status, 200);
}

/// SQLite without `token_secret`: the key file beside the database holds the key. Rotation
/// replaces it (the new secret is then read from it); a missing key file is refused, not
/// replaced by a fresh key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_key_file_is_rotated_and_never_silently_replaced() {
    let srv = common::start(Store::Sqlite).await;
    let refresh = s(&srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, offline("app"))
        .await["refresh_token"]);
    let key_file = format!(
        "{}.key",
        srv.database_url.strip_prefix("sqlite://").expect("sqlite")
    );
    let rotated = rotate(&srv, None, NEW);
    assert!(rotated.status.success(), "rotate: {}", stderr_of(&rotated));
    assert_eq!(std::fs::read_to_string(&key_file).expect("key file"), NEW);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let after = start_on(&srv, None)
        .await
        .expect("starts on the new key file");
    assert_eq!(after.grant(&refresh, "app").await.status, 200);
    let again = after
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, offline("app"))
        .await;
    assert_eq!(s(&again["refresh_token"]), refresh);
    drop(after);

    std::fs::remove_file(&key_file).expect("remove");
    let error = refused(start_on(&srv, None).await);
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(error.contains("is missing"), "{error}");
    assert!(
        std::fs::metadata(&key_file).is_err(),
        "no fresh key file is written"
    );
    let back = start_on(&srv, Some(NEW))
        .await
        .expect("its secret as token_secret");
    assert_eq!(back.grant(&refresh, "app").await.status, 200);
}

/// SQLite with `token_secret_file`: the key lives at the configured path, outside the data
/// directory, so that a copy of that directory (a backup) holds no key: started from it alone,
/// Tessera refuses (the key file is missing) rather than answering any refresh token. Restarts
/// and `rotate-secret` use the configured path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_key_file_can_live_outside_the_data_directory() {
    let keys = tempfile::tempdir().expect("tempdir");
    let key_file = keys.path().join("refresh.key");
    let configured = key_file.display().to_string();
    let srv = common::start_with(Store::Sqlite, |c| {
        c.token_secret_file = Some(configured.clone());
    })
    .await;
    let refresh = s(&srv
        .login_ok(ADMIN_USERNAME, ADMIN_PASSWORD, offline("app"))
        .await["refresh_token"]);
    let secret = std::fs::read_to_string(&key_file).expect("the configured key file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let beside = format!(
        "{}.key",
        srv.database_url.strip_prefix("sqlite://").expect("sqlite")
    );
    assert!(
        std::fs::metadata(&beside).is_err(),
        "no key file beside the database"
    );

    // The data directory alone (what a backup holds) starts nothing.
    let error = refused(start_on(&srv, None).await);
    assert!(error.contains("is missing"), "{error}");
    // With the configured path, the same refresh token works after a restart.
    let again = start_on_with(&srv, None, |c| {
        c.token_secret_file = Some(configured.clone())
    })
    .await
    .expect("starts with the configured key file");
    assert_eq!(again.grant(&refresh, "app").await.status, 200);
    drop(again);

    // rotate-secret replaces the configured file.
    let mut command = tessera_command(&["--database-url", &srv.database_url, "rotate-secret"]);
    command.env("TESSERA_TOKEN_SECRET_FILE", &configured);
    let rotated = run_with_stdin(command, NEW);
    assert!(rotated.status.success(), "rotate: {}", stderr_of(&rotated));
    assert_eq!(std::fs::read_to_string(&key_file).expect("key file"), NEW);
    assert!(std::fs::metadata(&beside).is_err());
    let rotated = start_on_with(&srv, None, |c| {
        c.token_secret_file = Some(configured.clone())
    })
    .await
    .expect("starts on the rotated key file");
    assert_eq!(rotated.grant(&refresh, "app").await.status, 200);
    drop(rotated);

    // Last: reading the files closes descriptors of the database, which drops this process's
    // SQLite locks on it (POSIX locks are per process).
    let data = srv.database_dump().await;
    assert!(
        !data.contains(secret.trim()),
        "the old key in the data directory"
    );
    assert!(!data.contains(NEW), "the key in the data directory");
    assert!(
        !data.contains(&refresh),
        "a refresh token value in the data directory"
    );
}
