//! `Client`: each call against the real API, and each kind of error.

use std::time::Duration;

use tessera_client::{Client, Error, GrantOptions, LoginOptions, Validation};

use crate::common::{Tessera, PASSWORD};

#[tokio::test]
async fn logins_grants_and_validation_return_typed_values() {
    let tessera = Tessera::start().await;
    let user = tessera.user_with_acl("lena", &["example.#"]).await;
    let client = tessera.client();

    let online = client
        .login_with(
            "lena",
            PASSWORD,
            &LoginOptions {
                expiration: Some(120),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(online.auth_id, user);
    assert_eq!(online.lifetime(), Duration::from_secs(120));
    assert_eq!(online.acl, vec!["example.#".to_string()]);
    assert!(online.refresh_token.is_none());

    let offline = client
        .login_offline("lena", PASSWORD, "lena-app", None)
        .await
        .unwrap();
    let refresh = offline.refresh_token.clone().unwrap();
    let granted = client
        .refresh_with(
            &refresh,
            "lena-app",
            &GrantOptions {
                expiration: Some(60),
                scope: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(granted.auth_id, user);
    assert_eq!(granted.lifetime(), Duration::from_secs(60));
    assert_ne!(granted.token, offline.token);

    let tenant = granted.tenant_uuid().unwrap();
    let scoped = Validation {
        scope: Some("example.things.read"),
        tenant: Some(tenant),
    };
    client.check(&granted.token, scoped).await.unwrap();
    let described = client.token_info(&granted.token, scoped).await.unwrap();
    assert_eq!(described.token, granted.token);
    assert_eq!(described.session_uuid, granted.session_uuid);
    assert_eq!(described.expires_at, granted.expires_at);

    let scopes = client
        .check_scopes(&granted.token, &["example.a", "other.a"], None)
        .await
        .unwrap();
    assert_eq!(scopes.get("example.a"), Some(&true));
    assert_eq!(scopes.get("other.a"), Some(&false));

    client.revoke(&granted.token).await.unwrap();
    assert!(matches!(
        client.check(&granted.token, Validation::default()).await,
        Err(Error::NotFound { .. })
    ));
    // Revoking is idempotent, for unknown tokens too.
    client.revoke(&granted.token).await.unwrap();
}

#[tokio::test]
async fn each_refusal_has_its_own_error() {
    let tessera = Tessera::start_with(|config| config.max_user_concurrent_sessions = 1).await;
    tessera
        .user_with_acl("mona", &["example.reports.read"])
        .await;
    let client = tessera.client();

    let wrong = client.login("mona", "not the password").await;
    assert_eq!(
        wrong,
        Err(Error::Unauthorized {
            message: "Authentication Failed".into()
        })
    );
    let token = client.login("mona", PASSWORD).await.unwrap();
    // One live session at most: the next login is 429.
    let err = client.login("mona", PASSWORD).await.unwrap_err();
    assert!(matches!(err, Error::TooManyRequests { .. }), "{err:?}");
    assert!(err.is_transient());

    let forbidden = client
        .check(
            &token.token,
            Validation {
                scope: Some("example.secrets.read"),
                tenant: None,
            },
        )
        .await;
    assert!(
        matches!(forbidden, Err(Error::Forbidden { .. })),
        "{forbidden:?}"
    );
    let unknown = client
        .token_info(
            "6f0c7a52-5b1e-4c1a-9d52-0123456789ab",
            Validation::default(),
        )
        .await;
    assert!(
        matches!(unknown, Err(Error::NotFound { .. })),
        "{unknown:?}"
    );
    // An access token is never a refresh token.
    let grant = client.refresh(&token.token, "mona-app").await;
    assert!(
        matches!(grant, Err(Error::Unauthorized { .. })),
        "{grant:?}"
    );

    // 400 carries the server's reason.
    let bad = client
        .login_with(
            "mona",
            PASSWORD,
            &LoginOptions {
                expiration: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    match bad {
        Error::BadRequest {
            status: 400,
            message,
        } => assert!(!message.is_empty()),
        other => panic!("expected a bad request, got {other:?}"),
    }
    let bad_scopes = client.check_scopes(&token.token, &[], None).await;
    assert!(
        bad_scopes.is_ok(),
        "an empty list is a list: {bad_scopes:?}"
    );
}

#[tokio::test]
async fn an_unreachable_tessera_is_told_apart_and_never_leaks_the_token() {
    let mut tessera = Tessera::start().await;
    let token = tessera.admin_token().await;
    let client = tessera.client();
    tessera.stop().await;
    let err = client
        .check(&token, Validation::default())
        .await
        .unwrap_err();
    match &err {
        Error::Unreachable(text) => assert!(!text.contains(&token), "{text}"),
        other => panic!("expected unreachable, got {other:?}"),
    }
    assert!(err.is_transient());
    assert!(!format!("{err} {err:?}").contains(&token));

    // A client built for a base URL nobody listens on, with a short connect timeout.
    let nowhere = Client::builder("http://127.0.0.1:9/api/auth/0.1")
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    assert!(matches!(
        nowhere.login("a", "b").await,
        Err(Error::Unreachable(_))
    ));
}
