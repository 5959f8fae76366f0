//! The `tessera` command line: argument parsing only; each command is a function of
//! `tessera::cli`, which calls the domain's use cases.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tessera::cli;
use tessera::config::{Config, Overrides};

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
    /// Print a fresh random secret for `token_secret` (TESSERA_TOKEN_SECRET) and exit.
    GenSecret,
    /// Move the database to a new `token_secret`, read from standard input; every refresh token
    /// keeps working. Stop every instance first, then start them with the new secret.
    RotateSecret,
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

async fn run(args: Cli) -> anyhow::Result<()> {
    if let Command::GenSecret = &args.command {
        // Needs no configuration: it prints the secret a configuration lacks.
        cli::gen_secret();
        return Ok(());
    }
    if let Command::Healthcheck { url: Some(url) } = &args.command {
        // An explicit URL needs no configuration: the probe works even where none loads.
        return cli::healthcheck(url).await;
    }
    let listen = match &args.command {
        Command::Serve { listen } => listen.clone(),
        _ => None,
    };
    let config = Config::load(
        args.config.as_deref(),
        Overrides {
            listen,
            database_url: args.database_url.clone(),
        },
    )?;
    match args.command {
        Command::Serve { .. } => cli::serve(config).await,
        Command::Migrate => cli::migrate(&config).await,
        Command::GenSecret => {
            cli::gen_secret();
            Ok(())
        }
        Command::CheckConfig => {
            println!("{config:#?}");
            Ok(())
        }
        Command::Healthcheck { .. } => {
            cli::healthcheck(&cli::healthcheck::url_for_listen(&config.listen)).await
        }
        Command::Token(TokenCommand::Purge) => cli::purge(config).await,
        Command::RotateSecret => cli::rotate_secret(config).await,
        Command::User(UserCommand::Add {
            username,
            email,
            purpose,
            policies,
        }) => cli::user_add(config, username, email, purpose, policies).await,
        Command::User(UserCommand::Passwd { username }) => cli::user_passwd(config, username).await,
        Command::User(UserCommand::List) => cli::user_list(config).await,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let arguments = Cli::parse();
    cli::init_logging();
    match run(arguments).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tessera: {}", error.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
