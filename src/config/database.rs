//! What a database URL selects, and whether the driver accepts it. The configuration's checks and
//! the store both read this, so that neither has to ask the other.

use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// The backend a database URL selects: `sqlite:` is SQLite, anything else PostgreSQL.
    pub fn of(url: &str) -> Backend {
        if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }
}

/// The URL sqlx opens: a SQLite file is created when missing (`mode=rwc`) unless the URL names a
/// mode. Internal: messages show the URL as the user wrote it.
pub fn driver_url(url: &str) -> String {
    match Backend::of(url) {
        Backend::Sqlite if !url.contains("mode=") => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rwc")
        }
        _ => url.to_string(),
    }
}

/// Checks that the driver accepts a database URL (its options, port, mode…), without connecting.
pub fn check_url(url: &str) -> anyhow::Result<()> {
    use sqlx::postgres::PgConnectOptions;
    use sqlx::sqlite::SqliteConnectOptions;
    let parsed = match Backend::of(url) {
        Backend::Postgres => PgConnectOptions::from_str(url).map(|_| ()),
        Backend::Sqlite => SqliteConnectOptions::from_str(&driver_url(url)).map(|_| ()),
    };
    // Parsing fails with a configuration error; its own words are the message.
    parsed.map_err(|error| match error {
        sqlx::Error::Configuration(cause) => anyhow::anyhow!("{cause}"),
        other => anyhow::anyhow!("{other}"),
    })
}
