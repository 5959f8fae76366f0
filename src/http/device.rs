//! The device page (SPEC §11.8, RFC 8628 §3.3): `GET`/`POST /oauth2/device`, where a user signs
//! in (the code flow's login page and browser session), types the code their device shows, and
//! allows or denies it on a consent page that warns against codes sent by others. The domain
//! decides every step; this renders them with the pages' headers and cookie.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::pages::{self, ConsentPage, LoginPage, PageRequest};
use super::AppState;
use crate::domain::oauth2::device::{DeviceAnswer, DeviceInput, DevicePage};

#[derive(Template)]
#[template(path = "device.html")]
struct CodePage<'a> {
    csrf: &'a str,
    user_code: &'a str,
    wrong: bool,
}

/// GET and POST /oauth2/device.
pub async fn device(State(state): State<AppState>, page: PageRequest) -> Response {
    let services = state.services();
    let secure = page.secure;
    let input = DeviceInput {
        cookie: page.cookie,
        post: page.post,
        step: page.post.then(|| page.fields.step()).flatten(),
        user_code: page.fields.get("user_code"),
        csrf: page.fields.get("csrf"),
        remote_addr: page.remote_addr,
    };
    match services.oauth2().device_page(input).await {
        Ok(page) => {
            let mut response = render(&page);
            if page.set_cookie {
                let lifetime = services.config().browser_session_lifetime;
                pages::set_cookie(&mut response, &page.cookie, secure, lifetime);
            }
            response
        }
        Err(error) => {
            tracing::warn!(%error, "device page failed");
            pages::unavailable()
        }
    }
}

/// The page for the domain's answer.
fn render(page: &DevicePage) -> Response {
    let csrf = page.csrf.as_str();
    let typed = page.user_code.as_deref().unwrap_or_default();
    match &page.answer {
        DeviceAnswer::Forbidden => pages::message(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "Open the device page again and enter the code.",
            None,
        ),
        DeviceAnswer::Login {
            failed,
            retry_after,
            typed: login_typed,
        } => {
            let state = pages::LoginState {
                failed: *failed,
                retry_after: *retry_after,
                typed: login_typed.as_deref(),
            };
            login(csrf, typed, state)
        }
        DeviceAnswer::EnterCode { wrong } => {
            let status = match wrong {
                true => StatusCode::BAD_REQUEST,
                false => StatusCode::OK,
            };
            let form = CodePage {
                csrf,
                user_code: typed,
                wrong: *wrong,
            };
            pages::page_response(status, form.render(), None)
        }
        DeviceAnswer::HeldBack { retry_after } => held_back(*retry_after),
        DeviceAnswer::Consent {
            client_name,
            scope,
            user_code,
        } => {
            let consent = ConsentPage {
                client_name,
                action: "device",
                fields: carried(user_code),
                csrf,
                scopes: scope.clone(),
                user_code: Some(user_code),
            };
            pages::page_response(StatusCode::OK, consent.render(), None)
        }
        DeviceAnswer::Decided { allowed } => decided(*allowed),
        DeviceAnswer::Gone => pages::message(
            StatusCode::BAD_REQUEST,
            "This code cannot be used",
            "It expired or was already used. Start again on your device.",
            None,
        ),
    }
}

/// The code flow's login page, posting here and carrying the user code on.
fn login(csrf: &str, typed: &str, state: pages::LoginState) -> Response {
    let login = LoginPage {
        client_name: "",
        action: "device",
        fields: carried(typed),
        csrf,
        failed: state.failed,
        retry_after: state.retry_after,
        login_hint: state.typed.unwrap_or_default(),
    };
    let status = pages::login_status(state.retry_after);
    let response = pages::page_response(status, login.render(), None);
    pages::with_retry_after(response, state.retry_after)
}

/// The user code a form carries on, when there is one.
fn carried(user_code: &str) -> Vec<(&'static str, String)> {
    match user_code.is_empty() {
        true => Vec::new(),
        false => vec![("user_code", user_code.to_string())],
    }
}

/// Too many wrong codes from this address: 429, as the login page's hold-back.
fn held_back(retry_after: u64) -> Response {
    let text = format!("Too many wrong codes. Try again in {retry_after} seconds.");
    let response = pages::message(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        &text,
        None,
    );
    pages::with_retry_after(response, Some(retry_after))
}

fn decided(allowed: bool) -> Response {
    let (title, text) = match allowed {
        true => (
            "Device connected",
            "You may close this page and go back to your device.",
        ),
        false => (
            "Access denied",
            "The device gets no access. You may close this page.",
        ),
    };
    pages::message(StatusCode::OK, title, text, None)
}
