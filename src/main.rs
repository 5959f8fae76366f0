//! The `tessera` command line: argument parsing only; each command is a function of
//! `tessera::cli`, which calls the domain's use cases.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
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
    /// Database URL, for the commands that use one (also accepted after the command).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// `--database-url`, on the commands that open the database.
#[derive(Args)]
struct Database {
    /// Database URL: sqlite://FILE or postgres://USER:PASSWORD@HOST/DB (overrides database_url).
    #[arg(
        long = "database-url",
        id = "database",
        global = true,
        value_name = "URL"
    )]
    url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve {
        /// Address to listen on (default 127.0.0.1:9497; overrides listen).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        #[command(flatten)]
        database: Database,
    },
    /// Run the database migrations and exit.
    Migrate(Database),
    /// Manage users.
    User(UserArgs),
    /// Manage OAuth2 clients.
    Client(ClientArgs),
    /// Manage tokens.
    Token(TokenArgs),
    /// Check the configuration as `serve` does, print it as TOML (secrets left out) and exit.
    CheckConfig(Database),
    /// Print a fresh random secret for `token_secret` (TESSERA_TOKEN_SECRET) and exit.
    GenSecret,
    /// Move the database to a new `token_secret`, read from standard input; every refresh token
    /// keeps working. Stop every instance first, then start them with the new secret.
    RotateSecret(Database),
    /// Make a new key to sign ID tokens (OpenID Connect); the previous one stays published until
    /// every ID token it signed has expired. Running instances sign with it within a minute.
    RotateSigningKey(Database),
    /// Probe a running server's /health/ready: exit 0 when it answers 200, else 1 (for HEALTHCHECK).
    Healthcheck {
        /// Server to probe (default: the configured `listen`, 0.0.0.0 probed as 127.0.0.1);
        /// /health/ready is appended when the URL has no path.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
}

#[derive(Args)]
struct UserArgs {
    #[command(flatten)]
    database: Database,
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user and print its uuid. The password is asked twice on a terminal, else read as
    /// one line of standard input.
    Add {
        /// The new user's login name.
        username: String,
        /// The user's e-mail address (confirmed; it can also be used to log in).
        #[arg(long, value_name = "ADDRESS")]
        email: Option<String>,
        /// `user` (a person), `internal` (a service of the platform) or `external_api`.
        #[arg(long, default_value = "user", value_parser = ["user", "internal", "external_api"])]
        purpose: String,
        /// Attach this policy (by name); repeatable.
        #[arg(long = "policy", value_name = "NAME")]
        policies: Vec<String>,
    },
    /// Set a user's password (asked twice on a terminal, else one line of standard input); ends
    /// the user's sessions.
    Passwd {
        /// The user's login name.
        username: String,
    },
    /// List users: uuid, username, purpose, enabled.
    List,
}

#[derive(Args)]
struct ClientArgs {
    #[command(flatten)]
    database: Database,
    #[command(subcommand)]
    command: ClientCommand,
}

/// A client's fields; on `update`, a flag not given keeps the client's value, and a list flag
/// given replaces the whole list.
#[derive(Args)]
struct ClientFlags {
    /// The client's name, shown to users.
    #[arg(long)]
    name: Option<String>,
    /// `confidential` (default on add: it gets a secret) or `public`; a client's type never changes.
    #[arg(long = "type", value_parser = ["public", "confidential"])]
    client_type: Option<String>,
    /// A redirect URI (https, http on a loopback host, or a private-use scheme for a public
    /// client); repeatable.
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// A post-logout redirect URI; repeatable.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// authorization_code, refresh_token, client_credentials or
    /// urn:ietf:params:oauth:grant-type:device_code; repeatable, at least one on add.
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<String>,
    /// An ACL entry of the client's ceiling; repeatable.
    #[arg(long = "scope", value_name = "ACL")]
    scope: Vec<String>,
    /// `required` (default on add) or `implicit` (a first-party application: no consent page).
    #[arg(long, value_parser = ["required", "implicit"])]
    consent: Option<String>,
}

impl From<ClientFlags> for cli::client::ClientFields {
    fn from(flags: ClientFlags) -> Self {
        cli::client::ClientFields {
            name: flags.name,
            client_type: flags.client_type,
            redirect_uris: flags.redirect_uris,
            post_logout_redirect_uris: flags.post_logout_redirect_uris,
            grant_types: flags.grant_types,
            scope: flags.scope,
            consent: flags.consent,
        }
    }
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client and print it; a confidential client's secret is printed this once.
    Add(ClientFlags),
    /// List clients: client_id, name, type, grant types.
    List,
    /// Print a client (never its secret).
    Show { client_id: String },
    /// Change a client's fields (those given) and print it.
    Update {
        client_id: String,
        #[command(flatten)]
        fields: ClientFlags,
    },
    /// Delete a client, with every token and refresh token of it.
    Remove { client_id: String },
    /// Give a confidential client a new secret, printed this once; the old one stops working.
    NewSecret { client_id: String },
}

#[derive(Args)]
struct TokenArgs {
    #[command(flatten)]
    database: Database,
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Delete expired tokens and their sessions now.
    Purge,
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::GenSecret => "gen-secret",
            Command::Healthcheck { .. } => "healthcheck",
            _ => "this command",
        }
    }

    /// `--database-url` given after the command, on the commands that take one.
    fn database_url(&self) -> Option<Option<&String>> {
        match self {
            Command::Serve { database, .. }
            | Command::Migrate(database)
            | Command::CheckConfig(database)
            | Command::RotateSecret(database)
            | Command::RotateSigningKey(database)
            | Command::User(UserArgs { database, .. })
            | Command::Client(ClientArgs { database, .. })
            | Command::Token(TokenArgs { database, .. }) => Some(database.url.as_ref()),
            Command::GenSecret | Command::Healthcheck { .. } => None,
        }
    }
}

async fn run(args: Cli) -> anyhow::Result<()> {
    let database_url = match args.command.database_url() {
        Some(url) => url.or(args.database_url.as_ref()).cloned(),
        None if args.database_url.is_some() => {
            anyhow::bail!(
                "--database-url does not apply to {}: it opens no database",
                args.command.name()
            )
        }
        None => None,
    };
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
        Command::Serve { listen, .. } => listen.clone(),
        _ => None,
    };
    let config = Config::load(
        args.config.as_deref(),
        Overrides {
            listen,
            database_url,
        },
    )?;
    match args.command {
        Command::Serve { .. } => cli::serve(config).await,
        Command::Migrate(_) => cli::migrate(&config).await,
        Command::GenSecret => {
            cli::gen_secret();
            Ok(())
        }
        Command::CheckConfig(_) => cli::check_config(&config),
        Command::Healthcheck { .. } => {
            cli::healthcheck(&cli::healthcheck::url_for_listen(&config.listen)).await
        }
        Command::Token(TokenArgs {
            command: TokenCommand::Purge,
            ..
        }) => cli::purge(config).await,
        Command::User(UserArgs { command, .. }) => match command {
            UserCommand::Add {
                username,
                email,
                purpose,
                policies,
            } => cli::user_add(config, username, email, purpose, policies).await,
            UserCommand::Passwd { username } => cli::user_passwd(config, username).await,
            UserCommand::List => cli::user_list(config).await,
        },
        Command::Client(ClientArgs { command, .. }) => client(config, command).await,
        Command::RotateSecret(_) => cli::rotate_secret(config).await,
        Command::RotateSigningKey(_) => cli::rotate_signing_key(config).await,
    }
}

async fn client(
    config: tessera::config::ValidConfig,
    command: ClientCommand,
) -> anyhow::Result<()> {
    use cli::client;
    match command {
        ClientCommand::Add(fields) => client::add(config, fields.into()).await,
        ClientCommand::List => client::list(config).await,
        ClientCommand::Show { client_id } => client::show(config, &client_id).await,
        ClientCommand::Update { client_id, fields } => {
            client::update(config, &client_id, fields.into()).await
        }
        ClientCommand::Remove { client_id } => client::remove(config, &client_id).await,
        ClientCommand::NewSecret { client_id } => client::new_secret(config, &client_id).await,
    }
}

/// The arguments, or clap's message cut to what a user reads: the error, a tip if clap has one,
/// and where the help is (not the usage block). Help and version print as clap prints them.
fn parse_arguments() -> Result<Cli, ExitCode> {
    use clap::error::ErrorKind;
    let error = match Cli::try_parse() {
        Ok(arguments) => return Ok(arguments),
        Err(error) => error,
    };
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        error.exit();
    }
    eprint!(
        "{}",
        cli::short_usage_error(&error.render().to_string(), &command_path())
    );
    Err(ExitCode::from(2))
}

/// The (sub)command the arguments name, as far as they name one: `tessera user add`.
fn command_path() -> String {
    use clap::CommandFactory;
    let mut command = Cli::command();
    let mut path = vec![command.get_name().to_string()];
    for argument in std::env::args().skip(1) {
        if let Some(sub) = command.find_subcommand(&argument).cloned() {
            path.push(sub.get_name().to_string());
            command = sub;
        }
    }
    path.join(" ")
}

#[tokio::main]
async fn main() -> ExitCode {
    let arguments = match parse_arguments() {
        Ok(arguments) => arguments,
        Err(code) => return code,
    };
    cli::init_logging(matches!(arguments.command, Command::Serve { .. }));
    match run(arguments).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tessera: {}", error.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
