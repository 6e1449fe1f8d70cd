use std::path::{Path, PathBuf};

use super::*;

fn temp(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "fluxer-backup-{name}-{}-{nanos}",
        std::process::id()
    ))
}

/// A configuration keeping everything under `dir`.
fn config_in(dir: &Path) -> Config {
    let vars = [
        ("FLUXER_CONFIG__INSTANCE__DATA_DIR", dir.to_path_buf()),
        ("FLUXER_CONFIG__DATABASE__PATH", dir.join("fluxer.db")),
    ];
    Config::load(
        None,
        vars.map(|(k, v)| (k.to_owned(), v.display().to_string())),
    )
    .unwrap()
}

fn blob(dir: &Path, name: &str, content: &[u8]) {
    let path = dir.join("blobs/objects").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

#[test]
fn backups_are_incremental_and_restore_only_what_they_hold() {
    let source = temp("source");
    let store = fluxer_storage::sqlite::SqliteStore::open(source.join("fluxer.db")).unwrap();
    drop(store);
    blob(&source, "a/one", b"one");
    blob(&source, "a/two", b"two");
    blob(&source, "a/staged#1", b"being written");
    let config = config_in(&source);
    let target = temp("backup");
    let first = backup(&config, &target, &BackupOptions::default(), |_| {}).unwrap();
    assert_eq!((first.copied_files, first.unchanged_files), (2, 0));
    let paths: Vec<_> = first
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        paths,
        ["database.db", "blobs/objects/a/one", "blobs/objects/a/two"],
        "no queue or secret yet, no file being written"
    );

    // One blob gone, one new: only the new one is copied, the gone one removed.
    std::fs::remove_file(source.join("blobs/objects/a/one")).unwrap();
    blob(&source, "b/three", b"three");
    let second = backup(&config, &target, &BackupOptions::default(), |_| {}).unwrap();
    assert_eq!(
        (
            second.copied_files,
            second.unchanged_files,
            second.removed_files
        ),
        (1, 1, 1)
    );
    assert!(!target.join("blobs/objects/a/one").exists());

    let restored = temp("restored");
    let report = restore(&config_in(&restored), &target, |_| {}).unwrap();
    assert_eq!(report.files, 3);
    assert!(report.needs_reindex);
    assert_eq!(
        std::fs::read(restored.join("blobs/objects/b/three")).unwrap(),
        b"three"
    );
    assert!(restored.join("fluxer.db").exists());

    // A directory holding something else is not taken over.
    let other = temp("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"mine").unwrap();
    assert!(matches!(
        backup(&config, &other, &BackupOptions::default(), |_| {}),
        Err(BackupError::Refused(_))
    ));
    // Nor one inside what it copies.
    assert!(matches!(
        backup(
            &config,
            &source.join("blobs/backup"),
            &BackupOptions::default(),
            |_| {}
        ),
        Err(BackupError::Refused(_))
    ));
    assert!(!source.join("blobs/backup").exists());
    for dir in [source, target, restored, other] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn a_missing_file_is_refused_before_anything_is_written() {
    let source = temp("source");
    drop(fluxer_storage::sqlite::SqliteStore::open(source.join("fluxer.db")).unwrap());
    blob(&source, "x", b"x");
    let target = temp("backup");
    backup(
        &config_in(&source),
        &target,
        &BackupOptions::default(),
        |_| {},
    )
    .unwrap();
    std::fs::remove_file(target.join("blobs/objects/x")).unwrap();
    let restored = temp("restored");
    assert!(matches!(
        restore(&config_in(&restored), &target, |_| {}),
        Err(BackupError::Corrupt(_))
    ));
    assert!(!restored.exists());
    for dir in [source, target] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}
