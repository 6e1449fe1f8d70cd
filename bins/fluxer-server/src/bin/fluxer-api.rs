//! `fluxer-api`: `fluxer-server serve --role api`.

fn main() -> std::process::ExitCode {
    fluxer_server::main_as(Some(fluxer::node::Role::Api))
}
