//! What the benches share: medians, this process's CPU time, scratch directories, and starting the release server. Each bench is its own crate and uses
//! only part of this, hence the `dead_code` allowance.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// The CPU time (user + system) a `/proc/PID/stat` text records, in clock ticks (100 per second on
/// Linux): its fields 14 and 15.
pub(crate) fn cpu_ticks(stat: &str) -> u64 {
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the name, field 3 (state) is index 0: utime (14) is index 11, stime (15) index 12.
    field(11) + field(12)
}

/// This process's CPU time so far (user + system), in seconds.
pub(crate) fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    cpu_ticks(&stat) as f64 / 100.0
}

/// The median of a non-empty sample (the upper one of an even count).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A directory under the system's temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fluxer-bench-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The release `fluxer-server` beside this bench's binary (`target/release/`); panics with the
/// command that builds it when it is missing.
pub(crate) fn release_server() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let server = exe
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .join("fluxer-server");
    assert!(
        server.exists(),
        "build it first: cargo build --release -p fluxer-server ({})",
        server.display()
    );
    server
}

/// Spawns `cmd` (stdout piped; stderr dropped, or appended to the file `FLUXER_BENCH_SERVER_LOG`
/// names) and waits for its `listening on http://ADDR` line; returns the child and `ADDR`. The
/// caller kills and waits for the child.
#[allow(clippy::zombie_processes)]
pub(crate) fn start_listening(mut cmd: Command) -> (Child, String) {
    let stderr = match std::env::var_os("FLUXER_BENCH_SERVER_LOG") {
        Some(path) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map(Stdio::from)
            .expect("open FLUXER_BENCH_SERVER_LOG"),
        None => Stdio::null(),
    };
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn the server");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = child.wait();
            panic!("server exited before listening");
        }
        if let Some(rest) = line.split("listening on http://").nth(1) {
            // The server goes on printing (its roles, then nothing); reading on keeps its stdout
            // open, as a terminal would: a print into a closed pipe would end it.
            std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
            return (child, rest.split_whitespace().next().unwrap().to_owned());
        }
    }
}
