//! The authorization endpoint (SPEC §11.3, RFC 6749 §4.1, RFC 7636, RFC 9207): the request's
//! checks in the order the RFCs require, then the browser's steps (sign in, consent) and the
//! code. The login and consent forms post back to the endpoint with the request's parameters, so
//! every step checks the whole request again and no pending authorization is kept.

use super::browser::{Browser, SignedIn};
use super::clients::AUTHORIZATION_CODE;
use super::error::{OAuthCode, OAuthError};
use super::redirect::redirect_uri_matches;
use super::scope::{self, Granted, OIDC_SCOPES};
use super::OAuth2;
use crate::domain::acl::Holder;
use crate::domain::error::DomainResult;
use crate::domain::secrets;
use crate::store::{AuthorizationCode, OAuth2Client};

/// How long a code lives (SPEC §11.3: at most 60 s).
pub const CODE_LIFETIME_SECONDS: i64 = 60;

/// Unredeemed live codes one browser session may hold: codes are written without a password, so
/// one signed-in browser must not fill the table.
const MAX_PENDING_CODES: i64 = 20;

/// The longest `state` or `nonce` kept: they travel back in redirects and codes.
const MAX_ECHOED_BYTES: usize = 1024;

/// The authorization request's parameters, as the face read them (query or form).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    pub prompt: Option<String>,
    pub login_hint: Option<String>,
    pub max_age: Option<String>,
    /// The parameters the request holds more than once (RFC 6749 §3.1 forbids it).
    pub repeated: Vec<String>,
}

impl AuthorizeParams {
    /// The names of the parameters.
    pub fn names(&self) -> Vec<&'static str> {
        self.all().into_iter().map(|(name, _)| name).collect()
    }

    /// The parameters as the pages' forms carry them back, in a fixed order.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        self.all()
            .into_iter()
            .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
            .collect()
    }

    fn all(&self) -> [(&'static str, &Option<String>); 11] {
        [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
            ("state", &self.state),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("nonce", &self.nonce),
            ("prompt", &self.prompt),
            ("login_hint", &self.login_hint),
            ("max_age", &self.max_age),
        ]
    }

    /// The request once the user signed in here: `prompt=login` and `max_age` are met, so the
    /// next step (consent) must not ask for a login again.
    fn after_login(&self) -> AuthorizeParams {
        let prompt = self.prompt.as_deref().map(|prompt| {
            prompt
                .split(' ')
                .filter(|p| *p != "login" && !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        });
        AuthorizeParams {
            prompt: prompt.filter(|p| !p.is_empty()),
            max_age: None,
            ..self.clone()
        }
    }
}

/// What the browser sent with the request.
#[derive(Clone, Debug, Default)]
pub struct BrowserInput {
    /// The browser's cookie value, if it has one.
    pub cookie: Option<String>,
    /// Whether the request is a form post of a page's step (login or consent).
    pub step: Option<Step>,
    pub csrf: Option<String>,
    pub remote_addr: String,
}

/// A step a page's form posts.
#[derive(Clone, Debug)]
pub enum Step {
    Login { username: String, password: String },
    Decision { allow: bool },
}

/// A checked request: its client, where to answer, and what it asks for.
#[derive(Clone, Debug)]
pub struct Checked {
    pub client: OAuth2Client,
    pub params: AuthorizeParams,
    /// The redirect URI to answer at (the request's, or the client's only one).
    pub redirect_uri: String,
    pub granted: Granted,
    prompts: Vec<String>,
    max_age: Option<i64>,
}

/// What the endpoint answers.
#[derive(Debug)]
pub enum Answer {
    /// The request cannot be answered at a redirect URI: an HTML error page, 400.
    Refused(String),
    /// A form post without the page's CSRF token: 403.
    Forbidden,
    /// 303 to the client's redirect URI.
    Redirect(String),
    /// The login page; `failed`: the last attempt's credentials were wrong (401);
    /// `retry_after`: held back (429); `typed`: the login the last attempt gave, to fill in again.
    Login {
        request: Box<Checked>,
        failed: bool,
        retry_after: Option<u64>,
        typed: Option<String>,
    },
    /// The consent page.
    Consent { request: Box<Checked> },
}

/// The endpoint's answer and the browser's cookie (the value to set when it changed).
#[derive(Debug)]
pub struct Authorization {
    pub answer: Answer,
    pub cookie: String,
    pub set_cookie: bool,
    /// The CSRF token the pages' forms carry.
    pub csrf: String,
}

/// A redirect to `redirect_uri` with `params` added to its query.
pub fn redirect_to(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        // Registered URIs were checked as URLs; nothing else is redirected to.
        Err(_) => return redirect_uri.to_string(),
    };
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

impl Checked {
    /// The redirect carrying `error` (RFC 6749 §4.1.2.1) with `state` and `iss`.
    fn error_redirect(&self, error: &OAuthError, issuer: &str) -> Answer {
        let description = error_description(&error.description);
        let mut params = vec![
            ("error", error.code.as_str()),
            ("error_description", description.as_str()),
        ];
        if let Some(state) = &self.params.state {
            params.push(("state", state));
        }
        params.push(("iss", issuer));
        Answer::Redirect(redirect_to(&self.redirect_uri, &params))
    }

    fn prompt(&self, value: &str) -> bool {
        self.prompts.iter().any(|p| p == value)
    }

    /// Whether a sign-in at `auth_time` is too old for `max_age` at `now` (microseconds).
    fn too_old(&self, auth_time: i64, now: i64) -> bool {
        self.max_age.is_some_and(|max_age| {
            now.saturating_sub(auth_time) > max_age.saturating_mul(1_000_000)
        })
    }
}

impl OAuth2<'_> {
    /// GET or POST /oauth2/authorize.
    pub async fn authorize(
        &self,
        params: AuthorizeParams,
        input: BrowserInput,
    ) -> DomainResult<Authorization> {
        let mut browser = Browser::of(self.0, input.cookie.as_deref());
        let answer = match self.identify(params).await? {
            Err(refused) => Answer::Refused(refused),
            Ok(Err((checked, error))) => checked.error_redirect(&error, &self.issuer_text()),
            Ok(Ok(checked)) => self.steps(checked, &input, &mut browser).await?,
        };
        Ok(Authorization {
            answer,
            csrf: browser.csrf(),
            set_cookie: browser.changed(),
            cookie: browser.cookie,
        })
    }

    fn issuer_text(&self) -> String {
        self.0.issuer.clone().unwrap_or_default()
    }

    /// The client and redirect URI (`Err`: never redirected to), then the rest of the request
    /// (`Err`: redirected with its error).
    async fn identify(
        &self,
        params: AuthorizeParams,
    ) -> DomainResult<Result<Result<Checked, (Checked, OAuthError)>, String>> {
        let client_id = params
            .client_id
            .as_deref()
            .and_then(crate::domain::parse_uuid);
        let client = match client_id {
            Some(id) => self.0.store.get_client(&id).await?,
            None => None,
        };
        let Some(client) = client else {
            return Ok(Err("The application is not registered here.".into()));
        };
        // Which client or redirect URI a repeated one names is ambiguous: never redirected to.
        if params
            .repeated
            .iter()
            .any(|p| p == "client_id" || p == "redirect_uri")
        {
            return Ok(Err(
                "The request repeats its client_id or redirect_uri.".into()
            ));
        }
        let public = !client.confidential;
        let redirect_uri = match params.redirect_uri.as_deref() {
            Some(uri) if redirect_uri_matches(&client.redirect_uris, uri, public) => {
                uri.to_string()
            }
            Some(_) => {
                return Ok(Err(
                    "The redirect URI is not registered for this application.".into(),
                ))
            }
            None => match client.redirect_uris.as_slice() {
                [only] => only.clone(),
                _ => return Ok(Err("The request names no redirect URI.".into())),
            },
        };
        let mut checked = Checked {
            client,
            params,
            redirect_uri,
            granted: Granted {
                entries: Vec::new(),
                oidc: Vec::new(),
            },
            prompts: Vec::new(),
            max_age: None,
        };
        Ok(Ok(match check_request(&mut checked) {
            Ok(()) => Ok(checked),
            Err(error) => Err((checked, error)),
        }))
    }

    /// The browser's steps for a checked request: sign in, consent, then the code.
    async fn steps(
        &self,
        checked: Checked,
        input: &BrowserInput,
        browser: &mut Browser,
    ) -> DomainResult<Answer> {
        let issuer = self.issuer_text();
        if input.step.is_some() && !browser.csrf_matches(input.csrf.as_deref()) {
            return Ok(Answer::Forbidden);
        }
        let now = self.0.clock.now_micros();
        let mut signed_in = browser.session(self.0, now).await?;
        let mut checked = checked;
        if let Some(Step::Login { username, password }) = &input.step {
            match browser
                .sign_in(self.0, username, password, &input.remote_addr)
                .await?
            {
                Ok(session) => {
                    signed_in = Some(session);
                    checked.params = checked.params.after_login();
                    checked.prompts.retain(|p| p != "login");
                    checked.max_age = None;
                }
                Err(retry_after) => {
                    return Ok(Answer::Login {
                        request: Box::new(checked),
                        failed: retry_after.is_none(),
                        retry_after,
                        typed: Some(username.clone()),
                    })
                }
            }
        }
        let signed_in = match signed_in {
            Some(session)
                if !checked.prompt("login") && !checked.too_old(session.auth_time, now) =>
            {
                session
            }
            _ if checked.prompt("none") => {
                let error = OAuthError::new(OAuthCode::LoginRequired, "The user must sign in.");
                return Ok(checked.error_redirect(&error, &issuer));
            }
            _ => {
                return Ok(Answer::Login {
                    request: Box::new(checked),
                    failed: false,
                    retry_after: None,
                    typed: None,
                })
            }
        };
        self.consent_step(checked, input, signed_in, &issuer).await
    }

    /// The consent, asked, given or remembered; then the code.
    async fn consent_step(
        &self,
        checked: Checked,
        input: &BrowserInput,
        signed_in: SignedIn,
        issuer: &str,
    ) -> DomainResult<Answer> {
        let store = &self.0.store;
        let user = &signed_in.user_uuid;
        let client_id = &checked.client.client_id;
        let values = granted_values(&checked.granted);
        match input.step {
            Some(Step::Decision { allow: false }) => {
                let error =
                    OAuthError::new(OAuthCode::AccessDenied, "The user denied the request.");
                return Ok(checked.error_redirect(&error, issuer));
            }
            Some(Step::Decision { allow: true }) => {
                let now = self.0.clock.now_micros();
                store
                    .remember_consent(user, client_id, &values, now)
                    .await?;
            }
            _ => {
                let remembered = store.consent(user, client_id).await?;
                let covered = remembered.is_some_and(|r| consent_covers(&r, &checked.granted));
                let implicit = checked.client.consent == "implicit";
                let needed = checked.prompt("consent") || !(covered || implicit);
                if needed && checked.prompt("none") {
                    let error =
                        OAuthError::new(OAuthCode::ConsentRequired, "The user must consent.");
                    return Ok(checked.error_redirect(&error, issuer));
                }
                if needed {
                    return Ok(Answer::Consent {
                        request: Box::new(checked),
                    });
                }
            }
        }
        self.code(checked, signed_in, issuer).await
    }

    /// Issues a code and redirects with it.
    async fn code(
        &self,
        checked: Checked,
        signed_in: SignedIn,
        issuer: &str,
    ) -> DomainResult<Answer> {
        let now = self.0.clock.now_micros();
        let value = secrets::new_secret_value();
        let code = AuthorizationCode {
            client_id: checked.client.client_id.clone(),
            user_uuid: signed_in.user_uuid,
            redirect_uri: checked.params.redirect_uri.clone(),
            code_challenge: checked.params.code_challenge.clone().unwrap_or_default(),
            scope: granted_values(&checked.granted),
            nonce: checked.params.nonce.clone(),
            browser_session: signed_in.digest,
            auth_time: signed_in.auth_time,
            expires_at: now.saturating_add(CODE_LIFETIME_SECONDS * 1_000_000),
            session_uuid: None,
            refresh_uuid: None,
        };
        let digest = secrets::digest(&value);
        let store = &self.0.store;
        if !store
            .create_code(&digest, &code, MAX_PENDING_CODES, now)
            .await?
        {
            let error = OAuthError::new(
                OAuthCode::TemporarilyUnavailable,
                "Too many codes are pending for this browser (or its client or user is gone).",
            );
            return Ok(checked.error_redirect(&error, issuer));
        }
        let mut params = vec![("code", value.as_str())];
        if let Some(state) = &checked.params.state {
            params.push(("state", state));
        }
        params.push(("iss", issuer));
        Ok(Answer::Redirect(redirect_to(
            &checked.redirect_uri,
            &params,
        )))
    }
}

/// Whether a remembered consent covers what is asked now: its OpenID Connect scopes, and every
/// access the asked entries grant, judged between patterns with negatives on either side (§9's
/// narrowing): dropping a remembered negative asks again.
fn consent_covers(remembered: &[String], asked: &Granted) -> bool {
    let (oidc, entries): (Vec<String>, Vec<String>) = remembered
        .iter()
        .cloned()
        .partition(|v| OIDC_SCOPES.contains(&v.as_str()));
    asked.oidc.iter().all(|v| oidc.contains(v))
        && (asked.entries.is_empty()
            || crate::domain::grant::narrowed(Some(&entries), Some(&asked.entries), UNKNOWN_USER)
                .is_ok())
}

/// The holder scopes are judged for before the user is known: `me` and `my_session` as written,
/// standing for the token's user and session once it is minted.
const UNKNOWN_USER: Holder<'static> = Holder {
    auth_id: "me",
    session_uuid: "my_session",
};

/// An `error_description` in RFC 6749 §4.1.2.1's characters (printable ASCII but `"` and `\\`),
/// short: it names what was wrong, never echoes much of the request.
fn error_description(description: &str) -> String {
    description
        .chars()
        .filter(|c| matches!(c, ' '..='~') && *c != '"' && *c != '\\')
        .take(200)
        .collect()
}

/// The scope values a code or consent records: OpenID Connect scopes, then ACL entries.
pub fn granted_values(granted: &Granted) -> Vec<String> {
    granted
        .oidc
        .iter()
        .chain(&granted.entries)
        .cloned()
        .collect()
}

/// The request's checks once its redirect URI is known, in RFC 6749 §4.1.2.1's terms.
fn check_request(checked: &mut Checked) -> Result<(), OAuthError> {
    let params = &checked.params;
    if let Some(name) = params.repeated.first() {
        return Err(OAuthError::invalid_request(format!("{name} is repeated.")));
    }
    for echoed in [&params.state, &params.nonce, &params.login_hint] {
        let refused = |v: &String| v.len() > MAX_ECHOED_BYTES || v.chars().any(char::is_control);
        if echoed.as_ref().is_some_and(refused) {
            return Err(OAuthError::invalid_request(format!(
                "state, nonce and login_hint hold at most {MAX_ECHOED_BYTES} bytes, without \
                 control characters."
            )));
        }
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        None => return Err(OAuthError::invalid_request("response_type is missing.")),
        Some(_) => {
            return Err(OAuthError::new(
                OAuthCode::UnsupportedResponseType,
                "Only response_type=code is supported.",
            ))
        }
    }
    if !checked
        .client
        .grant_types
        .iter()
        .any(|g| g == AUTHORIZATION_CODE)
    {
        return Err(OAuthError::new(
            OAuthCode::UnauthorizedClient,
            "This client may not use the authorization_code grant.",
        ));
    }
    check_pkce(params)?;
    checked.prompts = prompts(params.prompt.as_deref())?;
    checked.max_age = max_age(params.max_age.as_deref())?;
    let requested = scope::parse(params.scope.as_deref())?;
    checked.granted = scope::granted(&checked.client.scope, requested, UNKNOWN_USER)?;
    Ok(())
}

/// PKCE (RFC 7636 §4.2): an S256 challenge is required of every client.
fn check_pkce(params: &AuthorizeParams) -> Result<(), OAuthError> {
    match params.code_challenge_method.as_deref() {
        Some("S256") => {}
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method must be S256.",
            ))
        }
        None => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method=S256 is required.",
            ))
        }
    }
    let challenge = params.code_challenge.as_deref().unwrap_or_default();
    let shaped = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match shaped {
        true => Ok(()),
        false => Err(OAuthError::invalid_request(
            "code_challenge must be the base64url SHA-256 of a code verifier (43 characters).",
        )),
    }
}

/// The S256 challenge of `verifier` (RFC 7636 §4.1–4.2: 43 to 128 unreserved characters);
/// `None` for a verifier of any other shape.
pub fn challenge_of(verifier: &str) -> Option<String> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let shaped = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    shaped.then(|| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
    })
}

/// Whether `verifier` answers `challenge`.
#[cfg(test)]
fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    challenge_of(verifier).is_some_and(|c| c == challenge)
}

/// `prompt`'s values: `none` alone, or any of `login` and `consent`.
fn prompts(prompt: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let values: Vec<String> = prompt
        .unwrap_or_default()
        .split(' ')
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    if values
        .iter()
        .any(|v| !matches!(v.as_str(), "none" | "login" | "consent"))
    {
        return Err(OAuthError::invalid_request(
            "prompt is none, login or consent.",
        ));
    }
    if values.len() > 1 && values.iter().any(|v| v == "none") {
        return Err(OAuthError::invalid_request("prompt=none goes alone."));
    }
    Ok(values)
}

/// `max_age`: whole seconds, not negative.
fn max_age(max_age: Option<&str>) -> Result<Option<i64>, OAuthError> {
    max_age
        .map(|text| {
            text.parse::<u32>()
                .map(i64::from)
                .map_err(|_| OAuthError::invalid_request("max_age is a number of seconds."))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verifier_matches(verifier, challenge));
        assert!(!verifier_matches(challenge, challenge));
        assert!(!verifier_matches("short", challenge));
    }

    #[test]
    fn prompts_and_max_age() {
        assert!(prompts(Some("none login")).is_err());
        assert!(prompts(Some("select_account")).is_err());
        assert_eq!(prompts(Some("login consent")).unwrap().len(), 2);
        assert_eq!(max_age(Some("0")).unwrap(), Some(0));
        assert!(max_age(Some("-1")).is_err());
    }

    #[test]
    fn redirects_keep_the_registered_query() {
        let to = redirect_to(
            "https://a.example/cb?x=1",
            &[("code", "c d"), ("state", "s&t")],
        );
        assert_eq!(to, "https://a.example/cb?x=1&code=c+d&state=s%26t");
    }
}
