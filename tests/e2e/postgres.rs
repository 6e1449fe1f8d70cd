//! The machine's PostgreSQL (127.0.0.1:5432, trust auth) for the tests that keep data there: a
//! fresh database per test, dropped afterwards. Shared by the e2e, hardening and cluster targets.
#![allow(dead_code)]

use std::process::Command;

/// Runs one statement as the PostgreSQL superuser and returns its unaligned output; fails the test
/// loudly when the server is not there.
pub(crate) fn psql(sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
            sql,
        ])
        .output()
        .expect("psql must be installed for the PostgreSQL tests");
    assert!(
        out.status.success(),
        "PostgreSQL at 127.0.0.1:5432 is required for this test: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Creates `name` unless it exists; returns its URL.
pub(crate) fn create_database(name: &str) -> String {
    let exists = psql(&format!(
        "SELECT 1 FROM pg_database WHERE datname = '{name}'"
    ));
    if exists.trim() != "1" {
        psql(&format!("CREATE DATABASE {name}"));
    }
    format!("postgres://postgres@127.0.0.1:5432/{name}")
}

/// Drops `name` and the connections still open to it. Best effort: it runs from `Drop`, where a
/// panic during a failing test's unwinding would abort the run.
pub(crate) fn drop_database(name: &str) {
    let _ = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c"])
        .arg(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .output();
}
