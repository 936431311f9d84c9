//! (to be written) sled behind a typed, versioned API.
pub mod records;
pub use records::*;
