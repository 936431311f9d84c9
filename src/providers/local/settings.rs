//! The keys of a `provider = "local"` account: `path` (the vdir) and `example` (generate the
//! example organisation there). Read and validated here, each problem reported at its key.
use crate::config::AccountKeys;
use std::path::{Path, PathBuf};

/// A local account's validated keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSettings {
    /// The vdir: absolute (resolved against the config file's directory) and readable, unless
    /// `example` is set and it does not exist yet (its parent does).
    pub path: PathBuf,
    /// Generate the example organisation into the folder when it is missing or empty.
    pub example: bool,
}

impl LocalSettings {
    /// The keys a local account may have besides `name` and `provider`.
    pub const KEYS: &'static [&'static str] = &["path", "example"];

    /// Read the keys; `None` when something was wrong (reported).
    pub fn parse(keys: &mut AccountKeys<'_, '_, '_, '_>) -> Option<LocalSettings> {
        keys.reject_unknown("local", Self::KEYS);
        let example = keys.boolean("example").unwrap_or(false);
        let path = keys.path("path", true)?;
        if let Err(e) = check_dir(&path, example) {
            keys.error("path", &e);
            return None;
        }
        Some(LocalSettings { path, example })
    }
}

/// A readable directory, or (with `example`) a missing one whose parent exists.
fn check_dir(path: &Path, example: bool) -> Result<(), String> {
    match std::fs::read_dir(path) {
        Ok(_) => Ok(()),
        Err(e) if example && e.kind() == std::io::ErrorKind::NotFound => match path.parent() {
            Some(parent) if parent.is_dir() => Ok(()),
            Some(parent) => Err(format!(
                "cannot create the example organisation in {}: its parent directory {} does not exist",
                path.display(),
                parent.display()
            )),
            None => Err(format!("cannot read directory {}: {e}", path.display())),
        },
        Err(e) => Err(format!("cannot read directory {}: {e}", path.display())),
    }
}
