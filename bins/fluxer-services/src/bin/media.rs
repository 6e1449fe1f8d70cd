//! `fluxer-media`: see the `fluxer_services` crate docs.

fn main() -> std::process::ExitCode {
    fluxer_services::main(fluxer_services::Kind::Media)
}
