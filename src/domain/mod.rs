//! The pure core: 1:1 detection, occurrence status, cadence/duration/cancellation findings, the
//! managed description block and agenda carry-over. Architecture Invariant: nothing in here does I/O
//! or reads the clock; `now` is always an argument, and the domain never fails: odd data becomes a
//! finding, not an error.
pub mod agenda;
pub mod block;
pub mod detect;
pub mod hash;
pub mod model;
pub mod rules;

pub use model::*;
