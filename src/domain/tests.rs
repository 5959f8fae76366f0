//! Unit tests of the use cases' authorization decisions, on a real SQLite store in a temporary
//! directory (no mocked store): who may do what, and in which order the checks come.

use super::error::{DomainError, Refusal};
use super::policies::NewPolicyInput;
use super::tokens::{ClientContext, TokenRequest};
use super::users::{NewUserInput, UserQuery};
use super::{clock, Actor, Credentials, Services};

struct World {
    services: Services,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = crate::Config {
        database_url: format!("sqlite://{}", dir.path().join("t.db").display()),
        ..Default::default()
    }
    .validated()
    .expect("valid configuration");
    let services = Services::start(config, clock::ManualClock::starting_now())
        .await
        .expect("services");
    World {
        services,
        _dir: dir,
    }
}

fn with_token(token: &str) -> Actor {
    Actor::Request(Credentials {
        token: Some(token.to_string()),
        tenant: None,
    })
}

fn anonymous() -> Actor {
    Actor::Request(Credentials::default())
}

impl World {
    /// A user holding one policy with `acl`, logged in: its access token.
    async fn caller_with(&self, name: &str, acl: &[&str]) -> String {
        let operator = Actor::Operator;
        let user = self
            .services
            .users()
            .create(
                &operator,
                Ok(NewUserInput {
                    username: Some(name.into()),
                    password: Some("pw".into()),
                    ..NewUserInput::default()
                }),
            )
            .await
            .expect("user");
        let policy = self
            .services
            .policies()
            .create(
                &operator,
                Ok(NewPolicyInput {
                    name: format!("{name}-policy"),
                    acl: acl.iter().map(|e| e.to_string()).collect(),
                    ..NewPolicyInput::default()
                }),
            )
            .await
            .expect("policy");
        self.services
            .policies()
            .attach(&operator, &user.uuid, &policy.uuid)
            .await
            .expect("attach");
        let issued = self
            .services
            .tokens()
            .create(Ok(TokenRequest {
                credentials: Some((name.into(), "pw".into())),
                client: ClientContext::default(),
                ..TokenRequest::default()
            }))
            .await
            .expect("login");
        issued.view.token
    }
}

#[tokio::test]
async fn no_token_is_refused_naming_the_required_access() {
    let w = world().await;
    let refused = w.services.users().get(&anonymous(), "u-1").await;
    match refused {
        Err(DomainError::Unauthorized {
            token: None,
            refusal: Refusal::NotFoundOrExpired,
            required,
            tenant: None,
        }) => assert_eq!(required, "auth.users.u-1.read"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn authorization_comes_before_the_input_is_looked_at() {
    let w = world().await;
    let refused = w
        .services
        .users()
        .create(&anonymous(), Err(DomainError::invalid("username", "bad")))
        .await;
    assert!(
        matches!(refused, Err(DomainError::Unauthorized { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_token_without_the_access_is_refused_and_the_operator_holds_everything() {
    let w = world().await;
    let token = w.caller_with("reader", &["auth.sessions.read"]).await;
    let refused = w
        .services
        .users()
        .list(&with_token(&token), Ok(UserQuery::default()))
        .await;
    assert!(
        matches!(
            refused,
            Err(DomainError::Unauthorized {
                refusal: Refusal::MissingPermissionOrInvalidTenant,
                ..
            })
        ),
        "{refused:?}"
    );
    let listed = w
        .services
        .users()
        .list(&Actor::Operator, Ok(UserQuery::default()))
        .await
        .expect("the operator lists users");
    assert_eq!(listed.total, 1);
}

#[tokio::test]
async fn a_policy_may_only_hold_entries_the_caller_holds() {
    let w = world().await;
    let token = w
        .caller_with("author", &["auth.policies.create", "confd.users.read"])
        .await;
    let policies = w.services.policies();
    let wider = policies
        .create(
            &with_token(&token),
            Ok(NewPolicyInput {
                name: "wider".into(),
                acl: vec!["confd.users.read".into(), "confd.users.delete".into()],
                ..NewPolicyInput::default()
            }),
        )
        .await;
    assert!(
        matches!(&wider, Err(DomainError::NotHeld(entry)) if entry == "confd.users.delete"),
        "{wider:?}"
    );
    policies
        .create(
            &with_token(&token),
            Ok(NewPolicyInput {
                name: "same".into(),
                acl: vec!["confd.users.read".into()],
                ..NewPolicyInput::default()
            }),
        )
        .await
        .expect("entries the caller holds");
}

#[tokio::test]
async fn attaching_a_policy_needs_every_entry_of_it() {
    let w = world().await;
    let token = w.caller_with("attacher", &["auth.users.#"]).await;
    let operator = Actor::Operator;
    let admin_policy = w
        .services
        .policies()
        .create(
            &operator,
            Ok(NewPolicyInput {
                name: "everything".into(),
                acl: vec!["#".into()],
                ..NewPolicyInput::default()
            }),
        )
        .await
        .expect("policy");
    let me = w
        .services
        .users()
        .list(&operator, Ok(UserQuery::default()))
        .await
        .expect("users")
        .items
        .into_iter()
        .find(|u| u.username.as_deref() == Some("attacher"))
        .expect("attacher");
    let refused = w
        .services
        .policies()
        .attach(&with_token(&token), &me.uuid, &admin_policy.uuid)
        .await;
    assert!(
        matches!(&refused, Err(DomainError::NotHeld(entry)) if entry == "#"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_wazo_tenant_of_another_tenant_is_refused() {
    let w = world().await;
    let token = w.caller_with("tenanted", &["auth.users.read"]).await;
    let actor = Actor::Request(Credentials {
        token: Some(token),
        tenant: Some(b"another-tenant".to_vec()),
    });
    let refused = w
        .services
        .users()
        .list(&actor, Ok(UserQuery::default()))
        .await;
    assert!(
        matches!(
            &refused,
            Err(DomainError::Unauthorized {
                refusal: Refusal::MissingPermissionOrInvalidTenant,
                tenant: Some(t),
                ..
            }) if t == "another-tenant"
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_wrong_password_is_the_same_failure_as_an_unknown_login() {
    let w = world().await;
    w.caller_with("known", &[]).await;
    for (login, password) in [("known", "wrong"), ("nobody", "pw")] {
        let failed = w
            .services
            .tokens()
            .create(Ok(TokenRequest {
                credentials: Some((login.into(), password.into())),
                ..TokenRequest::default()
            }))
            .await;
        assert!(
            matches!(failed, Err(DomainError::AuthenticationFailed)),
            "{login}: {failed:?}"
        );
    }
}
