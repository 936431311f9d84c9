//! STUB (replaced by the store branch).
pub mod records;
use chrono::{DateTime, Utc};
pub use records::*;
use std::path::Path;
#[derive(Debug, thiserror::Error)]
#[error("store")]
pub struct StoreError;
#[derive(Clone)]
pub struct Store;
#[allow(unused)]
impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        todo!()
    }
    pub fn flush(&self) -> Result<(), StoreError> {
        todo!()
    }
    pub fn sync_state(&self, account: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        todo!()
    }
    pub fn set_sync_state(&self, account: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        todo!()
    }
    pub fn occurrences(&self, pair_id: &str) -> Result<Vec<OccurrenceRecord>, StoreError> {
        todo!()
    }
    pub fn update_occurrences(
        &self,
        pair_id: &str,
        upsert: &[OccurrenceRecord],
        remove: &[String],
    ) -> Result<(), StoreError> {
        todo!()
    }
    pub fn findings(&self, pair_id: &str) -> Result<Vec<FindingRecord>, StoreError> {
        todo!()
    }
    pub fn set_findings(&self, pair_id: &str, active: &[FindingRecord]) -> Result<(), StoreError> {
        todo!()
    }
    pub fn agenda_doc(&self, token: &str) -> Result<Option<AgendaDocRecord>, StoreError> {
        todo!()
    }
    pub fn agenda_doc_for(
        &self,
        pair_id: &str,
        instance_id: &str,
    ) -> Result<Option<AgendaDocRecord>, StoreError> {
        todo!()
    }
    pub fn ensure_agenda_doc(
        &self,
        pair_id: &str,
        instance_id: &str,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<AgendaDocRecord, StoreError> {
        todo!()
    }
    pub fn agenda_items(&self, pair_id: &str) -> Result<Vec<AgendaItemRecord>, StoreError> {
        todo!()
    }
    pub fn put_agenda_item(&self, item: &AgendaItemRecord) -> Result<(), StoreError> {
        todo!()
    }
    pub fn write_record(
        &self,
        account: &str,
        instance_id: &str,
    ) -> Result<Option<WriteRecord>, StoreError> {
        todo!()
    }
    pub fn put_write_record(&self, rec: &WriteRecord) -> Result<(), StoreError> {
        todo!()
    }
}
