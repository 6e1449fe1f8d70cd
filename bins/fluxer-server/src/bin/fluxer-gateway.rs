//! `fluxer-gateway`: `fluxer-server serve --role gateway`.

fn main() -> std::process::ExitCode {
    fluxer_server::main_as(Some(fluxer::node::Role::Gateway))
}
