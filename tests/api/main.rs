//! Black-box tests: every test starts a real server and drives it over HTTP, once on SQLite and
//! once on PostgreSQL (`both_stores!`).
mod common;

mod acl;
mod bruteforce;
mod cache;
mod cli;
mod db_faults;
mod hardening;
mod headers;
mod hostile_input;
mod lists;
mod openapi;
mod ops;
mod policies;
mod proptests;
mod protected;
mod purge;
mod races;
mod refresh_tokens;
mod routing;
mod sessions;
mod token_create;
mod users;
mod validation;
