//! The HTTP face: the whole API under `/0.1` and `/api/auth/0.1`, and its tower layers.
//!
//! A request flows one way: router → extractors → one domain use case → rendered response. The
//! route list below is the only one: each handler's `#[utoipa::path]` names its method and path,
//! from which both the router and the OpenAPI description are made.

mod body;
mod device;
mod envelope;
pub mod error;
mod extract;
mod health;
mod logging;
pub mod metrics;
mod oauth2;
mod oauth2_clients;
mod oidc;
mod openapi;
mod pages;
mod policies;
mod read;
mod refresh_tokens;
pub mod serve;
mod sessions;
mod status;
mod token;
mod users;
pub mod wire;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::openapi::path::HttpMethod;
use utoipa::Path;

use crate::domain::Services;
use error::ApiError;
use openapi::{RootServers, SecuritySchemes};

pub use extract::basic_credentials;
pub use openapi::yaml as openapi_yaml;
pub use read::token_request;

/// What every handler is given: the services, composed once.
#[derive(Clone)]
pub struct AppState {
    services: Arc<Services>,
}

impl AppState {
    pub fn new(services: Arc<Services>) -> AppState {
        AppState { services }
    }

    pub fn services(&self) -> &Services {
        &self.services
    }
}

/// Largest request body accepted; POST /token bodies are tiny, user and policy bodies small.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// POST /token bodies hold a few short fields: anything larger is refused before parsing.
const MAX_TOKEN_BODY_BYTES: usize = 8 * 1024;

fn method_filter(methods: &[HttpMethod]) -> MethodFilter {
    methods
        .iter()
        .map(|method| match method {
            HttpMethod::Get => MethodFilter::GET,
            HttpMethod::Put => MethodFilter::PUT,
            HttpMethod::Post => MethodFilter::POST,
            HttpMethod::Delete => MethodFilter::DELETE,
            HttpMethod::Options => MethodFilter::OPTIONS,
            HttpMethod::Head => MethodFilter::HEAD,
            HttpMethod::Patch => MethodFilter::PATCH,
            HttpMethod::Trace => MethodFilter::TRACE,
        })
        .reduce(MethodFilter::or)
        // Every handler documents its method; GET is never reached.
        .unwrap_or(MethodFilter::GET)
}

fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Put => "PUT",
        HttpMethod::Post => "POST",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Head => "HEAD",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Trace => "TRACE",
    }
}

/// Routes one handler at the method and path its `#[utoipa::path]` documents, under each prefix.
fn route<P: Path>(router: Router<AppState>, handler: MethodRouter<AppState>) -> Router<AppState> {
    PREFIXES.iter().fold(router, |router, prefix| {
        router.route(&format!("{prefix}{}", P::path()), handler.clone())
    })
}

/// The API is served whole under each (wazo-auth answers on both). The routes are registered
/// under each prefix in one router, rather than nested: a nested router is a second route lookup
/// and a prefix rewrite on every request.
const PREFIXES: [&str; 2] = ["/0.1", "/api/auth/0.1"];

/// The handlers' (method, path) pairs, as their `#[utoipa::path]` documents them.
fn documented<P: Path>() -> Vec<(String, String)> {
    P::methods()
        .iter()
        .map(|method| (method_name(method).to_string(), P::path()))
        .collect()
}

/// The one route list: `module::handler` (optionally `=> layer`) under the API's prefixes, then,
/// after `root:`, the OAuth2 face's handlers at Tessera's root (SPEC §11.1). It makes the router,
/// the lists of (method, path) the tests hold the description to, and the OpenAPI description's
/// paths.
macro_rules! api {
    (
        $($module:ident :: $handler:ident $(=> $layer:expr)?),* $(,)?
        ; root: $($root_module:ident :: $root_handler:ident),* $(,)?
    ) => {
        fn api() -> Router<AppState> {
            let mut router = Router::new();
            $(
                router = pastey::paste! {
                    route::<$module::[<__path_ $handler>]>(
                        router,
                        on(
                            method_filter(&<$module::[<__path_ $handler>] as Path>::methods()),
                            $module::$handler,
                        ) $(.layer($layer))?,
                    )
                };
            )*
            router.method_not_allowed_fallback(method_not_allowed)
        }

        /// The OAuth2 face, at Tessera's root: not under the API's prefixes.
        fn root_api() -> Router<AppState> {
            let mut router = Router::new();
            $(
                router = pastey::paste! {
                    router.route(
                        &<$root_module::[<__path_ $root_handler>] as Path>::path(),
                        on(
                            method_filter(
                                &<$root_module::[<__path_ $root_handler>] as Path>::methods(),
                            ),
                            $root_module::$root_handler,
                        ),
                    )
                };
            )*
            router.method_not_allowed_fallback(method_not_allowed)
        }

        /// Every (method, path) the API serves, under each prefix.
        pub fn routes() -> Vec<(String, String)> {
            let mut routes = Vec::new();
            $(
                routes.extend(pastey::paste! { documented::<$module::[<__path_ $handler>]>() });
            )*
            routes
        }

        /// Every (method, path) served at Tessera's root (the OAuth2 face).
        pub fn root_routes() -> Vec<(String, String)> {
            let mut routes = Vec::new();
            $(
                routes.extend(pastey::paste! {
                    documented::<$root_module::[<__path_ $root_handler>]>()
                });
            )*
            routes
        }

        openapi::describe!(
            $($module::$handler),*
            ; root: $($root_module::$root_handler),*
        );
    };
}

api! {
    token::create => DefaultBodyLimit::max(MAX_TOKEN_BODY_BYTES),
    token::check,
    token::describe,
    token::revoke,
    token::check_scopes,
    refresh_tokens::list_all,
    refresh_tokens::list_mine,
    refresh_tokens::delete_mine,
    refresh_tokens::list_for_user,
    refresh_tokens::delete_for_user,
    sessions::list,
    sessions::delete,
    sessions::list_for_user,
    sessions::delete_for_user,
    users::create,
    users::list,
    users::get,
    users::update,
    users::delete,
    users::change_password,
    policies::create,
    policies::list,
    policies::get,
    policies::update,
    policies::delete,
    policies::add_access,
    policies::remove_access,
    policies::list_for_user,
    policies::attach,
    policies::detach,
    oauth2_clients::create,
    oauth2_clients::list,
    oauth2_clients::get,
    oauth2_clients::update,
    oauth2_clients::delete,
    oauth2_clients::new_secret,
    status::status,
    status::head_status,
    openapi::serve;
    root:
    oauth2::token,
    oauth2::device_authorization,
    oauth2::introspect,
    oauth2::revoke,
    oauth2::authorization_server_metadata,
    oauth2::openid_configuration,
    oidc::jwks,
    oidc::userinfo_get,
    oidc::userinfo_post,
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> impl IntoResponse {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
    )
}

/// The whole service, ready to serve (tests start it on 127.0.0.1:0).
pub fn router(state: AppState) -> Router {
    let cors = cors(state.services().config());
    // One layer stack, applied once: each `Router::layer` wraps every route in one more boxed
    // service, cloned on every request. CORS is outermost, so that preflights are answered
    // before the method is checked.
    let layers = tower::ServiceBuilder::new()
        .option_layer(cors)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            envelope::envelope,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    // The pages have no CORS (SPEC §11.3): the same envelope, without the CORS layer.
    let pages = Router::new()
        .route(
            "/oauth2/authorize",
            axum::routing::get(pages::authorize)
                .post(pages::authorize)
                .fallback(pages::method_not_allowed),
        )
        .route(
            "/oauth2/device",
            axum::routing::get(device::device).post(device::device),
        )
        .route(
            "/oauth2/logout",
            axum::routing::get(oidc::logout).post(oidc::logout),
        )
        .route(
            "/oauth2/static/tessera.css",
            axum::routing::get(pages::stylesheet),
        )
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    envelope::envelope,
                ))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .with_state(state.clone());
    api()
        .route("/health/live", axum::routing::get(health::live))
        .route("/health/ready", axum::routing::get(health::ready))
        .merge(root_api())
        .fallback(not_found)
        .layer(layers)
        .with_state(state)
        .merge(pages)
}

/// CORS for the configured origins (`*`: any), the API's methods, and the headers wazo-auth's
/// clients send. No origin configured (the default): no CORS at all, so that no web page can make
/// its visitors' browsers call the API (password logins included) and read the answers.
fn cors(config: &crate::config::Config) -> Option<CorsLayer> {
    use axum::http::{header, HeaderName, HeaderValue, Method};
    let origins = config.cors_allow_origins.trim();
    if !config.cors_enabled || origins.is_empty() {
        return None;
    }
    let allow_origin = if origins == "*" {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .split(',')
                // Config::validated has refused any entry that is not an origin.
                .filter_map(|origin| HeaderValue::from_str(origin.trim()).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("x-auth-token"),
                HeaderName::from_static("wazo-tenant"),
                HeaderName::from_static("wazo-session-type"),
            ])
            .expose_headers([HeaderName::from_static("wazo-sessions-revoked")])
            // With any origin allowed, no CORS header depends on the request: no `Vary` (which
            // tower-http otherwise builds for every response).
            .vary(match origins {
                "*" => Vec::new(),
                _ => vec![header::ORIGIN],
            }),
    )
}
