//! The fairshare policy language.
pub mod model;
