//! The command line of `fluxer-server` and of the per-service names (`fluxer-api` is
//! `fluxer-server serve --role api`): parse, load the configuration, hand over to the library.
//!
//! ```text
//! fluxer-server [--config FILE] [serve] [--role api,gateway,worker,media,s3]
//! fluxer-server [--config FILE] create-admin --email EMAIL --username NAME   (password: FLUXER_ADMIN_PASSWORD)
//! fluxer-server [--config FILE] reindex
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use fluxer::config::Config;
use fluxer::node::{self, Node, Role, Roles};

#[derive(Debug, Parser)]
#[command(
    name = "fluxer-server",
    version,
    about = "Fluxer: an open, self-hostable chat platform",
    long_about = "Fluxer: an open, self-hostable chat platform. Without a command it serves every \
                  role on the configured backends (the embedded defaults: SQLite, no external \
                  service). FLUXER_CONFIG__SECTION__KEY variables override the configuration file."
)]
struct Cli {
    /// The configuration file (JSON).
    #[arg(short, long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API, the gateway, the worker, the media proxy and the S3 endpoint, or the roles named.
    Serve {
        /// The roles to run (comma-separated or repeated): api, gateway, worker, media, s3.
        /// Default: all of them.
        #[arg(long = "role", value_name = "ROLE", value_delimiter = ',')]
        roles: Vec<Role>,
    },
    /// Create a staff account with a verified email; the password is read from
    /// FLUXER_ADMIN_PASSWORD. Safe while a server runs on the same database.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
    },
    /// Rebuild the search index from the database, with the server (or the worker) stopped: the
    /// index has one writer.
    Reindex,
}

/// Runs the command line; `preset` is the role a per-service name stands for.
pub fn main_as(preset: Option<Role>) -> ExitCode {
    fluxer::runtime::tune_malloc();
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(role) = preset {
        // `fluxer-api --config F` is `fluxer-server serve --role api --config F`.
        args.splice(
            1..1,
            ["serve".into(), "--role".into(), role.as_str().into()],
        );
    }
    let cli = Cli::parse_from(args);
    let name = match preset {
        Some(role) => format!("fluxer-{role}"),
        None => "fluxer-server".to_owned(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli, &name))
}

async fn run(cli: Cli, name: &str) -> ExitCode {
    let config = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    let _logging = match fluxer::runtime::init_logging(&config) {
        Ok(logging) => logging,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    let _span = tracing::info_span!("service", service = name).entered();
    let outcome = match cli.command.unwrap_or(Command::Serve { roles: Vec::new() }) {
        Command::Serve { roles } => {
            let roles = if roles.is_empty() {
                Roles::ALL
            } else {
                roles.into_iter().collect()
            };
            serve(config, roles, name).await
        }
        Command::CreateAdmin { email, username } => create_admin(&config, &email, &username).await,
        Command::Reindex => reindex(&config).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { message, code }) => {
            eprintln!("{name}: {message}");
            ExitCode::from(code)
        }
    }
}

/// A failed command: what to print and the exit status (2 for bad usage or configuration).
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn usage(message: impl ToString) -> Failure {
        Failure {
            message: message.to_string(),
            code: 2,
        }
    }

    fn failed(message: impl ToString) -> Failure {
        Failure {
            message: message.to_string(),
            code: 1,
        }
    }
}

async fn serve(mut config: Config, roles: Roles, name: &str) -> Result<(), Failure> {
    let options = fluxer::runtime::ServeOptions::from_config(&config)
        .map_err(|e| Failure::usage(format!("invalid configuration: {e}")))?;
    let (host, port) = node::listen_address(&config, roles);
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .map_err(|e| Failure::failed(format!("cannot listen on {host}:{port}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::failed(format!("cannot listen on {host}:{port}: {e}")))?;
    // Port 0 means "any": URLs derived from the port use the one we got.
    node::record_bound_port(&mut config, roles, local.port());
    let origin = node::public_origin(&config, roles, local.port());
    let node = Node::build(&config, roles, &origin)
        .await
        .map_err(Failure::failed)?;
    // The first line is what scripts wait for; the address is its last word.
    println!("{name} listening on http://{local}");
    if roles.contains(Role::Api) {
        println!("roles {roles}: API at {origin}/api/v1, health at {origin}/_health");
    } else {
        println!("roles {roles}: health at http://{local}/_health");
    }
    tracing::info!(address = %local, %roles, "listening");
    fluxer::runtime::trim_malloc_every(Duration::from_secs(10));
    let served = fluxer::runtime::serve(listener, node.router(), options).await;
    tracing::info!("shutting down: finishing writes");
    node.shutdown().await;
    served.map_err(Failure::failed)
}

async fn create_admin(config: &Config, email: &str, username: &str) -> Result<(), Failure> {
    let password = std::env::var("FLUXER_ADMIN_PASSWORD")
        .map_err(|_| Failure::usage("set FLUXER_ADMIN_PASSWORD to the new account's password"))?;
    let user = fluxer::commands::create_admin(config, email, username, &password)
        .await
        .map_err(Failure::failed)?;
    println!("created staff account {} ({})", user.tag(), user.id);
    Ok(())
}

async fn reindex(config: &Config) -> Result<(), Failure> {
    use std::io::{IsTerminal, Write};
    let started = std::time::Instant::now();
    let tty = std::io::stderr().is_terminal();
    let done = fluxer::commands::reindex(config, |p| {
        if tty || p.channels_done == p.channels_total || p.channels_done % 100 == 0 {
            let width = 30;
            let filled = (p.channels_done * width)
                .checked_div(p.channels_total)
                .unwrap_or(width);
            let rate = p.messages as f64 / started.elapsed().as_secs_f64().max(0.001);
            eprint!(
                "\rreindex [{}{}] {}/{} channels, {} messages ({rate:.0}/s)",
                "#".repeat(filled),
                "-".repeat(width - filled),
                p.channels_done,
                p.channels_total,
                p.messages,
            );
            let _ = std::io::stderr().flush();
        }
    })
    .await
    .map_err(|e| Failure::failed(format!("\nreindex: {e}")))?;
    eprintln!(
        "\nreindex: {} messages from {} channels, {} guilds and {} users checked, in {:.1} s",
        done.messages,
        done.channels_total,
        done.guilds,
        done.users,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
