//! The pure core: 1:1 detection, occurrence status and history, cadence/duration/cancellation
//! findings, the managed description block, agenda carry-over, goals and notes, and the link formats. Architecture
//! Invariant: nothing in here does I/O, reads the clock or makes randomness; `now` (and fresh
//! tokens) are always arguments, and the domain never fails: odd data becomes a finding, not an
//! error. Nothing here derives `Serialize`: the store and the views have their own records.
pub mod agenda;
pub mod block;
pub mod detect;
pub mod goals;
pub mod hash;
pub mod history;
pub mod links;
pub mod model;
pub mod notes;
pub mod rules;

pub use history::{MarkState, Occurrence, OccurrenceStatus, SeenIn, WriteMark};
pub use model::*;
