//! `fluxer-server`: see `fluxer-server --help`.

fn main() -> std::process::ExitCode {
    fluxer_server::main_as(None)
}
