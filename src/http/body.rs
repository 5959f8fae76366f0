//! The JSON bodies of the user, policy and OAuth2 client endpoints, each described once: its fields, what each
//! holds and its limits. The same description reads a body (wazo's error texts and leniencies,
//! which serde's derive cannot give) straight into the domain's input type, and describes it in
//! the OpenAPI document, so that each limit has one home and each body one type.

use std::borrow::Cow;
use std::ops::RangeInclusive;

use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use serde_json::{Map, Value};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::RefOr;

use super::read::{json_object, Fields};
use crate::domain::oauth2::clients::{
    ClientInput, ClientType, Consent, GRANT_TYPES, MAX_CLIENT_NAME_CHARS, MAX_REDIRECT_URIS,
};
use crate::domain::oauth2::redirect::MAX_REDIRECT_URI_BYTES;
use crate::domain::password::MAX_PASSWORD_BYTES;
use crate::domain::policies::{NewPolicyInput, PolicyEdit, MAX_SLUG_LENGTH};
use crate::domain::users::{
    NewUserInput, PasswordChange, UserChanges, AUTHENTICATION_METHODS, PURPOSES,
};
use crate::domain::{DomainError, DomainResult, MAX_SCOPE_ENTRIES, MAX_SCOPE_ENTRY_CHARS};

/// Bytes of one ACL entry in a policy body.
const MAX_ACL_ENTRY_BYTES: usize = 1024;

/// What a field holds.
enum Kind {
    /// A string of `chars` characters, without NUL. A `format` says its shape in the
    /// description, which then shows no length.
    Text {
        chars: RangeInclusive<usize>,
        format: Option<&'static str>,
        pattern: Option<&'static str>,
    },
    /// One of `values`.
    Choice {
        values: &'static [&'static str],
        default: Option<&'static str>,
    },
    Boolean {
        default: Option<bool>,
    },
    /// A list of ACL entries, or null.
    Acl,
    /// A list of `items` strings of at most `bytes` bytes each; absent is empty.
    List {
        items: RangeInclusive<usize>,
        bytes: usize,
    },
}

/// Whether a field must be there, and whether it may be null.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Presence {
    Required,
    /// May be absent; never null.
    Optional,
    /// May be absent or null.
    Nullable,
}

struct Field {
    name: &'static str,
    kind: Kind,
    presence: Presence,
    description: Option<&'static str>,
}

/// One body: its description in the OpenAPI document and its fields, in order.
struct Body {
    description: Option<&'static str>,
    fields: &'static [Field],
    /// `None`: a field not described is ignored (wazo's leniency); `Some(message)`: it is 400,
    /// with this message, for bodies where a stray field may be an attempt to choose what the
    /// service chooses.
    unknown: Option<&'static str>,
}

const fn text(
    name: &'static str,
    chars: RangeInclusive<usize>,
    presence: Presence,
    description: Option<&'static str>,
) -> Field {
    Field {
        name,
        kind: Kind::Text {
            chars,
            format: None,
            pattern: None,
        },
        presence,
        description,
    }
}

const fn choice(
    name: &'static str,
    values: &'static [&'static str],
    default: Option<&'static str>,
    description: Option<&'static str>,
) -> Field {
    Field {
        name,
        kind: Kind::Choice { values, default },
        presence: Presence::Optional,
        description,
    }
}

const fn boolean(
    name: &'static str,
    default: Option<bool>,
    description: Option<&'static str>,
) -> Field {
    Field {
        name,
        kind: Kind::Boolean { default },
        presence: Presence::Optional,
        description,
    }
}

const fn acl(description: &'static str) -> Field {
    Field {
        name: "acl",
        kind: Kind::Acl,
        presence: Presence::Nullable,
        description: Some(description),
    }
}

const fn list(
    name: &'static str,
    items: RangeInclusive<usize>,
    bytes: usize,
    presence: Presence,
    description: &'static str,
) -> Field {
    Field {
        name,
        kind: Kind::List { items, bytes },
        presence,
        description: Some(description),
    }
}

const USERNAME: RangeInclusive<usize> = 1..=256;
const PERSON_NAME: RangeInclusive<usize> = 0..=128;
const PASSWORD: RangeInclusive<usize> = 1..=MAX_PASSWORD_BYTES;
const POLICY_NAME: RangeInclusive<usize> = 1..=80;
const DESCRIPTION: RangeInclusive<usize> = 0..=2048;
const UNCHANGED: Option<&str> = Some("Unchanged when absent; null clears it");

static USER_CREATE: Body = Body {
    unknown: None,
    description: None,
    fields: &[
        Field {
            name: "uuid",
            kind: Kind::Text {
                chars: 1..=64,
                format: Some("uuid"),
                pattern: None,
            },
            presence: Presence::Nullable,
            description: Some("Chosen uuid; a new one by default"),
        },
        text(
            "username",
            USERNAME,
            Presence::Nullable,
            Some("Unique case-insensitively, across usernames and e-mail addresses"),
        ),
        text(
            "password",
            PASSWORD,
            Presence::Nullable,
            Some("Without one, the user cannot log in with a password"),
        ),
        text(
            "email_address",
            3..=320,
            Presence::Nullable,
            Some("Must contain `@` and no whitespace; unique case-insensitively"),
        ),
        text("firstname", PERSON_NAME, Presence::Nullable, None),
        text("lastname", PERSON_NAME, Presence::Nullable, None),
        choice("purpose", PURPOSES, Some("user"), None),
        boolean("enabled", Some(true), None),
        choice(
            "authentication_method",
            AUTHENTICATION_METHODS,
            Some("default"),
            None,
        ),
    ],
};

static USER_EDIT: Body = Body {
    unknown: None,
    description: Some(
        "Changes the user's fields (see PUT /users/{user_uuid}): an absent field keeps its value.",
    ),
    fields: &[
        text("username", USERNAME, Presence::Nullable, UNCHANGED),
        text("firstname", PERSON_NAME, Presence::Nullable, UNCHANGED),
        text("lastname", PERSON_NAME, Presence::Nullable, UNCHANGED),
        choice("purpose", PURPOSES, None, Some("Unchanged when absent")),
        boolean(
            "enabled",
            None,
            Some("Unchanged when absent; `false` ends the user's sessions"),
        ),
        choice(
            "authentication_method",
            AUTHENTICATION_METHODS,
            None,
            Some("Unchanged when absent"),
        ),
    ],
};

static PASSWORD_CHANGE: Body = Body {
    unknown: None,
    description: None,
    fields: &[
        text("old_password", PASSWORD, Presence::Required, None),
        text("new_password", PASSWORD, Presence::Required, None),
    ],
};

static POLICY_CREATE: Body = Body {
    unknown: None,
    description: None,
    fields: &[
        text("name", POLICY_NAME, Presence::Required, None),
        Field {
            name: "slug",
            kind: Kind::Text {
                chars: 1..=MAX_SLUG_LENGTH,
                format: None,
                pattern: Some("^[a-zA-Z0-9_-]+$"),
            },
            presence: Presence::Nullable,
            description: Some("Derived from the name when absent"),
        },
        text("description", DESCRIPTION, Presence::Nullable, None),
        acl("ACL entries, each granted by the caller's own token (negative `!` entries excepted)"),
        boolean("shared", Some(false), None),
    ],
};

static POLICY_EDIT: Body = Body {
    unknown: None,
    description: Some("Replaces name, description and ACL; the slug stays"),
    fields: &[
        text("name", POLICY_NAME, Presence::Required, None),
        text("description", DESCRIPTION, Presence::Nullable, None),
        acl(
            "The new ACL (empty when absent); every entry added or removed must be granted by the \
             caller's token",
        ),
    ],
};

/// The `type` and `consent` of a client body, as the domain names them.
const CLIENT_TYPES: &[&str] = &["public", "confidential"];
const CONSENTS: &[&str] = &["required", "implicit"];
const REDIRECT_URIS: RangeInclusive<usize> = 0..=MAX_REDIRECT_URIS;

static CLIENT: Body = Body {
    description: Some(
        "An OAuth2 client. A PUT replaces every field but `type`, which may be omitted (a \
         different one is 400). `client_id`, `client_secret` and any field not described here \
         are 400: Tessera chooses the id and the secret.",
    ),
    unknown: Some(
        "Unknown field: a client's client_id and client_secret are chosen by Tessera, never by \
         the request.",
    ),
    fields: &[
        text("name", 1..=MAX_CLIENT_NAME_CHARS, Presence::Required, None),
        choice(
            "type",
            CLIENT_TYPES,
            Some("confidential"),
            Some("A confidential client gets a secret; on a PUT, the client's own when absent"),
        ),
        list(
            "redirect_uris",
            REDIRECT_URIS,
            MAX_REDIRECT_URI_BYTES,
            Presence::Optional,
            "Absolute, no fragment: `https`, `http` on a loopback host, or (public clients) a \
             private-use scheme such as `com.example.app:/callback`. Required for the \
             `authorization_code` grant",
        ),
        list(
            "post_logout_redirect_uris",
            REDIRECT_URIS,
            MAX_REDIRECT_URI_BYTES,
            Presence::Optional,
            "Where a logout may send the user back; the rules of `redirect_uris`",
        ),
        list(
            "grant_types",
            1..=GRANT_TYPES.len(),
            64,
            Presence::Required,
            "Among `authorization_code`, `refresh_token`, `client_credentials` (confidential \
             clients only) and `urn:ietf:params:oauth:grant-type:device_code`",
        ),
        list(
            "scope",
            0..=MAX_SCOPE_ENTRIES,
            MAX_SCOPE_ENTRY_CHARS,
            Presence::Optional,
            "The client's ceiling: ACL entries (negatives allowed), each held by the caller's own \
             token (for `!x`: `x`), or 401 `unauthorized`. No token of the client grants more",
        ),
        choice(
            "consent",
            CONSENTS,
            Some("required"),
            Some("`implicit` (a first-party application) skips the consent page"),
        ),
    ],
};

/// A body being read: each field is read as its description says.
struct Reading {
    body: &'static Body,
    object: Map<String, Value>,
}

impl Body {
    fn read(&'static self, body: Result<Bytes, BytesRejection>) -> DomainResult<Reading> {
        let object = json_object(body)?;
        if let Some(message) = self.unknown {
            let described = |key: &String| self.fields.iter().any(|field| field.name == key);
            if let Some(key) = object.keys().find(|key| !described(key)) {
                return Err(DomainError::invalid(key, message));
            }
        }
        Ok(Reading { body: self, object })
    }
}

impl Reading {
    fn field(&self, name: &str) -> DomainResult<&'static Field> {
        self.body
            .fields
            .iter()
            .find(|field| field.name == name)
            .ok_or_else(|| DomainError::Internal(format!("no field {name} in the body")))
    }

    /// A text field; absent (or null, where it may be) is `None`.
    fn text(&self, name: &str) -> DomainResult<Option<String>> {
        let field = self.field(name)?;
        let Kind::Text { chars, .. } = &field.kind else {
            return Err(DomainError::Internal(format!("{name} is not text")));
        };
        let nullable = field.presence == Presence::Nullable;
        Fields(&self.object).string(name, *chars.start(), *chars.end(), nullable)
    }

    /// A text field that must be there.
    fn required_text(&self, name: &str) -> DomainResult<String> {
        self.text(name)?
            .ok_or_else(|| DomainError::invalid(name, "Missing data for required field."))
    }

    /// A text field of an edit: absent keeps the value (`None`), null clears it (`Some(None)`).
    fn change(&self, name: &str) -> DomainResult<Option<Option<String>>> {
        if self.object.contains_key(name) {
            self.text(name).map(Some)
        } else {
            Ok(None)
        }
    }

    fn choice(&self, name: &str) -> DomainResult<Option<String>> {
        match &self.field(name)?.kind {
            Kind::Choice { values, .. } => Fields(&self.object).choice(name, values),
            _ => Err(DomainError::Internal(format!("{name} is not a choice"))),
        }
    }

    fn boolean(&self, name: &str) -> DomainResult<Option<bool>> {
        match &self.field(name)?.kind {
            Kind::Boolean { .. } => Fields(&self.object).boolean(name),
            _ => Err(DomainError::Internal(format!("{name} is not a boolean"))),
        }
    }

    /// A list field: absent is empty (missing, when required).
    fn list(&self, name: &str) -> DomainResult<Vec<String>> {
        let field = self.field(name)?;
        let Kind::List { items, bytes } = &field.kind else {
            return Err(DomainError::Internal(format!("{name} is not a list")));
        };
        let nullable = field.presence == Presence::Nullable;
        match Fields(&self.object).strings(name, *bytes, nullable)? {
            None if field.presence == Presence::Required => Err(DomainError::invalid(
                name,
                "Missing data for required field.",
            )),
            None => Ok(Vec::new()),
            Some(list) if items.contains(&list.len()) => Ok(list),
            Some(_) => Err(DomainError::invalid(
                name,
                format!("{} to {} items.", items.start(), items.end()),
            )),
        }
    }

    fn acl(&self) -> DomainResult<Option<Vec<String>>> {
        match &self.field("acl")?.kind {
            Kind::Acl => Fields(&self.object).strings("acl", MAX_ACL_ENTRY_BYTES, true),
            _ => Err(DomainError::Internal("acl is not an ACL".into())),
        }
    }
}

/// A POST /users body.
pub fn user_create(body: Result<Bytes, BytesRejection>) -> DomainResult<NewUserInput> {
    let body = USER_CREATE.read(body)?;
    Ok(NewUserInput {
        uuid: body.text("uuid")?,
        username: body.text("username")?,
        password: body.text("password")?,
        email_address: body.text("email_address")?,
        firstname: body.text("firstname")?,
        lastname: body.text("lastname")?,
        purpose: body.choice("purpose")?,
        enabled: body.boolean("enabled")?,
        authentication_method: body.choice("authentication_method")?,
    })
}

/// A PUT /users/{uuid} body: an absent field keeps its value; an explicit null clears it.
pub fn user_edit(body: Result<Bytes, BytesRejection>) -> DomainResult<UserChanges> {
    let body = USER_EDIT.read(body)?;
    Ok(UserChanges {
        username: body.change("username")?,
        firstname: body.change("firstname")?,
        lastname: body.change("lastname")?,
        purpose: body.choice("purpose")?,
        enabled: body.boolean("enabled")?,
        authentication_method: body.choice("authentication_method")?,
    })
}

/// A PUT /users/{uuid}/password body.
pub fn password_change(body: Result<Bytes, BytesRejection>) -> DomainResult<PasswordChange> {
    let body = PASSWORD_CHANGE.read(body)?;
    Ok(PasswordChange {
        old_password: body.required_text("old_password")?,
        new_password: body.required_text("new_password")?,
    })
}

/// A POST /policies body.
pub fn policy_create(body: Result<Bytes, BytesRejection>) -> DomainResult<NewPolicyInput> {
    let body = POLICY_CREATE.read(body)?;
    let name = body.required_text("name")?;
    let acl = body.acl()?;
    Ok(NewPolicyInput {
        name,
        acl: acl.unwrap_or_default(),
        slug: body.text("slug")?,
        description: body.text("description")?,
        shared: body.boolean("shared")?.unwrap_or(false),
    })
}

/// A PUT /policies/{id} body.
pub fn policy_edit(body: Result<Bytes, BytesRejection>) -> DomainResult<PolicyEdit> {
    let body = POLICY_EDIT.read(body)?;
    Ok(PolicyEdit {
        name: body.required_text("name")?,
        description: body.text("description")?,
        acl: body.acl()?.unwrap_or_default(),
    })
}

/// A POST or PUT /oauth2/clients body. `type` absent is `None`: the use case knows whether that
/// means confidential (a new client) or the client's own (an update).
pub fn client(body: Result<Bytes, BytesRejection>) -> DomainResult<ClientInput> {
    let body = CLIENT.read(body)?;
    let name = body.required_text("name")?;
    let client_type = body.choice("type")?.map(|t| match t.as_str() {
        "public" => ClientType::Public,
        _ => ClientType::Confidential,
    });
    Ok(ClientInput {
        name,
        client_type,
        redirect_uris: body.list("redirect_uris")?,
        post_logout_redirect_uris: body.list("post_logout_redirect_uris")?,
        grant_types: body.list("grant_types")?,
        scope: body.list("scope")?,
        consent: match body.choice("consent")?.as_deref() {
            Some("implicit") => Consent::Implicit,
            _ => Consent::Required,
        },
    })
}

// The OpenAPI description of each body, from the same fields.

fn string_type(presence: Presence) -> SchemaType {
    match presence {
        Presence::Nullable => SchemaType::from_iter([Type::String, Type::Null]),
        _ => SchemaType::Type(Type::String),
    }
}

fn field_schema(field: &Field) -> Schema {
    let description = field.description;
    match &field.kind {
        Kind::Text {
            chars,
            format,
            pattern,
        } => {
            let (min, max) = match format {
                Some(_) => (None, None),
                None => (
                    Some(*chars.start()).filter(|min| *min > 0),
                    Some(*chars.end()),
                ),
            };
            ObjectBuilder::new()
                .schema_type(string_type(field.presence))
                .format(format.map(|format| SchemaFormat::Custom(format.into())))
                .description(description)
                .max_length(max)
                .min_length(min)
                .pattern(*pattern)
                .into()
        }
        Kind::Choice { values, default } => OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(values.iter().copied())),
            )
            .default(default.map(Value::from))
            .description(description)
            .into(),
        Kind::Boolean { default } => ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .description(description)
            .default(default.map(Value::from))
            .into(),
        Kind::Acl => ArrayBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(MAX_ACL_ENTRY_BYTES)),
            )
            .description(description)
            .into(),
        Kind::List { items, bytes } => ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(*bytes)),
            )
            .min_items(Some(*items.start()).filter(|min| *min > 0))
            .max_items(Some(*items.end()))
            .description(description)
            .into(),
    }
}

impl Body {
    fn schema(&self) -> RefOr<Schema> {
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(self.description);
        if self.unknown.is_some() {
            object = object.additional_properties(Some(AdditionalProperties::FreeForm(false)));
        }
        for field in self.fields {
            if field.presence == Presence::Required {
                object = object.required(field.name);
            }
        }
        for field in self.fields {
            object = object.property(field.name, field_schema(field));
        }
        object.into()
    }
}

/// Each body's type is the domain's input, named in the OpenAPI document as the body.
macro_rules! described {
    ($($input:ty => $name:literal, $body:ident;)*) => {$(
        impl utoipa::PartialSchema for $input {
            fn schema() -> RefOr<Schema> {
                $body.schema()
            }
        }

        impl utoipa::ToSchema for $input {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    )*};
}

described! {
    NewUserInput => "UserCreate", USER_CREATE;
    UserChanges => "UserEdit", USER_EDIT;
    PasswordChange => "PasswordChange", PASSWORD_CHANGE;
    NewPolicyInput => "PolicyCreate", POLICY_CREATE;
    PolicyEdit => "PolicyEdit", POLICY_EDIT;
    ClientInput => "OAuth2ClientBody", CLIENT;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(body: &'static Body, json: Value) -> DomainResult<Reading> {
        body.read(Ok(Bytes::from(json.to_string())))
    }

    /// The limit a text field is read with is the one its description shows.
    #[test]
    fn every_text_limit_read_is_the_limit_described() {
        let bodies: [&'static Body; 6] = [
            &USER_CREATE,
            &USER_EDIT,
            &PASSWORD_CHANGE,
            &POLICY_CREATE,
            &POLICY_EDIT,
            &CLIENT,
        ];
        for body in bodies {
            for field in body.fields {
                let Kind::Text { chars, format, .. } = &field.kind else {
                    continue;
                };
                let at_most = "a".repeat(*chars.end());
                let over = "a".repeat(chars.end() + 1);
                let read = |text: &str| {
                    reading(body, serde_json::json!({ field.name: text }))
                        .and_then(|reading| reading.text(field.name))
                };
                assert_eq!(read(&at_most).ok().flatten(), Some(at_most.clone()));
                assert!(read(&over).is_err(), "{} over its limit", field.name);
                let described = serde_json::to_value(field_schema(field)).expect("serialises");
                let shown = described.get("maxLength").and_then(Value::as_u64);
                let expected = format.is_none().then_some(*chars.end() as u64);
                assert_eq!(shown, expected, "{}", field.name);
            }
        }
    }

    /// A stray field is refused rather than ignored: a `client_id` is an attempt to choose it.
    #[test]
    fn a_client_body_is_closed_and_its_lists_default_to_empty() {
        let read = |json: &str| client(Ok(Bytes::from(json.to_string())));
        let input = read(r#"{"name": "a", "grant_types": ["refresh_token"]}"#).expect("read");
        assert!(input.redirect_uris.is_empty() && input.scope.is_empty());
        assert_eq!(
            (input.client_type, input.consent),
            (None, Consent::Required)
        );
        for stray in ["client_id", "client_secret", "colour"] {
            let body =
                format!(r#"{{"name": "a", "grant_types": ["refresh_token"], "{stray}": "x"}}"#);
            assert!(
                matches!(read(&body), Err(DomainError::InvalidField { field, .. }) if field == stray)
            );
        }
        for grants in ["", r#", "grant_types": []"#] {
            let body = format!(r#"{{"name": "a"{grants}}}"#);
            assert!(
                matches!(read(&body), Err(DomainError::InvalidField { field, .. }) if field == "grant_types")
            );
        }
    }

    #[test]
    fn a_required_field_is_missing_and_a_null_one_is_absent() {
        let change = password_change(Ok(Bytes::from(r#"{"old_password": "a"}"#)));
        assert!(matches!(
            change,
            Err(DomainError::InvalidField { field, message })
                if field == "new_password" && message == "Missing data for required field."
        ));
        let edit = user_edit(Ok(Bytes::from(r#"{"firstname": null}"#))).expect("read");
        assert_eq!(edit.firstname, Some(None));
        assert_eq!(edit.lastname, None);
    }
}
