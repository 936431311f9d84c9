//! The local vdir provider (to be completed).
pub(crate) mod expand;
pub(crate) mod parse;
pub(crate) mod tz;
