//! STUB (replaced by the store branch).
use crate::store::{AgendaItemRecord, OccurrenceRecord};
use chrono::{DateTime, Utc};
pub struct DocItem<'a> {
    pub item: &'a AgendaItemRecord,
    pub carried_over: bool,
    pub times_carried: u32,
    pub done_here: bool,
}
pub fn carried_into<'a>(
    _items: &'a [AgendaItemRecord],
    _history: &[OccurrenceRecord],
    _doc_instance: &str,
    _doc_start: DateTime<Utc>,
) -> Vec<DocItem<'a>> {
    todo!()
}
