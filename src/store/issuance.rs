//! What the domain hands the store to write a token, and what the writes answer. The domain
//! decides every rule (which sessions are limited, what an offline login replaces, whether a
//! grant rotates, the scope); these types carry its decisions, and the store only executes them,
//! atomically.

use super::columns::UuidText;
use super::records::{RefreshCutoffs, RefreshToken, SessionShare, TokenMetadata, User};

/// A new access token (its session). Its ACL is not here: every insert composes it in SQL, the
/// default policy's entries (`default_policy`, by name) then the user's (`users.acl`), and
/// returns it.
pub struct NewToken {
    pub token_digest: Vec<u8>,
    pub session_uuid: String,
    pub user_uuid: String,
    pub tenant_uuid: String,
    pub mobile: bool,
    pub issued_at: i64,
    pub expires_at: i64,
    /// The policy `default_user_policy` names, if any.
    pub default_policy: Option<String>,
    pub metadata: TokenMetadata,
    pub remote_addr: String,
    pub user_agent: String,
    /// The token's scope (SPEC §9); `None`: unlimited.
    pub scope: Option<Vec<String>>,
    /// The share of the session cap the token counts in.
    pub share: SessionShare,
    /// Live sessions of that share the user may already hold; `None`: unlimited.
    pub session_limit: Option<i64>,
}

/// An OAuth2 client's own token (the client-credentials grant, SPEC §11.4): no user, so no
/// session bound and no ACL composed from policies: `acl` is what was granted. The client's live
/// tokens beyond `keep` (the ones that expire first) end as it is written, so that a client that
/// asks for a token per call holds a bounded number of them and is never refused.
pub struct ClientToken {
    pub token_digest: Vec<u8>,
    pub session_uuid: String,
    pub client_id: String,
    pub tenant_uuid: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub acl: Vec<String>,
    pub metadata: TokenMetadata,
    pub remote_addr: String,
    pub user_agent: String,
    /// Live tokens the client keeps, this one included; `None`: all.
    pub keep: Option<i64>,
    /// The client's revision the token was granted at: written only while the client is still
    /// at it. `None`: whatever its revision.
    pub revision: Option<i64>,
}

/// How a [`NewToken`] is written, as the domain decided.
pub enum IssueWrite<'a> {
    /// A password login online: the token alone.
    Login,
    /// A user's token for an OAuth2 client (the authorization-code grant), recorded as the
    /// client's, and, with `offline_access`, the new refresh-token chain it starts.
    Authorized {
        client_id: &'a str,
        chain: Option<NewChain>,
    },
    /// A refresh grant that does not rotate: the token, while `from` is still at the generation
    /// read; its use is recorded when `mark_used`.
    Grant {
        from: &'a RefreshToken,
        mark_used: bool,
    },
    /// A refresh grant that rotates `from`'s value.
    Rotating {
        from: &'a RefreshToken,
        rotation: Rotation,
    },
    /// An offline login: the token and its refresh token.
    Offline(OfflineWrite),
}

/// An offline login's refresh token: the (user, client_id) one, created when missing (or
/// replaced); a second login keeps its value and sets the scope it asked (SPEC §9).
pub struct OfflineWrite {
    /// Uuid and value digest of the refresh token, if a new one is created.
    pub new_uuid: String,
    pub new_digest: Vec<u8>,
    pub client_id: String,
    pub login: String,
    /// `None`: unlimited.
    pub scope: Option<Vec<String>>,
    /// Whether the (user, client_id) refresh token is replaced (ended, with its sessions)
    /// rather than kept.
    pub replace: Replace,
    /// Whether every other mobile refresh token of the user ends, with its sessions.
    pub end_other_mobile: bool,
}

/// The refresh-token chain an OAuth2 authorization starts (SPEC §11: one per authorization).
#[derive(Clone, Debug)]
pub struct NewChain {
    pub uuid: String,
    /// The digest of its first value.
    pub digest: Vec<u8>,
    /// The granted ACL entries: every token of the chain is limited to them.
    pub scope: Vec<String>,
    /// The login the user signed in with (shown in the lists).
    pub login: String,
}

/// Which existing (user, client_id) refresh token an offline login replaces.
#[derive(Clone, Copy, Debug)]
pub enum Replace {
    /// None: it is kept.
    Never,
    /// Any.
    Always,
    /// One expired by these cutoffs.
    IfExpired(RefreshCutoffs),
}

/// A refresh grant that rotates: the value of `from`'s generation (`old_digest`) is superseded
/// by the next (`new_digest`), unless another grant superseded it first.
pub struct Rotation {
    pub old_digest: Vec<u8>,
    pub new_digest: Vec<u8>,
}

pub struct IssuedToken {
    /// The token's ACL, as its insert composed it.
    pub acl: Vec<String>,
    /// False when the default policy named was not found (its entries are missing).
    pub default_found: bool,
    /// The refresh token row created or found by an offline login.
    pub refresh_token: Option<Box<RefreshToken>>,
    pub sessions_revoked: u64,
}

/// What [`Store::issue_token`](super::Store::issue_token) did.
pub enum Issue {
    Issued(IssuedToken),
    /// The user is at its session limit: nothing written.
    SessionLimit,
    /// The refresh token of the grant changed since it was read (another grant rotated it, or it
    /// was deleted), or its user was disabled or deleted: nothing written; read them again.
    Superseded,
}

/// A refresh token found by its current value, with its user (if any).
pub struct RefreshGrant {
    pub refresh: RefreshToken,
    pub user: Option<User>,
    /// The revision of the OAuth2 client asked about, read with them (`None`: none asked, or
    /// no such client).
    pub client_revision: Option<i64>,
}

/// A refresh grant written in one statement: the current refresh token with this digest and
/// client, unexpired, of an enabled user, with room under the user's session bound (when
/// `limited_purposes` holds its purpose), mints a token with the user's ACL and the refresh
/// token's scope; the refresh token's use is recorded. Anything else writes nothing, and the
/// answer says why ([`GrantRefusal`]).
pub struct RefreshGrantWrite<'a> {
    pub refresh_digest: &'a [u8],
    pub client_id: &'a str,
    pub token_digest: Vec<u8>,
    pub session_uuid: &'a str,
    pub mobile: bool,
    pub issued_at: i64,
    pub expires_at: i64,
    pub remote_addr: &'a str,
    pub user_agent: &'a str,
    /// `None`: refresh tokens do not expire.
    pub cutoffs: Option<RefreshCutoffs>,
    /// A `used_at` at or before this is worth rewriting (PostgreSQL; SQLite's trigger always does).
    pub used_before: i64,
    /// Live sessions of the grants' share a user of a limited purpose may already hold.
    pub session_limit: i64,
    /// The purposes whose sessions are limited.
    pub limited_purposes: [&'a str; 2],
    pub default_policy: Option<&'a str>,
    pub xivo_uuid: Option<&'a str>,
}

/// What the statement of a [`RefreshGrantWrite`] wrote.
#[derive(sqlx::FromRow)]
pub struct RefreshGranted {
    #[sqlx(try_from = "UuidText")]
    pub auth_id: String,
    #[sqlx(json)]
    pub acl: Vec<String>,
    #[sqlx(json)]
    pub metadata: TokenMetadata,
    #[sqlx(json(nullable))]
    pub scope: Option<Vec<String>>,
    /// False when the default policy named was not found.
    pub default_found: bool,
}

/// Why the statement of a [`RefreshGrantWrite`] wrote nothing, as it found the refresh token and
/// its user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantRefusal {
    /// No refresh token's current value (perhaps a superseded one).
    UnknownValue,
    /// The refresh token is another client's.
    WrongClient,
    /// The refresh token expired.
    Expired,
    /// Its user is disabled or gone.
    UserDisabled,
    /// The user's session bound of the grants' share is at the limit, or not known yet: count
    /// exactly.
    SessionBound,
    /// Every condition held as read, but the write found something changed (a race).
    Changed,
}

impl GrantRefusal {
    /// The reason as the statement spells it.
    pub(super) fn from_sql(reason: &str) -> GrantRefusal {
        match reason {
            "unknown" => GrantRefusal::UnknownValue,
            "wrong_client" => GrantRefusal::WrongClient,
            "expired" => GrantRefusal::Expired,
            "user_disabled" => GrantRefusal::UserDisabled,
            "session_bound" => GrantRefusal::SessionBound,
            _ => GrantRefusal::Changed,
        }
    }
}

/// A code's redemption (SPEC §11.3): `client_id`'s code with this digest, presented with its
/// proof, redeemed for a new session (and the chain it may start): once only, before it expires.
pub struct CodeRedeem<'a> {
    pub digest: &'a [u8],
    pub client_id: &'a str,
    /// The PKCE S256 challenge of the verifier presented.
    pub challenge: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub session_uuid: &'a str,
    pub chain_uuid: &'a str,
    pub now: i64,
    /// The client's revision it was authenticated at: redeemed only while the client is still
    /// at it. `None`: whatever its revision.
    pub revision: Option<i64>,
}

/// The token a code's redemption writes with it ([`CodeRedeem`]): the code's user's, enabled,
/// with room under the logins' session bound (when `limited_purposes` holds the purpose),
/// limited to the code's scope less `dropped`, with the ACL of every token; the session is
/// `CodeRedeem::session_uuid`, issued at `CodeRedeem::now`. No token is written when a condition
/// fails, or when the code's scope holds `chain_scope` (a refresh-token chain to start): the
/// second path writes it.
pub struct CodeTokenWrite<'a> {
    pub token_digest: Vec<u8>,
    pub expires_at: i64,
    pub remote_addr: &'a str,
    pub user_agent: &'a str,
    pub session_limit: i64,
    pub limited_purposes: [&'a str; 2],
    pub default_policy: Option<&'a str>,
    pub xivo_uuid: Option<&'a str>,
    /// The scope value that starts a chain, when the client may use refresh tokens.
    pub chain_scope: Option<&'a str>,
    /// Scope values that grant no access (OpenID Connect's): not in the token's scope.
    pub dropped: &'a [&'a str],
}

/// A code redeemed together with its token ([`CodeTokenWrite`]).
pub struct CodeMinted {
    pub code: super::AuthorizationCode,
    /// False when the default policy named was not found.
    pub default_found: bool,
}

/// What a refresh grant's statement did.
pub enum RefreshGrantOutcome {
    Granted(Box<RefreshGranted>),
    Refused(GrantRefusal),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewUser, Store};

    const NOW: i64 = 1_000_000_000_000_000;

    /// A store with one user of purpose `user` holding the refresh token of client `app`, whose
    /// value has digest `[1]`. The store, the user's uuid.
    async fn store_with_refresh_token(dir: &tempfile::TempDir) -> (Store, String) {
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::connect(&url).await.expect("store");
        let tenant_uuid = store.ensure_top_tenant().await.expect("tenant");
        let user_uuid = uuid::Uuid::new_v4().to_string();
        let user = NewUser {
            uuid: user_uuid.clone(),
            tenant_uuid: tenant_uuid.clone(),
            username: Some("alice".into()),
            firstname: None,
            lastname: None,
            password_hash: None,
            purpose: "user".into(),
            enabled: true,
            authentication_method: "native".into(),
            email_address: None,
            created_at: NOW,
            username_skeleton: None,
        };
        store.create_user(&user).await.expect("user");
        let token = new_token(&user_uuid, &tenant_uuid, vec![2]);
        let offline = OfflineWrite {
            new_uuid: uuid::Uuid::new_v4().to_string(),
            new_digest: vec![1],
            client_id: "app".into(),
            login: "alice".into(),
            scope: None,
            replace: Replace::Never,
            end_other_mobile: false,
        };
        let issued = store
            .issue_token(&token, IssueWrite::Offline(offline))
            .await;
        assert!(matches!(issued, Ok(Issue::Issued(_))), "offline login");
        (store, user_uuid)
    }

    fn new_token(user_uuid: &str, tenant_uuid: &str, digest: Vec<u8>) -> NewToken {
        NewToken {
            token_digest: digest,
            session_uuid: uuid::Uuid::new_v4().to_string(),
            user_uuid: user_uuid.into(),
            tenant_uuid: tenant_uuid.into(),
            mobile: false,
            issued_at: NOW,
            expires_at: NOW + 3_600_000_000,
            default_policy: None,
            metadata: TokenMetadata::default(),
            remote_addr: String::new(),
            user_agent: String::new(),
            scope: None,
            share: SessionShare::Logins,
            session_limit: None,
        }
    }

    fn grant<'a>(session_uuid: &'a str) -> RefreshGrantWrite<'a> {
        RefreshGrantWrite {
            refresh_digest: &[1],
            client_id: "app",
            token_digest: uuid::Uuid::new_v4().as_bytes().to_vec(),
            session_uuid,
            mobile: false,
            issued_at: NOW + 1,
            expires_at: NOW + 3_600_000_000,
            remote_addr: "",
            user_agent: "",
            cutoffs: None,
            used_before: NOW,
            session_limit: 10,
            // The user's purpose is not limited (the bound is not known yet: it would refuse).
            limited_purposes: ["external_api", "external_api"],
            default_policy: None,
            xivo_uuid: None,
        }
    }

    async fn refused(store: &Store, write: &RefreshGrantWrite<'_>) -> Option<GrantRefusal> {
        match store.write_refresh_grant(write).await.expect("statement") {
            RefreshGrantOutcome::Granted(_) => None,
            RefreshGrantOutcome::Refused(why) => Some(why),
        }
    }

    #[tokio::test]
    async fn the_one_statement_grant_says_why_it_wrote_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = store_with_refresh_token(&dir).await;
        let session = uuid::Uuid::new_v4().to_string();
        let unknown = RefreshGrantWrite {
            refresh_digest: &[9],
            ..grant(&session)
        };
        assert_eq!(
            refused(&store, &unknown).await,
            Some(GrantRefusal::UnknownValue)
        );
        let other_client = RefreshGrantWrite {
            client_id: "other",
            ..grant(&session)
        };
        assert_eq!(
            refused(&store, &other_client).await,
            Some(GrantRefusal::WrongClient)
        );
        let expired = RefreshGrantWrite {
            cutoffs: Some(RefreshCutoffs {
                idle: NOW + 1,
                max: i64::MIN,
            }),
            ..grant(&session)
        };
        assert_eq!(refused(&store, &expired).await, Some(GrantRefusal::Expired));
        let at_the_limit = RefreshGrantWrite {
            session_limit: 0,
            limited_purposes: ["user", "external_api"],
            ..grant(&session)
        };
        assert_eq!(
            refused(&store, &at_the_limit).await,
            Some(GrantRefusal::SessionBound)
        );
        assert_eq!(refused(&store, &grant(&session)).await, None, "granted");
    }

    #[tokio::test]
    async fn every_token_insert_answers_its_acl_and_whether_the_default_policy_was_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, user_uuid) = store_with_refresh_token(&dir).await;
        let session = uuid::Uuid::new_v4().to_string();
        let missing_default = RefreshGrantWrite {
            default_policy: Some("no such policy"),
            ..grant(&session)
        };
        match store.write_refresh_grant(&missing_default).await {
            Ok(RefreshGrantOutcome::Granted(granted)) => {
                assert!(granted.acl.is_empty());
                assert!(!granted.default_found);
            }
            _ => panic!("granted without the default policy's entries"),
        }
        let tenant = store.ensure_top_tenant().await.expect("tenant");
        let mut token = new_token(&user_uuid, &tenant, vec![3]);
        token.default_policy = Some("no such policy".into());
        match store.issue_token(&token, IssueWrite::Login).await {
            Ok(Issue::Issued(issued)) => assert!(!issued.default_found),
            _ => panic!("issued with a default policy that does not exist"),
        }
        token.token_digest = vec![4];
        token.session_uuid = uuid::Uuid::new_v4().to_string();
        token.default_policy = None;
        match store.issue_token(&token, IssueWrite::Login).await {
            Ok(Issue::Issued(issued)) => assert!(issued.default_found),
            _ => panic!("issued without a default policy"),
        }
    }
}
