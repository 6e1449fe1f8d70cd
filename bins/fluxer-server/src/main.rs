//! `fluxer-server`: the Fluxer monolith on embedded defaults.
//!
//! ```text
//! fluxer-server [--config config.json]            serve
//! fluxer-server create-admin --email E --username U [--config ...]
//!                                                  create a staff account (password from FLUXER_ADMIN_PASSWORD)
//! fluxer-server reindex [--config ...]             rebuild the search index from the database
//!                                                  (with the server stopped: the index has one writer)
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use fluxer::config::Config;
use fluxer::monolith::Monolith;

mod reindex;

struct Args {
    config: Option<PathBuf>,
    command: Command,
}

enum Command {
    Serve,
    CreateAdmin { email: String, username: String },
    Reindex,
    Help,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut config = None;
    let mut command = Command::Serve;
    let (mut email, mut username) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => {
                config = Some(PathBuf::from(args.next().ok_or("--config needs a path")?))
            }
            "create-admin" => {
                command = Command::CreateAdmin {
                    email: String::new(),
                    username: String::new(),
                }
            }
            "reindex" => command = Command::Reindex,
            "--email" => email = Some(args.next().ok_or("--email needs a value")?),
            "--username" => username = Some(args.next().ok_or("--username needs a value")?),
            "--help" | "-h" => command = Command::Help,
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if let Command::CreateAdmin { .. } = command {
        command = Command::CreateAdmin {
            email: email.ok_or("create-admin needs --email")?,
            username: username.ok_or("create-admin needs --username")?,
        };
    }
    Ok(Args { config, command })
}

/// Creates a staff account on the configured database (works while a server runs on it too).
async fn create_admin(config: &Config, email: &str, username: &str) -> ExitCode {
    let Ok(password) = std::env::var("FLUXER_ADMIN_PASSWORD") else {
        eprintln!("fluxer-server: set FLUXER_ADMIN_PASSWORD to the new account's password");
        return ExitCode::from(2);
    };
    let origin = config.public_origin(config.services.server.port);
    // Only the database: no search index (a running server holds its writer), no worker, no S3.
    let mut config = config.clone();
    config.integrations.search.engine = "none".to_owned();
    config.worker.enabled = false;
    config.services.s3.enabled = false;
    let monolith = match Monolith::build(&config, &origin).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("fluxer-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = monolith
        .fluxer
        .create_operator(email, username, &password)
        .await;
    monolith.shutdown().await;
    match result {
        Ok(user) => {
            println!("created staff account {} ({})", user.tag(), user.id);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fluxer-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    fluxer::runtime::tune_malloc();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("fluxer-server: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fluxer-server: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Help = args.command {
        println!(
            "usage: fluxer-server [--config FILE] [create-admin --email EMAIL --username NAME | reindex]"
        );
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(args.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fluxer-server: {e}");
            return ExitCode::from(2);
        }
    };
    fluxer::runtime::init_logging(&config);
    let _service = tracing::info_span!("service", service = "fluxer-server").entered();
    if let Command::CreateAdmin { email, username } = &args.command {
        return create_admin(&config, email, username).await;
    }
    if let Command::Reindex = args.command {
        return reindex::run(&config).await;
    }
    let listen = format!(
        "{}:{}",
        config.services.server.host, config.services.server.port
    );
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fluxer-server: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bound = listener
        .local_addr()
        .map(|a| a.port())
        .unwrap_or(config.services.server.port);
    let origin = config.public_origin(bound);
    let monolith = match Monolith::build(&config, &origin).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("fluxer-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or(listen);
    println!(
        "fluxer-server listening on http://{local} (API at {origin}/api/v1, health at {origin}/_health)"
    );
    tracing::info!(address = %local, "listening");
    fluxer::runtime::trim_malloc_every(std::time::Duration::from_secs(10));
    let options = match fluxer::runtime::ServeOptions::from_config(&config) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("fluxer-server: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let served = fluxer::runtime::serve(listener, monolith.router.clone(), options).await;
    tracing::info!("shutting down: finishing writes");
    monolith.shutdown().await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fluxer-server: {e}");
            ExitCode::FAILURE
        }
    }
}
