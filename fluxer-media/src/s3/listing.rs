//! `ListObjectsV2` and `ListObjects` (v1) over a bucket directory.
//!
//! Keys come out in S3's order (by UTF-8 bytes) from a depth-first walk that sorts each directory's
//! entries with a `/` after directory names: every key under `a/` sorts after `a-x` and before `a0`, as
//! the key strings do. The walk skips subtrees that hold nothing after the continuation point or inside
//! the prefix, and stops once a page is full, so a page costs about its size, not the bucket's.

use std::ops::ControlFlow;
use std::path::Path;

use base64::Engine;

use super::error::S3Error;
use super::fs::{ObjectMeta, read_meta};

/// Where a page starts: after a key, or after every key starting with a common prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum After {
    Start,
    Key(String),
    Prefix(String),
}

impl After {
    fn excludes_key(&self, key: &str) -> bool {
        match self {
            After::Start => false,
            After::Key(after) => key <= after.as_str(),
            After::Prefix(prefix) => key.starts_with(prefix.as_str()) || key < prefix.as_str(),
        }
    }

    /// Whether no key starting with `dir` (which ends with `/`) comes after this point.
    fn excludes_subtree(&self, dir: &str) -> bool {
        let bound = match self {
            After::Start => return false,
            After::Key(key) => key,
            After::Prefix(prefix) => {
                if dir.starts_with(prefix.as_str()) {
                    return true;
                }
                prefix
            }
        };
        !bound.starts_with(dir) && dir < bound.as_str()
    }

    /// The opaque continuation token for this point.
    pub(super) fn token(&self) -> String {
        let raw = match self {
            After::Start => String::new(),
            After::Key(key) => format!("k{key}"),
            After::Prefix(prefix) => format!("p{prefix}"),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    pub(super) fn from_token(token: &str) -> Result<Self, S3Error> {
        let invalid = || S3Error::invalid_argument("The continuation token provided is incorrect");
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| invalid())?;
        let raw = String::from_utf8(raw).map_err(|_| invalid())?;
        match raw.split_at_checked(1) {
            Some(("k", key)) => Ok(After::Key(key.to_owned())),
            Some(("p", prefix)) => Ok(After::Prefix(prefix.to_owned())),
            _ => Err(invalid()),
        }
    }

    /// The point after a client-given key (`start-after`, `marker`): when it is itself a common prefix
    /// of this listing, after everything under it.
    pub(super) fn from_marker(marker: &str, prefix: &str, delimiter: Option<&str>) -> Self {
        if marker.is_empty() {
            return After::Start;
        }
        if let Some(delimiter) = delimiter
            && let Some(rest) = marker.strip_prefix(prefix)
            && let Some(at) = rest.find(delimiter)
            && at + delimiter.len() == rest.len()
        {
            return After::Prefix(marker.to_owned());
        }
        After::Key(marker.to_owned())
    }
}

/// One page of a listing.
#[derive(Debug, Default)]
pub(super) struct Page {
    pub objects: Vec<(String, ObjectMeta)>,
    pub common_prefixes: Vec<String>,
    /// Where the next page starts, when there is one.
    pub next: Option<After>,
}

impl Page {
    pub(super) fn len(&self) -> usize {
        self.objects.len() + self.common_prefixes.len()
    }
}

/// Lists up to `max` keys and common prefixes of the bucket at `bucket_dir` (sidecars under
/// `meta_dir`). Blocking.
pub(super) fn list(
    bucket_dir: &Path,
    meta_dir: &Path,
    prefix: &str,
    delimiter: Option<&str>,
    after: After,
    max: usize,
) -> std::io::Result<Page> {
    let mut lister = Lister {
        meta_dir,
        prefix,
        delimiter: delimiter.filter(|d| !d.is_empty()),
        after,
        max,
        page: Page::default(),
    };
    // Stopped on a full page or walked to the end: either way the page is complete.
    let _: ControlFlow<()> = lister.walk(bucket_dir, "")?;
    Ok(lister.page)
}

/// Whether the bucket holds any object. Blocking.
pub(super) fn is_empty(bucket_dir: &Path, meta_dir: &Path) -> std::io::Result<bool> {
    Ok(list(bucket_dir, meta_dir, "", None, After::Start, 1)?.len() == 0)
}

struct Lister<'a> {
    meta_dir: &'a Path,
    prefix: &'a str,
    delimiter: Option<&'a str>,
    after: After,
    max: usize,
    page: Page,
}

impl Lister<'_> {
    /// Walks `dir`, whose keys start with `relative`.
    fn walk(&mut self, dir: &Path, relative: &str) -> std::io::Result<ControlFlow<()>> {
        let mut entries = Vec::new();
        let read = match std::fs::read_dir(dir) {
            Ok(read) => read,
            // Removed since its parent was read (a concurrent delete pruned it).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ControlFlow::Continue(()));
            }
            Err(e) => return Err(e),
        };
        for entry in read {
            let entry = entry?;
            // Keys are UTF-8; a file named otherwise was not written through S3.
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                entries.push((format!("{relative}{name}/"), true));
            } else if file_type.is_file() {
                entries.push((format!("{relative}{name}"), false));
            }
        }
        entries.sort_unstable();
        for (path, is_dir) in entries {
            // Past the prefix (and not a directory leading into it): nothing later matches either.
            let related = path.starts_with(self.prefix) || self.prefix.starts_with(path.as_str());
            if !related {
                if path.as_str() > self.prefix {
                    break;
                }
                continue;
            }
            if is_dir {
                if self.after.excludes_subtree(&path) {
                    continue;
                }
                if self.walk(&dir.join(path_name(&path)), &path)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            } else if path.starts_with(self.prefix)
                && !self.after.excludes_key(&path)
                && self.accept(dir, path).is_break()
            {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn accept(&mut self, dir: &Path, key: String) -> ControlFlow<()> {
        let common = self.delimiter.and_then(|delimiter| {
            let rest = &key[self.prefix.len()..];
            rest.find(delimiter)
                .map(|at| key[..self.prefix.len() + at + delimiter.len()].to_owned())
        });
        if self.page.len() >= self.max {
            // One more entry exists: the page is full and the listing is truncated (a page of
            // `max-keys=0` asks for nothing and is not truncated, as on S3).
            if self.max > 0 {
                self.page.next = Some(self.after.clone());
            }
            return ControlFlow::Break(());
        }
        match common {
            Some(common) => {
                self.after = After::Prefix(common.clone());
                self.page.common_prefixes.push(common);
            }
            None => {
                let file = dir.join(path_name(&key));
                let Ok(stat) = std::fs::metadata(&file) else {
                    return ControlFlow::Continue(()); // Deleted meanwhile.
                };
                let meta = read_meta(&self.meta_dir.join(&key), &stat);
                self.after = After::Key(key.clone());
                self.page.objects.push((key, meta));
            }
        }
        ControlFlow::Continue(())
    }
}

/// The last segment of a relative key or directory path.
fn path_name(path: &str) -> &str {
    let path = path.strip_suffix('/').unwrap_or(path);
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(keys: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let bucket = dir.path().join("b");
        let meta = dir.path().join("m");
        for key in keys {
            let path = bucket.join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, key.as_bytes()).unwrap();
        }
        (dir, bucket, meta)
    }

    fn keys(page: &Page) -> Vec<&str> {
        page.objects.iter().map(|(k, _)| k.as_str()).collect()
    }

    const KEYS: &[&str] = &[
        "a-x",
        "a/b",
        "a/c/d",
        "a0",
        "b",
        "photos/2024/x.jpg",
        "photos/y.jpg",
    ];

    #[test]
    fn keys_come_out_in_byte_order() {
        let (_dir, bucket, meta) = tree(KEYS);
        let page = list(&bucket, &meta, "", None, After::Start, 100).unwrap();
        assert_eq!(keys(&page), KEYS);
        assert_eq!(page.next, None);
    }

    #[test]
    fn pages_continue_where_they_stopped() {
        let (_dir, bucket, meta) = tree(KEYS);
        let mut after = After::Start;
        let mut seen = Vec::new();
        loop {
            let page = list(&bucket, &meta, "", None, after.clone(), 2).unwrap();
            seen.extend(keys(&page).into_iter().map(str::to_owned));
            match page.next {
                Some(next) => after = After::from_token(&next.token()).unwrap(),
                None => break,
            }
        }
        assert_eq!(seen, KEYS);
    }

    #[test]
    fn delimiter_groups_common_prefixes() {
        let (_dir, bucket, meta) = tree(KEYS);
        let page = list(&bucket, &meta, "", Some("/"), After::Start, 100).unwrap();
        assert_eq!(keys(&page), ["a-x", "a0", "b"]);
        assert_eq!(page.common_prefixes, ["a/", "photos/"]);

        let page = list(&bucket, &meta, "photos/", Some("/"), After::Start, 100).unwrap();
        assert_eq!(keys(&page), ["photos/y.jpg"]);
        assert_eq!(page.common_prefixes, ["photos/2024/"]);

        // One entry per page, common prefixes included.
        let first = list(&bucket, &meta, "", Some("/"), After::Start, 2).unwrap();
        assert_eq!(
            (keys(&first), first.common_prefixes.clone()),
            (vec!["a-x"], vec!["a/".to_owned()])
        );
        let second = list(&bucket, &meta, "", Some("/"), first.next.unwrap(), 2).unwrap();
        assert_eq!(keys(&second), ["a0", "b"]);
        let third = list(&bucket, &meta, "", Some("/"), second.next.unwrap(), 2).unwrap();
        assert_eq!(third.common_prefixes, ["photos/"]);
        assert_eq!(third.next, None);
    }

    #[test]
    fn an_empty_page_is_not_truncated() {
        let (_dir, bucket, meta) = tree(KEYS);
        let page = list(&bucket, &meta, "", None, After::Start, 0).unwrap();
        assert_eq!((page.len(), page.next), (0, None));
    }

    #[test]
    fn prefixes_are_plain_strings() {
        let (_dir, bucket, meta) = tree(KEYS);
        let page = list(&bucket, &meta, "a", None, After::Start, 100).unwrap();
        assert_eq!(keys(&page), ["a-x", "a/b", "a/c/d", "a0"]);
        let page = list(&bucket, &meta, "a/c", None, After::Start, 100).unwrap();
        assert_eq!(keys(&page), ["a/c/d"]);
        let page = list(&bucket, &meta, "photos/2", Some("/"), After::Start, 100).unwrap();
        assert_eq!(page.common_prefixes, ["photos/2024/"]);
        let after = After::from_marker("a/b", "", None);
        let page = list(&bucket, &meta, "", None, after, 100).unwrap();
        assert_eq!(
            keys(&page),
            ["a/c/d", "a0", "b", "photos/2024/x.jpg", "photos/y.jpg"]
        );
        let after = After::from_marker("a/", "", Some("/"));
        let page = list(&bucket, &meta, "", Some("/"), after, 100).unwrap();
        assert_eq!(keys(&page), ["a0", "b"]);
    }
}
