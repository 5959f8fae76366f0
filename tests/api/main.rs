//! Black-box tests: every test starts a real server and drives it over HTTP, once on SQLite and
//! once on PostgreSQL (`both_stores!`).
// The lint wall guards the service's request paths; test code may panic on what it did not expect.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod common;

mod acl;
mod bootstrap;
mod browser;
mod bruteforce;
mod cache;
mod cli;
mod compat;
mod db_faults;
mod hardening;
mod headers;
mod hostile_input;
mod lists;
mod oauth2;
mod oauth2_authorize;
mod oauth2_clients;
mod oauth2_device;
mod oidc;
mod openapi;
mod ops;
mod policies;
mod proptests;
mod protected;
mod purge;
mod races;
mod readme;
mod refresh_tokens;
mod rotation;
mod routing;
mod scoped_refresh;
mod security;
mod sessions;
mod token_create;
mod token_secret;
mod upgrade;
mod users;
mod validation;
