//! The client against a real Tessera started in-process (SQLite). Test names never end in a store
//! name: CI counts the service's `::sqlite` and `::postgres` lines.
// Test code may panic on what it did not expect.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod client;
mod common;
mod credential;
mod verify;
