//! Reading request bodies into the wire's request types: the one small layer that gives wazo's
//! exact error texts and leniencies (numeric strings for `expiration`, `null`/`[]` bodies, the
//! 400 bodies of the contract), which serde's derive cannot. Nothing here trusts the client:
//! every failure is a `DomainError` for the use case to report, never a panic.

use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::{Map, Value};

use super::wire;
use crate::domain::{DomainError, DomainResult, MAX_EXPIRATION};

fn bad_request(reason: impl Into<String>) -> DomainError {
    DomainError::BadRequest(reason.into())
}

/// The token endpoints' 400 for a field.
fn invalid(field: &str) -> DomainError {
    bad_request(format!("Invalid value supplied for field: {field}"))
}

/// `expiration`: whole seconds in 1..=ten years, as a number or a numeric string.
fn parse_expiration(value: &Value) -> DomainResult<i64> {
    let whole = |f: f64| (f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15).then_some(f as i64);
    let seconds = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(whole)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(whole))
        }
        _ => None,
    };
    seconds
        .filter(|n| (1..=MAX_EXPIRATION).contains(n))
        .ok_or_else(|| invalid("expiration"))
}

fn string_field(body: &Map<String, Value>, key: &str, max: usize) -> DomainResult<Option<String>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(s))
            if !s.is_empty() && s.chars().count() <= max && !s.contains('\0') =>
        {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(invalid(key)),
    }
}

/// The longest `client_id`, `tenant_id` and `domain_name` (characters) and `refresh_token`
/// (bytes) of a POST /token body: the limits `wire::TokenRequest` describes.
pub const MAX_TOKEN_FIELD: usize = 1024;

/// A POST /token body as a JSON object: `null` and `[]` count as an empty one.
fn token_object(bytes: &[u8]) -> DomainResult<Map<String, Value>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(bad_request("Missing body: a JSON object is required"));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(Value::Array(items)) if items.is_empty() => Ok(Map::new()),
        Ok(_) => Err(bad_request("Invalid body: a JSON object is required")),
        Err(_) => Err(bad_request("Invalid body: unparsable JSON")),
    }
}

/// Parses and checks the body of POST /token (SPEC §2).
pub fn token_request(bytes: &[u8]) -> DomainResult<wire::TokenRequest> {
    let body = token_object(bytes)?;
    let expiration = body.get("expiration").map(parse_expiration).transpose()?;
    let access_type = match body.get("access_type") {
        None => None,
        Some(Value::String(s)) if s == "online" => Some(wire::AccessType::Online),
        Some(Value::String(s)) if s == "offline" => Some(wire::AccessType::Offline),
        Some(_) => return Err(invalid("access_type")),
    };
    // A NUL is kept: in a refresh grant it is a client_id that matches nothing (401, SPEC §2);
    // an offline login refuses it (the domain checks the client_id it stores).
    let client_id = match body.get("client_id") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= MAX_TOKEN_FIELD => {
            Some(s.clone())
        }
        Some(_) => return Err(invalid("client_id")),
    };
    let refresh_token = match body.get("refresh_token") {
        None => None,
        Some(Value::String(s)) if s.len() <= MAX_TOKEN_FIELD => Some(s.clone()),
        Some(_) => return Err(invalid("refresh_token")),
    };
    // In this order: the first problem found is the one reported.
    let scope = scope_field(&body)?;
    let mut request = wire::TokenRequest {
        expiration,
        access_type,
        client_id,
        refresh_token,
        scope,
        backend: None,
        tenant_id: string_field(&body, "tenant_id", MAX_TOKEN_FIELD)?,
        domain_name: string_field(&body, "domain_name", MAX_TOKEN_FIELD)?,
    };
    check_combination(&request)?;
    // Its value is ignored, but when present it must be a string (null included: 400).
    request.backend = match body.get("backend") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("backend")),
    };
    Ok(request)
}

/// `scope`: a list of strings. Its entries' limits are the domain's (SPEC §9); here, only the type.
fn scope_field(body: &Map<String, Value>) -> DomainResult<Option<Vec<String>>> {
    match body.get("scope") {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| invalid("scope")),
        Some(_) => Err(invalid("scope")),
    }
}

/// The fields a POST /token body may not hold together, or not without another.
fn check_combination(request: &wire::TokenRequest) -> DomainResult<()> {
    let offline = request.offline();
    if request.tenant_id.is_some() && request.domain_name.is_some() {
        return Err(bad_request(
            "\"tenant_id\" and \"domain_name\" must be mutually exclusive",
        ));
    }
    if offline && request.refresh_token.is_some() {
        return Err(bad_request(
            "cannot use the \"access_type\" \"offline\" with a refresh token",
        ));
    }
    if offline && request.client_id.is_none() {
        return Err(bad_request(
            "\"client_id\" must be specified when using \"access_type\" is \"offline\"",
        ));
    }
    if request.refresh_token.is_some() && request.client_id.is_none() {
        return Err(bad_request(
            "\"client_id\" must be specified when using a \"refresh_token\"",
        ));
    }
    Ok(())
}

/// Reads `{"scopes": [...], "tenant_uuid"?: ...}`.
pub fn scopes_check(body: &[u8]) -> DomainResult<wire::ScopesCheckRequest> {
    let request = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        _ => return Err(bad_request("Invalid body: a JSON object is required")),
    };
    let scopes = match request.get("scopes") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid("scopes"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(invalid("scopes")),
    };
    let tenant_uuid = match request.get("tenant_uuid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("tenant_uuid")),
    };
    Ok(wire::ScopesCheckRequest {
        scopes,
        tenant_uuid,
    })
}

/// A JSON object body for the non-token endpoints. Anything but an object is 400.
pub fn json_object(body: Result<Bytes, BytesRejection>) -> DomainResult<Map<String, Value>> {
    let bytes = body.map_err(body_rejection)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) if bytes.is_empty() => Ok(Map::new()),
        Ok(_) => Err(DomainError::invalid(
            "_schema",
            "Invalid input type: expected an object.",
        )),
        Err(_) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Err(_) => Err(DomainError::invalid("_schema", "Invalid JSON.")),
    }
}

pub fn body_rejection(rejection: BytesRejection) -> DomainError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        DomainError::PayloadTooLarge
    } else {
        DomainError::UnreadableBody
    }
}

/// Field readers for JSON objects: absent is `Ok(None)`; a wrong type is 400 naming the field.
pub struct Fields<'a>(pub &'a Map<String, Value>);

impl Fields<'_> {
    /// A string of `min..=max` characters; `null` allowed when `nullable`.
    pub fn string(
        &self,
        key: &str,
        min: usize,
        max: usize,
        nullable: bool,
    ) -> DomainResult<Option<String>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Null) if nullable => Ok(None),
            Some(Value::String(s))
                if (min..=max).contains(&s.chars().count()) && !s.contains('\0') =>
            {
                Ok(Some(s.clone()))
            }
            Some(_) => Err(DomainError::invalid(
                key,
                format!("Must be a string of {min} to {max} characters."),
            )),
        }
    }

    pub fn boolean(&self, key: &str) -> DomainResult<Option<bool>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(DomainError::invalid(key, "Not a valid boolean.")),
        }
    }

    /// A list of strings of at most `max_bytes` each (an ACL).
    pub fn strings(
        &self,
        key: &str,
        max_bytes: usize,
        nullable: bool,
    ) -> DomainResult<Option<Vec<String>>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Null) if nullable => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) if s.len() <= max_bytes && !s.contains('\0') => Ok(s.clone()),
                    _ => Err(DomainError::invalid(key, "Must be a list of strings.")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(DomainError::invalid(key, "Must be a list of strings.")),
        }
    }

    /// One of `choices`.
    pub fn choice(&self, key: &str, choices: &[&str]) -> DomainResult<Option<String>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if choices.contains(&s.as_str()) => Ok(Some(s.clone())),
            Some(_) => Err(DomainError::invalid(
                key,
                format!("Must be one of: {}.", choices.join(", ")),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_forms_count_as_an_empty_object() {
        for body in ["null", "{}", "[]"] {
            assert_eq!(
                token_request(body.as_bytes()).ok(),
                Some(wire::TokenRequest::default())
            );
        }
        for body in ["", "  ", "{", "5", "\"x\"", "[1]"] {
            assert!(token_request(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn expiration_rules() {
        let expiration = |v: &str| {
            token_request(format!("{{\"expiration\": {v}}}").as_bytes())
                .map(|r| r.expiration)
                .ok()
                .flatten()
        };
        assert_eq!(expiration("3600"), Some(3600));
        assert_eq!(expiration("\"3600\""), Some(3600));
        assert_eq!(expiration("3600.0"), Some(3600));
        assert_eq!(expiration("315360000"), Some(315_360_000));
        for bad in [
            "0",
            "-1",
            "315360001",
            "true",
            "null",
            "1.5",
            "\"abc\"",
            "[]",
            "1e300",
        ] {
            assert_eq!(expiration(bad), None, "{bad}");
        }
    }

    /// The limits `wire::TokenRequest` describes are the ones read.
    #[test]
    fn described_limits_are_read() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(wire::TokenRequest::schema()).expect("serialises");
        let property = |name: &str, key: &str| schema["properties"][name][key].as_u64();
        let max = Some(MAX_TOKEN_FIELD as u64);
        for field in ["client_id", "refresh_token", "tenant_id", "domain_name"] {
            assert_eq!(property(field, "maxLength"), max, "{field}");
            let at_most = format!("{{\"{field}\": \"{}\"}}", "a".repeat(MAX_TOKEN_FIELD));
            let over = format!("{{\"{field}\": \"{}\"}}", "a".repeat(MAX_TOKEN_FIELD + 1));
            let refused = |body: &str| {
                matches!(token_request(body.as_bytes()),
                    Err(DomainError::BadRequest(reason))
                        if reason == format!("Invalid value supplied for field: {field}"))
            };
            assert!(!refused(&at_most), "{field}");
            assert!(refused(&over), "{field}");
        }
        assert_eq!(
            property("expiration", "maximum"),
            u64::try_from(MAX_EXPIRATION).ok()
        );
    }

    #[test]
    fn grant_combinations() {
        let parse = |v: &str| token_request(v.as_bytes());
        assert!(parse(r#"{"access_type": "offline"}"#).is_err());
        assert!(
            parse(r#"{"access_type": "offline", "client_id": "a", "refresh_token": "r"}"#).is_err()
        );
        assert!(parse(r#"{"refresh_token": "r"}"#).is_err());
        assert!(parse(r#"{"access_type": "sometimes"}"#).is_err());
        assert!(parse(r#"{"client_id": ""}"#).is_err());
        assert!(parse(r#"{"tenant_id": "t", "domain_name": "d"}"#).is_err());
        assert!(parse(r#"{"backend": "wazo_user", "unknown": [1]}"#).is_ok());
        let offline = parse(r#"{"access_type": "offline", "client_id": "a"}"#).expect("ok");
        assert!(offline.offline());
    }
}
