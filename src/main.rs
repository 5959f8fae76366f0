//! The `tessera` command line: serve, migrate, and operator commands.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tessera::config::{Config, Overrides};
use tessera::store::{NewUser, Store};
use tessera::{App, RunningServer};

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "HTTP authentication service (wazo-auth token API)"
)]
struct Cli {
    /// TOML configuration file (defaults < file < TESSERA_* environment < flags).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://FILE or postgres://…
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve {
        /// Address to listen on (default 127.0.0.1:9497).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Run the database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Load and check the configuration, print it (secrets redacted) and exit.
    CheckConfig,
    /// Probe a running server's /health/ready: exit 0 when it answers 200, else 1 (for HEALTHCHECK).
    Healthcheck {
        /// Server to probe (default: the configured `listen`, 0.0.0.0 probed as 127.0.0.1);
        /// /health/ready is appended when the URL has no path.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value = "user", value_parser = ["user", "internal", "external_api"])]
        purpose: String,
        /// Attach this policy (by name); repeatable.
        #[arg(long = "policy", value_name = "NAME")]
        policies: Vec<String>,
    },
    /// Set a user's password, read from standard input; ends the user's sessions.
    Passwd { username: String },
    /// List users.
    List,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Delete expired tokens and their sessions now.
    Purge,
}

fn init_logging() {
    let filter = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("TESSERA_LOG_LEVEL"))
        .unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    // TESSERA_LOG_FORMAT=json: one JSON object per line, the event's fields at the top level and
    // the request span (method, route, request_id) under "span".
    if std::env::var("TESSERA_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json")) {
        logs.json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        logs.init();
    }
}

/// One line of standard input, without its line ending.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        anyhow::bail!("no password on standard input");
    }
    Ok(password)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Healthcheck { url: Some(url) } = &cli.command {
        // An explicit URL needs no configuration: the probe works even where none loads.
        return healthcheck(url).await;
    }
    let listen = match &cli.command {
        Command::Serve { listen } => listen.clone(),
        _ => None,
    };
    let config = Config::load(
        cli.config.as_deref(),
        Overrides {
            listen,
            database_url: cli.database_url.clone(),
        },
    )?;
    match cli.command {
        Command::Serve { .. } => {
            let server = RunningServer::start(config).await?;
            shutdown_signal().await;
            tracing::info!("shutting down");
            server.shutdown().await;
        }
        Command::Migrate => {
            Store::connect(&config.database_url).await?;
            println!("migrations applied");
        }
        Command::CheckConfig => println!("{config:#?}"),
        Command::Healthcheck { .. } => {
            healthcheck(&tessera::healthcheck::url_for_listen(&config.listen)).await?
        }
        Command::Token(TokenCommand::Purge) => {
            let app = App::new(config).await?;
            let purged = tessera::purge_expired(&app).await?;
            println!("purged {purged} expired sessions");
        }
        Command::User(command) => user_command(App::new(config).await?, command).await?,
    }
    Ok(())
}

/// One line either way: `ready` on standard output, or the reason as the error.
async fn healthcheck(url: &str) -> anyhow::Result<()> {
    match tessera::healthcheck::probe(url).await? {
        200 => {
            println!("ready: {url} answered 200");
            Ok(())
        }
        status => anyhow::bail!("not ready: {url} answered {status}"),
    }
}

async fn user_command(app: App, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            username,
            email,
            purpose,
            policies,
        } => {
            let mut policy_uuids = Vec::new();
            for name in &policies {
                let policy = app
                    .store
                    .find_policy_by_name(name)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no policy named {name}"))?;
                policy_uuids.push(policy.uuid);
            }
            if app.store.find_login_owner(&username).await?.is_some() {
                anyhow::bail!("a user named {username} already exists");
            }
            let password = read_password()?;
            let uuid = uuid::Uuid::new_v4().to_string();
            app.store
                .create_user(&NewUser {
                    uuid: uuid.clone(),
                    tenant_uuid: app.top_tenant.clone(),
                    username: Some(username),
                    firstname: None,
                    lastname: None,
                    password_hash: Some(app.hasher.hash(&password).await?),
                    purpose,
                    enabled: true,
                    authentication_method: "default".into(),
                    email_address: email,
                    created_at: app.clock.now_micros(),
                })
                .await?;
            for policy in policy_uuids {
                app.store.attach_policy(&uuid, &policy).await?;
            }
            println!("{uuid}");
        }
        UserCommand::Passwd { username } => {
            let user = app
                .store
                .find_user_by_username(&username)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user named {username}"))?;
            let password = read_password()?;
            app.store
                .set_password(&user.uuid, &app.hasher.hash(&password).await?)
                .await?;
            println!("password changed; sessions of {username} ended");
        }
        UserCommand::List => {
            let page = app
                .store
                .list_users(&[], &tessera::store::ListParams::default())
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
        }
    }
    Ok(())
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

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tessera: {}", error.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
