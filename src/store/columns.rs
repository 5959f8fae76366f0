//! The column values whose type differs by backend, bound and read alike by the shared SQL:
//! a uuid is `uuid` on PostgreSQL and `TEXT` on SQLite; a time is `timestamptz` on PostgreSQL and
//! an `INTEGER` of epoch microseconds on SQLite. The domain sees neither: a uuid is its canonical
//! text, a time its epoch microseconds, on both. (JSON goes through `sqlx::types::Json`: `jsonb`
//! on PostgreSQL, `TEXT` on SQLite.)

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueFormat, PgValueRef, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Type};

/// A uuid bound to a query, as the domain spells it (canonical lower-case text). Text that is not
/// a canonical uuid names no row: PostgreSQL gets NULL (which equals nothing), SQLite the text
/// (which no stored uuid equals).
#[derive(Clone, Copy, Debug)]
pub struct Id<'a>(pub &'a str);

/// The uuid of canonical text (hyphenated, lower case), if it is one.
fn canonical(text: &str) -> Option<uuid::Uuid> {
    let uuid = uuid::Uuid::try_parse(text).ok()?;
    let mut spelled = [0u8; uuid::fmt::Hyphenated::LENGTH];
    (uuid.hyphenated().encode_lower(&mut spelled).as_bytes() == text.as_bytes()).then_some(uuid)
}

impl Type<Postgres> for Id<'_> {
    fn type_info() -> PgTypeInfo {
        <uuid::Uuid as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Id<'_> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        match canonical(self.0) {
            Some(uuid) => <uuid::Uuid as Encode<Postgres>>::encode_by_ref(&uuid, buf),
            None => Ok(IsNull::Yes),
        }
    }
}

impl Type<Sqlite> for Id<'_> {
    fn type_info() -> SqliteTypeInfo {
        <&str as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for Id<'q> {
    fn encode_by_ref(
        &self,
        args: &mut Vec<SqliteArgumentValue<'q>>,
    ) -> Result<IsNull, BoxDynError> {
        <&str as Encode<'q, Sqlite>>::encode_by_ref(&self.0, args)
    }
}

/// A value a list binds (see `ListQuery`): text, or a uuid.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    Text(&'a str),
    Id(&'a str),
}

/// A uuid read from a query, as canonical text.
pub struct UuidText(String);

impl From<UuidText> for String {
    fn from(uuid: UuidText) -> String {
        uuid.0
    }
}

impl Type<Postgres> for UuidText {
    fn type_info() -> PgTypeInfo {
        <uuid::Uuid as Type<Postgres>>::type_info()
    }
}

impl<'r> Decode<'r, Postgres> for UuidText {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let uuid = <uuid::Uuid as Decode<Postgres>>::decode(value)?;
        Ok(UuidText(uuid.hyphenated().to_string()))
    }
}

impl Type<Sqlite> for UuidText {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Sqlite> for UuidText {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(UuidText(<String as Decode<Sqlite>>::decode(value)?))
    }
}

/// A time in epoch microseconds, bound or read. On PostgreSQL a `timestamptz` (microseconds since
/// 2000-01-01 on the wire); a time beyond its range is `-infinity` or `infinity`, which compare as
/// the furthest past and future (`i64::MIN` and `i64::MAX` here, read back alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Micros(pub i64);

impl From<Micros> for i64 {
    fn from(time: Micros) -> i64 {
        time.0
    }
}

/// 2000-01-01T00:00:00Z, PostgreSQL's epoch, in Unix epoch microseconds.
const POSTGRES_EPOCH: i64 = 946_684_800_000_000;
/// The first and past-the-last `timestamptz` PostgreSQL holds, since its epoch (4714-11-24 BC,
/// 294277-01-01).
const POSTGRES_MIN: i64 = -211_813_488_000_000_000;
const POSTGRES_END: i64 = 9_223_371_331_200_000_000;

impl Micros {
    fn to_postgres(self) -> i64 {
        match self.0.saturating_sub(POSTGRES_EPOCH) {
            since if since < POSTGRES_MIN => i64::MIN,
            since if since >= POSTGRES_END => i64::MAX,
            since => since,
        }
    }

    fn from_postgres(since: i64) -> Micros {
        match since {
            i64::MIN | i64::MAX => Micros(since),
            since => Micros(since.saturating_add(POSTGRES_EPOCH)),
        }
    }
}

impl Type<Postgres> for Micros {
    fn type_info() -> PgTypeInfo {
        <chrono::DateTime<chrono::Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Micros {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.extend_from_slice(&self.to_postgres().to_be_bytes());
        Ok(IsNull::No)
    }

    fn size_hint(&self) -> usize {
        std::mem::size_of::<i64>()
    }
}

impl<'r> Decode<'r, Postgres> for Micros {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        match value.format() {
            PgValueFormat::Binary => {
                let bytes: [u8; 8] = value.as_bytes()?.try_into()?;
                Ok(Micros::from_postgres(i64::from_be_bytes(bytes)))
            }
            PgValueFormat::Text => {
                let time = <chrono::DateTime<chrono::Utc> as Decode<Postgres>>::decode(value)?;
                Ok(Micros(time.timestamp_micros()))
            }
        }
    }
}

impl Type<Sqlite> for Micros {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Micros {
    fn encode_by_ref(
        &self,
        args: &mut Vec<SqliteArgumentValue<'_>>,
    ) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<Sqlite>>::encode_by_ref(&self.0, args)
    }
}

impl<'r> Decode<'r, Sqlite> for Micros {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Micros(<i64 as Decode<Sqlite>>::decode(value)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_text_is_a_uuid() {
        let text = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert!(canonical(text).is_some());
        assert!(canonical(&text.to_uppercase()).is_none());
        assert!(canonical(&text.replace('-', "")).is_none());
        assert!(canonical("not a uuid").is_none());
    }

    #[test]
    fn times_beyond_postgres_are_its_infinities() {
        for micros in [0, 1, -1, 1_700_000_000_123_456, -POSTGRES_EPOCH, i64::MAX] {
            assert_eq!(
                Micros::from_postgres(Micros(micros).to_postgres()),
                Micros(micros)
            );
        }
        // Before 4714 BC: -infinity, read back as the furthest past.
        assert_eq!(Micros(i64::MIN).to_postgres(), i64::MIN);
        assert_eq!(Micros(i64::MIN / 2).to_postgres(), i64::MIN);
        assert_eq!(Micros::from_postgres(i64::MIN), Micros(i64::MIN));
    }
}
