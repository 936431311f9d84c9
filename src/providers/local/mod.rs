//! STUB (replaced by the local branch).
use crate::providers::*;
use std::path::PathBuf;
#[derive(Default)]
pub struct FileCache;
impl FileCache {
    pub fn to_bytes(&self) -> Vec<u8> {
        todo!()
    }
    pub fn from_bytes(_b: &[u8]) -> FileCache {
        todo!()
    }
}
pub struct LocalProvider;
#[allow(unused)]
impl LocalProvider {
    pub fn new(
        account: impl Into<String>,
        root: impl Into<PathBuf>,
        default_tz: chrono_tz::Tz,
    ) -> Self {
        todo!()
    }
    pub fn fetch(&self, window: Window, cache: &mut FileCache) -> Result<Snapshot, ProviderError> {
        todo!()
    }
    pub fn write_occurrence(&self, w: &OccurrenceWrite) -> Result<WriteOutcome, ProviderError> {
        todo!()
    }
    pub fn create_series(&self, s: &NewSeries) -> Result<WriteOutcome, ProviderError> {
        todo!()
    }
}
