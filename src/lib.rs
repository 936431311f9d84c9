//! # oneonone
//!
//! A daemon that keeps managers' 1:1 meetings healthy: it reads calendars, detects the 1:1s of the
//! configured pairs, checks cadence, duration and cancellations, and writes an agenda link with the
//! carried-over items into each upcoming 1:1.
//!
//! ## Layout
//! - `domain`:    pure model and rules (detection, findings, agenda carry-over). No I/O, no clock.
//! - `sync`:      pure planner: `plan(now, pairs, history, snapshot) -> Plan`. No I/O, no clock.
//! - `providers`: calendar sources; `providers::local` reads and writes a vdir of `.ics` files.
//! - `store`:     sled behind a typed, versioned API (history, findings, agendas, sync state).
//! - `config`:    the TOML settings, env overrides, and `file:line:col` validation errors.
//! - `web`:       axum server: agenda documents, status page, health.
//! - `daemon`:    the poll loop, signals, systemd notify; owns the only clock.
//! - `cli`:       the subcommands.
//! - `example`:   the example organisation generated relative to today.
pub mod cli;
pub mod config;
pub mod daemon;
pub mod domain;
pub mod example;
pub mod providers;
pub mod store;
pub mod sync;
pub mod web;
