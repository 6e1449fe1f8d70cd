//! The command line of `fluxer-server` and of the per-service names (`fluxer-api` is
//! `fluxer-server serve --role api`): parse, load the configuration, hand over to the library.
//!
//! ```text
//! fluxer-server [--config FILE] [serve] [--role api,gateway,worker,media,s3]
//! fluxer-server [--config FILE] create-admin --email EMAIL --username NAME   (password: FLUXER_ADMIN_PASSWORD)
//! fluxer-server [--config FILE] reindex
//! fluxer-server [--config FILE] backup DIR [--files-only]
//! fluxer-server [--config FILE] restore DIR
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
    /// Back up the database, the job queue, the blobs and the instance secret into DIR, while the
    /// server runs. Into a directory holding a previous backup, only what changed is copied.
    Backup {
        /// The backup directory: new, empty, or holding a previous backup.
        dir: PathBuf,
        /// Leave the database and the queue out: for PostgreSQL, whose database pg_dump backs up.
        #[arg(long)]
        files_only: bool,
    },
    /// Restore the backup in DIR into the configured data directory, which must be empty (checks
    /// every checksum first), then rebuild the search index.
    Restore {
        /// The backup directory.
        dir: PathBuf,
    },
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
        Command::Backup { dir, files_only } => backup(&config, &dir, files_only).await,
        Command::Restore { dir } => restore(&config, &dir).await,
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
    let started = std::time::Instant::now();
    let done = fluxer::commands::reindex(config, reindex_progress(started))
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

/// A progress bar for `reindex` on a terminal; a line every 100 channels otherwise.
fn reindex_progress(
    started: std::time::Instant,
) -> impl FnMut(&fluxer::core::service::ReindexProgress) {
    use std::io::{IsTerminal, Write};
    let tty = std::io::stderr().is_terminal();
    move |p| {
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
    }
}

async fn backup(config: &Config, dir: &std::path::Path, files_only: bool) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let options = fluxer::backup::BackupOptions::default().with_files_only(files_only);
    let done = fluxer::commands::backup(config, dir, options, file_progress("backup"))
        .await
        .map_err(|e| Failure::failed(format!("backup: {e}")))?;
    for note in &done.notes {
        eprintln!("backup: note: {note}");
    }
    let total: u64 = done.manifest.files.iter().map(|f| f.size).sum();
    eprintln!(
        "backup: {} files ({} bytes) in {}: {} copied ({} bytes), {} unchanged, {} removed, in {:.1} s",
        done.manifest.files.len(),
        total,
        dir.display(),
        done.copied_files,
        done.copied_bytes,
        done.unchanged_files,
        done.removed_files,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn restore(config: &Config, dir: &std::path::Path) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let (restored, reindexed) = fluxer::commands::restore(
        config,
        dir,
        file_progress("restore"),
        reindex_progress(started),
    )
    .await
    .map_err(|e| Failure::failed(format!("\nrestore: {e}")))?;
    if reindexed.is_some() {
        eprintln!();
    }
    for note in &restored.notes {
        eprintln!("restore: note: {note}");
    }
    eprintln!(
        "restore: {} files ({} bytes) from the backup of {}, checked and written",
        restored.files, restored.bytes, restored.manifest.started_at
    );
    if let Some(done) = reindexed {
        eprintln!(
            "restore: search index rebuilt: {} messages from {} channels",
            done.messages, done.channels_total
        );
    }
    eprintln!("restore: done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A progress bar for a backup's or a restore's steps on a terminal; a line per step and about
/// every 1000 files otherwise.
fn file_progress(command: &'static str) -> impl FnMut(&fluxer::backup::Progress) + Send + 'static {
    use std::io::{IsTerminal, Write};
    let tty = std::io::stderr().is_terminal();
    let mut last_step = None;
    move |p| {
        let new_step = last_step != Some(p.step);
        if new_step && last_step.is_some() && tty {
            eprintln!();
        }
        last_step = Some(p.step);
        let done = p.files_done == p.files_total;
        if !(tty || new_step || done || p.files_done % 1000 == 0) {
            return;
        }
        let width = 30;
        let filled = (p.bytes_done.min(p.bytes_total) * width)
            .checked_div(p.bytes_total)
            .or_else(|| (p.files_done * width).checked_div(p.files_total))
            .unwrap_or(width) as usize;
        let line = format!(
            "{command} {:<8} [{}{}] {}/{} files, {} bytes",
            p.step.as_str(),
            "#".repeat(filled),
            "-".repeat(width as usize - filled),
            p.files_done,
            p.files_total,
            p.bytes_done,
        );
        if tty {
            eprint!("\r{line}");
            let _ = std::io::stderr().flush();
        } else {
            eprintln!("{line}");
        }
    }
}
