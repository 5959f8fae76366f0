//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0, SPEC §11.9): `GET`/`POST
//! /oauth2/logout` asks the user to confirm, then ends the browser session. A relying party names
//! itself with `client_id` or with an ID token this issuer signed (`id_token_hint`, expired or
//! not); a `post_logout_redirect_uri` registered for it (exact match) is where the browser goes
//! next, with `state`. Anything else is a page that says why, never a redirect.

use jsonwebtoken::{DecodingKey, Validation};

use super::authorize::redirect_to;
use super::browser::Browser;
use super::OAuth2;
use crate::domain::error::DomainResult;
use crate::domain::secrets;

/// The logout page's request, as the HTTP face read it.
#[derive(Debug, Default)]
pub struct LogoutInput {
    pub cookie: Option<String>,
    pub post: bool,
    pub csrf: Option<String>,
    /// The confirmation's answer: `Some(true)` signs out, `Some(false)` stays signed in.
    pub decision: Option<bool>,
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// What the logout page answers.
#[derive(Debug, PartialEq, Eq)]
pub enum LogoutAnswer {
    /// The confirmation, naming the relying party when it is known.
    Confirm { client_name: Option<String> },
    /// A request that cannot be served (400): why.
    Refused(String),
    /// A form posted without this browser's CSRF token (403).
    Forbidden,
    /// Back to the relying party (303).
    Redirect(String),
    /// Signed out, with nowhere to go back to.
    SignedOut,
    /// The user chose to stay signed in, with nowhere to go back to.
    StillSignedIn,
}

/// The page, with the browser's cookie and the fields its form posts back.
pub struct LogoutPage {
    pub answer: LogoutAnswer,
    pub csrf: String,
    pub cookie: String,
    pub set_cookie: bool,
    /// The browser session ended: the cookie is cleared.
    pub clear_cookie: bool,
    pub fields: Vec<(&'static str, String)>,
    /// The registered URI the browser may go back to (the form's CSP allows its origin).
    pub return_to: Option<String>,
}

/// The relying party a logout names, and where to send the browser back to.
struct Target {
    client_id: Option<String>,
    client_name: Option<String>,
    return_to: Option<String>,
}

impl OAuth2<'_> {
    /// GET or POST /oauth2/logout.
    pub async fn logout(&self, input: LogoutInput) -> DomainResult<LogoutPage> {
        let browser = Browser::of(self.0, input.cookie.as_deref());
        let target = self.logout_target(&input).await?;
        let (answer, ended) = match &target {
            Err(why) => (LogoutAnswer::Refused(why.clone()), false),
            Ok(target) => self.logout_step(&input, &browser, target).await?,
        };
        let target = target.ok();
        let mut fields = Vec::new();
        if let Some(target) = &target {
            let pairs = [
                ("client_id", &target.client_id),
                ("post_logout_redirect_uri", &target.return_to),
                ("state", &input.state),
            ];
            for (name, value) in pairs {
                if let Some(value) = value {
                    fields.push((name, value.clone()));
                }
            }
        }
        Ok(LogoutPage {
            answer,
            csrf: browser.csrf(),
            set_cookie: browser.changed() && !ended,
            cookie: browser.cookie,
            clear_cookie: ended,
            fields,
            return_to: target.and_then(|t| t.return_to),
        })
    }

    /// The confirmation, or the decision on it: `true` when the browser session ended.
    async fn logout_step(
        &self,
        input: &LogoutInput,
        browser: &Browser,
        target: &Target,
    ) -> DomainResult<(LogoutAnswer, bool)> {
        let Some(sign_out) = input.decision.filter(|_| input.post) else {
            let client_name = target.client_name.clone();
            return Ok((LogoutAnswer::Confirm { client_name }, false));
        };
        if !browser.csrf_matches(input.csrf.as_deref()) {
            return Ok((LogoutAnswer::Forbidden, false));
        }
        if sign_out {
            let digest = secrets::digest(&browser.cookie);
            if self.0.store.end_browser_session(&digest).await? {
                tracing::info!("browser signed out");
            }
        }
        let answer = match (&target.return_to, sign_out) {
            (Some(uri), _) => {
                let state: Vec<(&str, &str)> =
                    input.state.iter().map(|s| ("state", s.as_str())).collect();
                LogoutAnswer::Redirect(redirect_to(uri, &state))
            }
            (None, true) => LogoutAnswer::SignedOut,
            (None, false) => LogoutAnswer::StillSignedIn,
        };
        Ok((answer, sign_out))
    }

    /// The relying party the request names, and its registered `post_logout_redirect_uri`;
    /// `Err`: why the request cannot be served.
    async fn logout_target(&self, input: &LogoutInput) -> DomainResult<Result<Target, String>> {
        let hinted = match &input.id_token_hint {
            Some(hint) => match self.hint_audience(hint).await? {
                Some(audience) => Some(audience),
                None => {
                    return Ok(Err(
                        "The id_token_hint is not an ID token of Tessera's.".into()
                    ))
                }
            },
            None => None,
        };
        let client_id = match (hinted, &input.client_id) {
            (Some(hinted), Some(named)) if &hinted != named => {
                return Ok(Err(
                    "client_id is not the audience of the id_token_hint.".into()
                ))
            }
            (hinted, named) => hinted.or_else(|| named.clone()),
        };
        let client = match &client_id {
            Some(id) if crate::domain::parse_uuid(id).is_some() => {
                self.0.store.get_client(id).await?
            }
            _ => None,
        };
        if client_id.is_some() && client.is_none() {
            return Ok(Err("The application is unknown.".into()));
        }
        let return_to = match (&input.post_logout_redirect_uri, &client) {
            (None, _) => None,
            (Some(uri), Some(client)) if client.post_logout_redirect_uris.contains(uri) => {
                Some(uri.clone())
            }
            (Some(_), _) => {
                return Ok(Err(
                    "post_logout_redirect_uri is not registered for the application.".into(),
                ))
            }
        };
        Ok(Ok(Target {
            client_id: client.as_ref().map(|c| c.client_id.clone()),
            client_name: client.map(|c| c.name),
            return_to,
        }))
    }

    /// The audience of an ID token this issuer signed with a key it still publishes (expired or
    /// not: a hint, not a credential); `None` for anything else.
    async fn hint_audience(&self, hint: &str) -> DomainResult<Option<String>> {
        let Ok(header) = jsonwebtoken::decode_header(hint) else {
            return Ok(None);
        };
        let keyring = self.keyring().await?;
        let key = keyring
            .published
            .keys
            .iter()
            .find(|k| k.common.key_id.is_some() && k.common.key_id == header.kid);
        let Some(key) = key.and_then(|k| DecodingKey::from_jwk(k).ok()) else {
            return Ok(None);
        };
        let signing = [
            jsonwebtoken::Algorithm::RS256,
            jsonwebtoken::Algorithm::ES256,
        ];
        if !signing.contains(&header.alg) {
            return Ok(None);
        }
        // The key decides the algorithm too: jsonwebtoken refuses one of another family.
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let issuer = self.issuer().ok();
        validation.set_issuer(&issuer.iter().collect::<Vec<_>>());
        #[derive(serde::Deserialize)]
        struct Hint {
            aud: String,
        }
        let decoded = jsonwebtoken::decode::<Hint>(hint, &key, &validation);
        Ok(decoded.ok().map(|token| token.claims.aud))
    }
}
