//! The command-line face: operator commands that call the same use cases as HTTP, as the
//! operator (who holds every access), and the container health probe.

pub mod client;
pub mod healthcheck;

use std::io::{BufRead, IsTerminal};

use crate::config::ValidConfig;
use crate::domain::users::{NewUserInput, UserQuery};
use crate::domain::{clock, Actor, Services};
use crate::RunningServer;

/// The password: on a terminal, asked twice without echo (the two must match); otherwise one
/// line of standard input, without its line ending (scripts pipe it in).
fn read_password() -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password (again): ")?;
        if first != again {
            anyhow::bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    if password.is_empty() {
        anyhow::bail!("no password given (on a terminal, or as one line of standard input)");
    }
    Ok(password)
}

/// The services for an operator command: one attempt at the database, never a silent wait (the
/// retries of `database_connect_timeout` are for `serve` and `migrate`, which a deployment starts
/// beside its database).
async fn services(config: ValidConfig) -> anyhow::Result<Services> {
    Services::start(config.connecting_once(), clock::system()).await
}

/// `tessera serve`: runs until SIGINT or SIGTERM, then drains.
pub async fn serve(config: ValidConfig) -> anyhow::Result<()> {
    // A stop while the database is still awaited ends the wait: as PID 1 of a container, Tessera
    // would otherwise ignore SIGTERM until killed.
    let server = tokio::select! {
        server = RunningServer::start(config) => server?,
        () = shutdown_signal() => {
            tracing::info!("stopped before serving");
            return Ok(());
        }
    };
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

/// `tessera migrate`
pub async fn migrate(config: &ValidConfig) -> anyhow::Result<()> {
    Services::migrate(config).await?;
    println!("migrations applied");
    Ok(())
}

/// `tessera token purge`
pub async fn purge(config: ValidConfig) -> anyhow::Result<()> {
    let purged = services(config).await?.tokens().purge_expired().await?;
    println!("purged {purged} expired sessions");
    Ok(())
}

/// `tessera user add USERNAME`: checks the policies first, then reads the password.
pub async fn user_add(
    config: ValidConfig,
    username: String,
    email: Option<String>,
    purpose: String,
    policies: Vec<String>,
) -> anyhow::Result<()> {
    let services = services(config).await?;
    let operator = Actor::Operator;
    let mut policy_uuids = Vec::new();
    for name in &policies {
        policy_uuids.push(services.policies().get_by_name(&operator, name).await?.uuid);
    }
    let password = read_password()?;
    let input = NewUserInput {
        username: Some(username),
        password: Some(password),
        email_address: email,
        purpose: Some(purpose),
        ..NewUserInput::default()
    };
    let user = services.users().create(&operator, Ok(input)).await?;
    for policy in policy_uuids {
        services
            .policies()
            .attach(&operator, &user.uuid, &policy)
            .await?;
    }
    println!("{}", user.uuid);
    Ok(())
}

/// `tessera user passwd USERNAME`: the password from standard input; ends the user's sessions.
pub async fn user_passwd(config: ValidConfig, username: String) -> anyhow::Result<()> {
    let services = services(config).await?;
    let password = read_password()?;
    services
        .users()
        .reset_password(&Actor::Operator, &username, &password)
        .await?;
    println!("password changed; sessions of {username} ended");
    Ok(())
}

/// `tessera user list`
pub async fn user_list(config: ValidConfig) -> anyhow::Result<()> {
    let services = services(config).await?;
    let page = services
        .users()
        .list(&Actor::Operator, Ok(UserQuery::default()))
        .await?;
    for user in page.items {
        println!(
            "{}\t{}\t{}\t{}",
            user.uuid,
            user.username.unwrap_or_default(),
            user.purpose,
            if user.enabled { "enabled" } else { "disabled" }
        );
    }
    Ok(())
}

/// `tessera check-config`: the configuration was loaded and checked as `serve` does; print it as
/// a TOML file that loads back (secrets left out).
pub fn check_config(config: &ValidConfig) -> anyhow::Result<()> {
    print!("{}", config.to_toml()?);
    Ok(())
}

/// `tessera rotate-secret`: the new secret from standard input (`tessera gen-secret | …`).
pub async fn rotate_secret(config: ValidConfig) -> anyhow::Result<()> {
    let services = services(config).await?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let rotated = services
        .token_secret()
        .rotate(&Actor::Operator, &line)
        .await?;
    let next = match &rotated.key_file {
        Some(path) => format!("the key file {} holds it", path.display()),
        None => "set token_secret (TESSERA_TOKEN_SECRET) to it on every instance".into(),
    };
    println!(
        "moved {} refresh tokens and {} signing keys to the new secret (fingerprint {}); {next}, \
         then start the instances again",
        rotated.refresh_tokens, rotated.signing_keys, rotated.fingerprint
    );
    Ok(())
}

/// `tessera rotate-signing-key`: a new key signs ID tokens from now on; the previous one stays
/// published until every ID token it signed has expired.
pub async fn rotate_signing_key(config: ValidConfig) -> anyhow::Result<()> {
    let services = services(config).await?;
    let rotated = services
        .oauth2()
        .rotate_signing_key(&Actor::Operator)
        .await?;
    let time = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(micros)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    println!(
        "new {} signing key {}, published now, signing from {}; a previous key stays published \
         until {}",
        rotated.alg,
        rotated.kid,
        time(rotated.signs_from),
        time(rotated.previous_published_until)
    );
    Ok(())
}

/// `tessera gen-secret`: a fresh random `token_secret` (256 bits, hex) on standard output.
pub fn gen_secret() {
    println!("{}", crate::domain::generate_secret());
}

/// `tessera healthcheck`: one line either way, `ready` on standard output or the reason.
pub async fn healthcheck(url: &str) -> anyhow::Result<()> {
    match healthcheck::probe(url).await? {
        200 => {
            println!("ready: {url} answered 200");
            Ok(())
        }
        status => anyhow::bail!("not ready: {url} answered {status}"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// The directive that silences sqlx's parsing of connect options.
const QUIET_SQLX_OPTIONS: &str = "sqlx_postgres::options=off";

/// Logging to standard error, in colour only when standard error is a terminal. The server
/// (`serving`): `RUST_LOG` or `TESSERA_LOG_LEVEL` (default info), and `TESSERA_LOG_FORMAT=json`
/// for one JSON object per line. Other commands print their own output and errors only: their
/// level is `RUST_LOG` or `error`, never `TESSERA_LOG_LEVEL`, which a container sets for its server.
pub fn init_logging(serving: bool) {
    use crate::config::{LOG_FORMAT_VARIABLE, LOG_LEVEL_VARIABLE};
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| serving.then(|| std::env::var(LOG_LEVEL_VARIABLE).ok())?)
        .unwrap_or_else(|| if serving { "info" } else { "error" }.into());
    // sqlx warns of a connect parameter it does not know with the parameter's value, which may be
    // a password (`sslpassword=`): that warning is never logged, whatever the level asked.
    let filter = format!("{filter},{QUIET_SQLX_OPTIONS}");
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // The event's fields at the top level and the request span (method, route, request_id)
    // under "span".
    if std::env::var(LOG_FORMAT_VARIABLE).is_ok_and(|format| format.eq_ignore_ascii_case("json")) {
        logs.json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        logs.init();
    }
}

/// A command-line error as clap renders it, cut to what a user reads: its first paragraph (the
/// error) on one line, then clap's tip, if any, and where the help of `command` (the command
/// path, `tessera user add`) is; not the usage block.
pub fn short_usage_error(rendered: &str, command: &str) -> String {
    let paragraphs: Vec<String> = rendered
        .split("\n\n")
        .map(|paragraph| {
            paragraph
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|paragraph| !paragraph.is_empty())
        .collect();
    let error = paragraphs.first().cloned().unwrap_or_default();
    let mut help: String = paragraphs
        .iter()
        .filter(|p| p.starts_with("tip:"))
        .map(|tip| format!("{tip}; "))
        .collect();
    help.push_str(&format!("see '{command} --help'"));
    format!("{error}\n  {help}\n")
}
