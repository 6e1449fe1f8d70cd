//! `fluxer-worker`: `fluxer-server serve --role worker`.

fn main() -> std::process::ExitCode {
    fluxer_server::main_as(Some(fluxer::node::Role::Worker))
}
