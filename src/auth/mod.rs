//! Credentials shared by the remote providers: the `oauth2` crate's HTTP client over our one
//! reqwest ([`OAuthHttp`]), secrets read from files ([`read_secret_file`], with a permission check
//! `oneonone check` also runs), and the persisted refresh tokens ([`TokenStore`]: one owner-only
//! file per account in the state directory, replaced atomically, readable without opening the
//! database so `oneonone auth` works while the daemon runs).
//!
//! Invariants: no secret (token, key, client secret) is ever formatted into an error or a log line
//! (errors name the file, never its content); files holding secrets are created 0600.
mod http_client;
mod token_store;

pub use http_client::OAuthHttp;
pub use token_store::TokenStore;

use std::path::Path;

/// What went wrong with a credential, named for what the admin can do about it.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A secret file could not be read (missing, permissions, not UTF-8, empty).
    #[error("cannot read the secret file {path}: {reason}")]
    SecretFile { path: String, reason: String },
    /// The stored token of an account could not be read or written.
    #[error("cannot {operation} the stored token of account {account}: {reason}")]
    TokenStore {
        account: String,
        operation: &'static str,
        reason: String,
    },
}

/// Read a file holding one secret (a client secret, a key). A trailing newline is dropped; the
/// rest is kept as is. The content never appears in an error.
pub fn read_secret_file(path: &Path) -> Result<String, AuthError> {
    let err = |reason: String| AuthError::SecretFile {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| err("it is not UTF-8 text".into()))?;
    let secret = text.strip_suffix('\n').unwrap_or(&text);
    let secret = secret.strip_suffix('\r').unwrap_or(secret);
    if secret.trim().is_empty() {
        return Err(err("it is empty".into()));
    }
    Ok(secret.to_string())
}

/// Why a file holding a secret is too open (group or others may read it), if it is.
pub fn secret_file_too_open(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} holds a secret but is readable by group or others (mode {:o}); run chmod 600",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secret_files_lose_one_trailing_newline_and_never_show_their_content() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("secret");
        std::fs::write(&p, "s3cr3t value\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_secret_file(&p).ok().as_deref(), Some("s3cr3t value"));
        let warning = secret_file_too_open(&p).unwrap_or_default();
        assert!(warning.contains("chmod 600") && !warning.contains("s3cr3t"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(secret_file_too_open(&p), None);
        std::fs::write(&p, "\n").unwrap_or_else(|e| panic!("{e}"));
        let e = read_secret_file(&p)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("empty"), "{e}");
        let missing = read_secret_file(&dir.path().join("nope"));
        assert!(missing.is_err());
    }
}
