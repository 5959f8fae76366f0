//! `RefreshingCredential` against a real Tessera, with access tokens of a few seconds.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tessera_client::{CredentialSettings, Error, RefreshingCredential};

use crate::common::{Tessera, PASSWORD};

/// Tokens of `lifetime` seconds, renewed halfway, retried every 100–400 ms.
fn short(lifetime: u64) -> CredentialSettings {
    CredentialSettings {
        expiration: Some(lifetime),
        min_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(400),
        ..Default::default()
    }
}

async fn refresh_token_of(tessera: &Tessera, username: &str, client_id: &str) -> String {
    tessera
        .client()
        .login_offline(username, PASSWORD, client_id, None)
        .await
        .unwrap()
        .refresh_token
        .unwrap()
}

#[tokio::test]
async fn renews_ahead_of_expiry_in_the_background() {
    let tessera = Tessera::start().await;
    tessera.user_with_acl("nora", &["example.#"]).await;
    let refresh = refresh_token_of(&tessera, "nora", "nora-app").await;
    let credential =
        RefreshingCredential::from_refresh_token(tessera.client(), refresh, "nora-app", short(3))
            .unwrap();

    let first = credential.access_token().await.unwrap();
    assert!(tessera.is_valid(&first).await);
    assert_eq!(
        credential.access_token().await.unwrap(),
        first,
        "reused while fresh"
    );
    assert_eq!(tessera.grants().await, 1.0);

    // Renewed at half the lifetime (1.5 s), while the first one still lives (3 s).
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(tessera.grants().await, 2.0, "renewed in the background");
    assert!(
        tessera.is_valid(&first).await,
        "renewed before the old one expired"
    );
    let second = credential.access_token().await.unwrap();
    assert_ne!(second, first);
    assert!(tessera.is_valid(&second).await);
}

#[tokio::test]
async fn a_hundred_concurrent_callers_cause_one_grant() {
    let tessera = Tessera::start().await;
    tessera.user_with_acl("olga", &["example.#"]).await;
    let refresh = refresh_token_of(&tessera, "olga", "olga-app").await;
    let credential = RefreshingCredential::from_refresh_token(
        tessera.client(),
        refresh,
        "olga-app",
        CredentialSettings::default(),
    )
    .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(100));
    let callers: Vec<_> = (0..100)
        .map(|_| {
            let credential = credential.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                credential.access_token().await
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for caller in callers {
        tokens.push(caller.await.unwrap().unwrap());
    }
    assert!(tokens.iter().all(|t| *t == tokens[0]), "one token for all");
    assert_eq!(tessera.grants().await, 1.0, "exactly one refresh call");
    assert!(tessera.is_valid(&tokens[0]).await);
}

#[tokio::test]
async fn a_password_login_starts_it_and_the_password_is_not_needed_again() {
    let tessera = Tessera::start().await;
    let user = tessera.user_with_acl("pia", &["example.#"]).await;
    let credential =
        RefreshingCredential::login(tessera.client(), "pia", PASSWORD, "pia-app", short(2))
            .await
            .unwrap();
    let token = credential.token().await.unwrap();
    assert_eq!(token.auth_id, user);
    assert_eq!(
        tessera.grants().await,
        0.0,
        "the first token is the login's own"
    );
    let refresh = credential.refresh_token();
    assert!(!refresh.is_empty());
    // The same refresh token a second offline login of that client gets (one per user and client).
    assert_eq!(refresh_token_of(&tessera, "pia", "pia-app").await, refresh);
    assert!(!format!("{credential:?}").contains(&refresh));

    // Renewals use the refresh token alone.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(tessera.grants().await >= 1.0);
    let renewed = credential.access_token().await.unwrap();
    assert_ne!(renewed, token.token);
    assert!(tessera.is_valid(&renewed).await);

    let wrong =
        RefreshingCredential::login(tessera.client(), "pia", "nope", "pia-app", short(2)).await;
    assert!(matches!(wrong, Err(Error::Unauthorized { .. })));
}

#[tokio::test]
async fn survives_a_tessera_restart() {
    let mut tessera = Tessera::start().await;
    tessera.user_with_acl("quinn", &["example.#"]).await;
    let refresh = refresh_token_of(&tessera, "quinn", "quinn-app").await;
    let credential =
        RefreshingCredential::from_refresh_token(tessera.client(), refresh, "quinn-app", short(2))
            .unwrap();
    let before = credential.access_token().await.unwrap();

    tessera.stop().await;
    // The token expires while Tessera is down: callers are told why, without waiting.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let started = std::time::Instant::now();
    let down = credential.access_token().await.unwrap_err();
    assert!(matches!(down, Error::Unreachable(_)), "{down:?}");
    assert!(down.is_transient());
    assert!(started.elapsed() < Duration::from_millis(100));

    tessera.restart().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let after = loop {
        match credential.access_token().await {
            Ok(token) => break token,
            Err(error) if std::time::Instant::now() < deadline => {
                assert!(error.is_transient(), "{error:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("no token 5 s after the restart: {error:?}"),
        }
    };
    assert_ne!(after, before);
    assert!(tessera.is_valid(&after).await);
}

#[tokio::test]
async fn a_revoked_refresh_token_stops_it_for_good() {
    let tessera = Tessera::start().await;
    tessera.user_with_acl("rita", &["example.#"]).await;
    let refresh = refresh_token_of(&tessera, "rita", "rita-app").await;
    let credential = RefreshingCredential::from_refresh_token(
        tessera.client(),
        refresh.clone(),
        "rita-app",
        short(1),
    )
    .unwrap();
    credential.access_token().await.unwrap();
    // Revoking the refresh token also ends the sessions minted from it.
    tessera.client().revoke(&refresh).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let refused = credential.access_token().await.unwrap_err();
    assert!(matches!(refused, Error::Unauthorized { .. }), "{refused:?}");
    assert!(!refused.is_transient());
    let grants = tessera
        .metric("tessera_refresh_grants_total{outcome=\"failed\"}")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        tessera
            .metric("tessera_refresh_grants_total{outcome=\"failed\"}")
            .await,
        grants,
        "no retry of a refused refresh token"
    );
}

#[tokio::test]
async fn follows_refresh_token_rotation() {
    let config = Tessera::config_with("refresh_token_rotation", json!(true))
        .expect("this server knows refresh_token_rotation");
    let tessera = Tessera::start_from(config).await;
    tessera.user_with_acl("sara", &["example.#"]).await;
    let credential =
        RefreshingCredential::login(tessera.client(), "sara", PASSWORD, "sara-app", short(2))
            .await
            .unwrap();
    let first = credential.refresh_token();
    let mut updates = credential.refresh_token_updates();

    // Each renewal answers a successor, which the credential uses from then on.
    tokio::time::timeout(Duration::from_secs(3), updates.changed())
        .await
        .expect("a rotation within 3 s")
        .unwrap();
    let second = updates.borrow_and_update().clone();
    assert_ne!(second, first);
    assert_eq!(credential.refresh_token(), second);
    tokio::time::timeout(Duration::from_secs(3), updates.changed())
        .await
        .expect("a second rotation")
        .unwrap();
    let third = updates.borrow_and_update().clone();
    assert_ne!(third, second);
    // Only with the successor did the second renewal succeed.
    let token = credential.access_token().await.unwrap();
    assert!(tessera.is_valid(&token).await);
}
