//! What handlers take from a request: Basic credentials, the caller's `X-Auth-Token` (as an
//! [`Actor`] for the use case to authorise), the client address, path segments, list parameters
//! and JSON bodies. Nothing here trusts the client: every failure is a 4xx value, never a panic;
//! failures of the query or body are handed to the use case, which checks authorization first.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use base64::Engine as _;

use super::error::ApiError;
use crate::domain::{parse_uuid, Actor, Credentials, DomainError, DomainResult, ListParams};

/// `Authorization: Basic base64(login:password)`, split at the first `:`; both halves non-empty.
/// The payload is read as UTF-8, else as Latin-1. Anything else means no credentials.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.as_bytes();
    let encoded = value.strip_prefix(b"Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim_ascii())
        .ok()?;
    let text = match String::from_utf8(decoded) {
        Ok(text) => text,
        Err(error) => error.into_bytes().iter().map(|&b| b as char).collect(),
    };
    let (login, password) = text.split_once(':')?;
    if login.is_empty() || password.is_empty() || text.contains('\0') {
        return None;
    }
    Some((login.to_string(), password.to_string()))
}

/// Set once the warning about `X-Forwarded-For` without `num_proxies` has been logged.
static FORWARDED_IGNORED_WARNED: AtomicBool = AtomicBool::new(false);

/// A request carries `X-Forwarded-For` that no configured proxy makes trustworthy: Tessera most
/// likely runs behind a proxy with `num_proxies = 0`, and takes every client for that proxy.
fn forwarded_but_ignored(headers: &HeaderMap, num_proxies: usize) -> bool {
    num_proxies == 0 && headers.contains_key("x-forwarded-for")
}

/// The client address: the peer, or the `X-Forwarded-For` entry added by the outermost of
/// `num_proxies` trusted proxies. The first request with `X-Forwarded-For` while `num_proxies` is
/// 0 logs one WARN (once per process): behind a proxy, every client would then count as the proxy's
/// address, and the per-address login limit would hold back all of them together.
pub fn remote_addr(headers: &HeaderMap, peer: SocketAddr, num_proxies: usize) -> String {
    if forwarded_but_ignored(headers, num_proxies)
        && !FORWARDED_IGNORED_WARNED.swap(true, Ordering::Relaxed)
    {
        tracing::warn!(
            peer = %peer.ip(),
            "request with X-Forwarded-For while num_proxies = 0: the header is ignored and every \
             client behind this proxy counts as its address `peer` (one per-address login limit \
             for all of them); set num_proxies (TESSERA_NUM_PROXIES) to the number of proxies in \
             front of Tessera (README, Deployment). Logged once."
        );
    }
    if num_proxies > 0 {
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let outermost = forwarded
            .len()
            .checked_sub(num_proxies)
            .and_then(|index| forwarded.get(index));
        if let Some(Ok(ip)) = outermost.map(|entry| entry.parse::<IpAddr>()) {
            return ip.to_string();
        }
    }
    peer.ip().to_string()
}

/// A header as text; bytes that are not visible ASCII make it absent.
pub fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `User-Agent`, lossily decoded.
pub fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

/// The caller of a protected endpoint: its access token, from `X-Auth-Token` or
/// `Authorization: Bearer` (SPEC §11.6; both present and different: 400), and `Wazo-Tenant`.
pub struct Caller(pub Actor);

/// `Authorization: Bearer <token>`, if the request has one (the scheme in any case).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = header_text(headers, "authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = header_text(&parts.headers, "x-auth-token")
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let token = match (header, bearer_token(&parts.headers)) {
            (Some(header), Some(bearer)) if header != bearer => {
                return Err(ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "invalid-data",
                    "X-Auth-Token and Authorization: Bearer name different tokens",
                ))
            }
            (header, bearer) => header.or(bearer).map(str::to_string),
        };
        let tenant = parts
            .headers
            .get("wazo-tenant")
            .map(|value| value.as_bytes().to_vec());
        Ok(Caller(Actor::Request(Credentials { token, tenant })))
    }
}

/// The path's parameters, percent-decoded, in order. Undecodable ones: 404.
pub struct Segments(pub Vec<String>);

impl<S: Send + Sync> FromRequestParts<S> for Segments {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found())?;
        Ok(Segments(raw.iter().map(|(_, v)| v.to_string()).collect()))
    }
}

impl Segments {
    /// The `index`th segment, which must be a UUID (404 otherwise), in canonical form.
    pub fn uuid(&self, index: usize) -> Result<String, ApiError> {
        self.0
            .get(index)
            .and_then(|s| parse_uuid(s))
            .ok_or_else(ApiError::not_found)
    }

    pub fn text(&self, index: usize) -> Result<&str, ApiError> {
        self.0
            .get(index)
            .map(String::as_str)
            .filter(|s| !s.contains('\0'))
            .ok_or_else(ApiError::not_found)
    }
}

/// The query string as (key, value) pairs; undecodable bytes are replaced, never fatal.
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .filter(|(k, v)| !k.contains('\0') && !v.contains('\0'))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

pub fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn list_param_error(param: &str, message: impl Into<String>) -> DomainError {
    DomainError::InvalidListParam {
        param: param.to_string(),
        message: message.into(),
    }
}

/// `limit`, `offset`, `order`, `direction`, `search`, checked; `orderable` lists the columns.
pub fn list_params(pairs: &[(String, String)], orderable: &[&str]) -> DomainResult<ListParams> {
    let number = |key: &str| -> DomainResult<Option<i64>> {
        match query_value(pairs, key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(Some)
                .ok_or_else(|| list_param_error(key, "Not a valid non-negative integer.")),
        }
    };
    let order = match query_value(pairs, "order") {
        None | Some("") => None,
        Some(column) if orderable.contains(&column) => Some(column.to_string()),
        Some(_) => {
            return Err(list_param_error(
                "order",
                format!("Must be one of: {}.", orderable.join(", ")),
            ))
        }
    };
    let descending = match query_value(pairs, "direction") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(list_param_error("direction", "Must be one of: asc, desc.")),
    };
    Ok(ListParams {
        limit: number("limit")?,
        offset: number("offset")?.unwrap_or(0),
        order,
        descending,
        search: query_value(pairs, "search")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    })
}

/// A boolean query filter as wazo clients send it (`True`, `true`, `1`, …).
pub fn query_bool(pairs: &[(String, String)], key: &str) -> DomainResult<Option<bool>> {
    match query_value(pairs, key) {
        None => Ok(None),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err(DomainError::invalid(key, "Not a valid boolean.")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_bytes(value).expect("header"),
        );
        headers
    }

    fn basic(payload: &[u8]) -> HeaderMap {
        let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
        with_auth(format!("Basic {encoded}").as_bytes())
    }

    #[test]
    fn splits_at_the_first_colon() {
        assert_eq!(
            basic_credentials(&basic(b"alice:pa:ss")),
            Some(("alice".into(), "pa:ss".into()))
        );
    }

    #[test]
    fn empty_halves_mean_no_credentials() {
        assert_eq!(basic_credentials(&basic(b":pw")), None);
        assert_eq!(basic_credentials(&basic(b"alice:")), None);
        assert_eq!(basic_credentials(&basic(b"alice")), None);
        assert_eq!(basic_credentials(&HeaderMap::new()), None);
    }

    #[test]
    fn prefix_must_be_exact_and_base64_valid() {
        assert_eq!(basic_credentials(&with_auth(b"basic YTpi")), None);
        assert_eq!(basic_credentials(&with_auth(b"BasicYTpi")), None);
        assert_eq!(basic_credentials(&with_auth(b"Bearer YTpi")), None);
        assert_eq!(basic_credentials(&with_auth(b"Basic !!!not-base64")), None);
        assert_eq!(
            basic_credentials(&with_auth(b"Basic YTpi")),
            Some(("a".into(), "b".into()))
        );
    }

    #[test]
    fn falls_back_to_latin1() {
        assert_eq!(
            basic_credentials(&basic(b"ren\xe9:caf\xe9")),
            Some(("ren\u{e9}".into(), "caf\u{e9}".into()))
        );
        assert_eq!(
            basic_credentials(&basic("ren\u{e9}:caf\u{e9}".as_bytes())),
            Some(("ren\u{e9}".into(), "caf\u{e9}".into()))
        );
    }

    #[test]
    fn forwarded_for_is_trusted_only_through_configured_proxies() {
        let peer: SocketAddr = "10.0.0.9:1234".parse().expect("addr");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 2.2.2.2"),
        );
        assert_eq!(remote_addr(&headers, peer, 0), "10.0.0.9");
        assert_eq!(remote_addr(&headers, peer, 1), "2.2.2.2");
        assert_eq!(remote_addr(&headers, peer, 2), "1.1.1.1");
        assert_eq!(remote_addr(&headers, peer, 3), "10.0.0.9");
    }

    #[test]
    fn forwarded_for_without_proxies_is_noticed() {
        let mut headers = HeaderMap::new();
        assert!(!forwarded_but_ignored(&headers, 0));
        headers.insert("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        assert!(forwarded_but_ignored(&headers, 0));
        assert!(!forwarded_but_ignored(&headers, 1));
    }
}
