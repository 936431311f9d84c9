//! [`TokenStore`]: an account's refresh token, persisted as one owner-only file
//! `{state_dir}/credentials/{account, hex}.token` (directory 0700). Every new token replaces the old
//! one atomically (temporary file, fsync, rename, fsync of the directory), so a crash never leaves
//! a half-written token and a rotating refresh token is never lost. Plain files, not the database,
//! so `oneonone auth` can store a token while the daemon holds the database.
use super::AuthError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The stored refresh token of one account.
#[derive(Debug, Clone)]
pub struct TokenStore {
    account: String,
    path: PathBuf,
}

impl TokenStore {
    pub fn new(state_dir: &Path, account: &str) -> TokenStore {
        let hex: String = account.bytes().map(|b| format!("{b:02x}")).collect();
        TokenStore {
            account: account.to_string(),
            path: state_dir.join("credentials").join(format!("{hex}.token")),
        }
    }

    /// Where the token is kept (for messages; never print the content).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, operation: &'static str, e: impl std::fmt::Display) -> AuthError {
        AuthError::TokenStore {
            account: self.account.clone(),
            operation,
            reason: e.to_string(),
        }
    }

    /// The stored token, `None` when there is none yet.
    pub fn load(&self) -> Result<Option<String>, AuthError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => String::from_utf8(bytes)
                .map(|t| Some(t.trim().to_string()).filter(|t| !t.is_empty()))
                .map_err(|_| self.err("read", "the file is not UTF-8")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err("read", e)),
        }
    }

    /// Replace the stored token atomically; the file is 0600, its directory 0700.
    pub fn save(&self, token: &str) -> Result<(), AuthError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| self.err("write", e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| self.err("write", e))?;
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| self.err("write", e))?;
        f.write_all(token.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| self.err("write", e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.err("write", e))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.err("write", e))
    }

    /// Forget the stored token (after the provider said it is revoked).
    pub fn clear(&self) -> Result<(), AuthError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err("remove", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn tokens_are_replaced_atomically_and_private() -> Result<(), AuthError> {
        let dir = tempfile::tempdir().map_err(|e| AuthError::SecretFile {
            path: "tmp".into(),
            reason: e.to_string(),
        })?;
        let s = TokenStore::new(dir.path(), "m365");
        assert_eq!(s.load()?, None);
        s.save("first")?;
        s.save("second")?;
        assert_eq!(s.load()?.as_deref(), Some("second"));
        let mode = std::fs::metadata(s.path())
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600);
        let dir_mode = s
            .path()
            .parent()
            .and_then(|d| std::fs::metadata(d).ok())
            .map(|m| m.permissions().mode() & 0o777);
        assert_eq!(dir_mode, Some(0o700));
        assert!(TokenStore::new(dir.path(), "other").load()?.is_none());
        s.clear()?;
        assert_eq!(s.load()?, None);
        Ok(())
    }
}
