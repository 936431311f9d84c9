//! The keys of a `provider = "local"` account: `path` (the vdir), `example` (generate the example
//! organisation there) and `owners` (whose calendar each folder is: `{ "alice" = "alice@acme.test" }`,
//! `"."` for the root folder; a folder named by an email address needs no entry). Read and validated
//! here, each problem reported at its key.
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
    /// Folder name (relative to `path`, `.` for the root) → the email of the person whose calendar
    /// it is. Their own events there are busy time for fix mode's slot finder, and only the
    /// organizer's copy of a meeting is written.
    pub owners: Vec<(String, String)>,
}

impl LocalSettings {
    /// The keys a local account may have besides `name` and `provider`.
    pub const KEYS: &'static [&'static str] = &["path", "example", "owners"];

    /// Read the keys; `None` when something was wrong (reported).
    pub fn parse(keys: &mut AccountKeys<'_, '_, '_, '_>) -> Option<LocalSettings> {
        keys.reject_unknown("local", Self::KEYS);
        let example = keys.boolean("example").unwrap_or(false);
        let owners = keys.string_map("owners").unwrap_or_default();
        let mut ok = true;
        for (folder, email) in &owners {
            if let Err(e) = check_owner(folder, email) {
                keys.error_in_table("owners", folder, &e);
                ok = false;
            }
        }
        let path = keys.path("path", true)?;
        if let Err(e) = check_dir(&path, example) {
            keys.error("path", &e);
            return None;
        }
        ok.then(|| LocalSettings {
            path,
            example,
            owners: owners
                .into_iter()
                .map(|(f, e)| (f, e.trim().to_lowercase()))
                .collect(),
        })
    }
}

/// An owners entry: a plain folder name (or `.`) and an email.
fn check_owner(folder: &str, email: &str) -> Result<(), String> {
    if folder.is_empty() || (folder != "." && (folder.contains('/') || folder.starts_with('.'))) {
        return Err(format!(
            "{folder:?} is not a folder name inside path (use the sub-folder's name, or \".\" for path itself)"
        ));
    }
    let e = email.trim();
    match e.split_once('@') {
        Some((l, d)) if !l.is_empty() && !d.is_empty() && !e.contains(char::is_whitespace) => {
            Ok(())
        }
        _ => Err(format!("invalid email {email:?}: expected name@domain")),
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
