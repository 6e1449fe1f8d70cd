//! `fluxer-media`: `fluxer-server serve --role media`.

fn main() -> std::process::ExitCode {
    fluxer_server::main_as(Some(fluxer::node::Role::Media))
}
