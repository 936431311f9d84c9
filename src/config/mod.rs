//! STUB (replaced by the config branch).
use crate::domain::{Cadence, CancellationPolicy, Enforce, Pair};
use std::path::{Path, PathBuf};
pub struct Settings {
    pub source: PathBuf,
    pub daemon: DaemonSettings,
    pub accounts: Vec<AccountSettings>,
    pub defaults: Defaults,
    pub pairs: Vec<Pair>,
    pub notify: NotifySettings,
}
pub struct DaemonSettings {
    pub state_dir: PathBuf,
    pub poll_interval: std::time::Duration,
    pub horizon: chrono::Duration,
    pub lookback: chrono::Duration,
    pub timezone: chrono_tz::Tz,
    pub public_url: String,
    pub listen: std::net::SocketAddr,
    pub dry_run: bool,
}
pub struct AccountSettings {
    pub name: String,
    pub provider: ProviderSettings,
}
pub enum ProviderSettings {
    Local { path: PathBuf, example: bool },
}
pub struct Defaults {
    pub cadence: Cadence,
    pub duration: chrono::Duration,
    pub enforce: Enforce,
    pub cancellations: CancellationPolicy,
}
pub struct NotifySettings {
    pub webhook_url: Option<String>,
}
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}
impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)
    }
}
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);
impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "x")
    }
}
impl std::error::Error for ConfigErrors {}
pub fn load(_path: &Path) -> Result<Settings, ConfigErrors> {
    todo!()
}
