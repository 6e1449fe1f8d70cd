//! The shared `main` of the per-service binaries: load the configuration, listen, build the service
//! with [`fluxer::cluster`], serve until SIGTERM, shut down cleanly.
//!
//! ```text
//! fluxer-api     [--config FILE]   the REST API            services.api.{host,port}           (8080)
//! fluxer-gateway [--config FILE]   the WebSocket gateway   services.gateway.{host,port}       (8082)
//! fluxer-media   [--config FILE]   the media proxy         services.media_proxy.{host,port}   (8083)
//! fluxer-worker  [--config FILE]   jobs and cron           worker.{host,port} (/_health only) (8084)
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use fluxer::cluster::{self, Service, StartError};
use fluxer::config::Config;

/// Which service a binary runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Api,
    Gateway,
    Worker,
    Media,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Api => "fluxer-api",
            Kind::Gateway => "fluxer-gateway",
            Kind::Worker => "fluxer-worker",
            Kind::Media => "fluxer-media",
        }
    }

    fn listen(self, c: &Config) -> (String, u16) {
        match self {
            Kind::Api => (c.services.api.host.clone(), c.services.api.port),
            Kind::Gateway => (c.services.gateway.host.clone(), c.services.gateway.port),
            Kind::Worker => (c.worker.host.clone(), c.worker.port),
            Kind::Media => (
                c.services.media_proxy.host.clone(),
                c.services.media_proxy.port,
            ),
        }
    }
}

fn config_path() -> Result<Option<PathBuf>, String> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => {
                path = Some(PathBuf::from(args.next().ok_or("--config needs a path")?))
            }
            "--help" | "-h" => return Err("usage: [--config FILE] (see README: Scale-out)".into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(path)
}

/// Runs one service to completion.
pub fn main(kind: Kind) -> ExitCode {
    fluxer::runtime::tune_malloc();
    let name = kind.name();
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
    runtime.block_on(async move {
        let mut config = match config_path()
            .map_err(|e| e.to_string())
            .and_then(|p| Config::load(p.as_deref(), std::env::vars()).map_err(|e| e.to_string()))
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{name}: {e}");
                return ExitCode::from(2);
            }
        };
        fluxer::runtime::init_logging(&config);
        let _span = tracing::info_span!("service", service = name).entered();
        let (host, port) = kind.listen(&config);
        let listener = match tokio::net::TcpListener::bind((host.as_str(), port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{name}: cannot listen on {host}:{port}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let bound = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        // Port 0 means "any": URLs derived from the port use the one we got.
        match kind {
            Kind::Api => config.services.api.port = bound,
            Kind::Gateway => config.services.gateway.port = bound,
            _ => {}
        }
        let built: Result<Service, StartError> = match kind {
            Kind::Api => cluster::api(&config, &config.public_origin(bound)).await,
            Kind::Gateway => cluster::gateway(&config).await,
            Kind::Worker => cluster::worker(&config).await,
            Kind::Media => cluster::media(&config).await,
        };
        let service = match built {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{name}: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("{name} listening on http://{host}:{bound}");
        tracing::info!(port = bound, "listening");
        fluxer::runtime::trim_malloc_every(std::time::Duration::from_secs(10));
        let options = match fluxer::runtime::ServeOptions::from_config(&config) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("{name}: invalid configuration: {e}");
                return ExitCode::from(2);
            }
        };
        let served = fluxer::runtime::serve(listener, service.router.clone(), options).await;
        tracing::info!("shutting down");
        service.shutdown().await;
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{name}: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
