//! # oneonone
//!
//! A daemon that keeps managers' 1:1 meetings healthy: it reads calendars, detects the 1:1s of the
//! configured pairs, checks cadence, duration and cancellations, and writes an agenda link with the
//! carried-over items into each upcoming 1:1.
//!
//! ## Layout
//! - `domain`:    pure model and rules (detection, findings, agenda carry-over). No I/O, no clock.
//! - `sync`:      pure planner: `plan(inputs) -> Plan`. No I/O, no clock.
//! - `providers`: the `Provider` trait and its implementations; `providers::local` reads and
//!   writes a vdir of `.ics` files, `providers::memory` holds calendars in memory (tests).
//! - `store`:     sled behind a typed, versioned API (history, findings, agendas, provider state).
//! - `auth`:      credentials for remote providers: the oauth2 HTTP adapter, secret files, stored
//!   refresh tokens.
//! - `config`:    the TOML settings, env overrides, and `file:line:col` validation errors.
//! - `memory`:    the allocator's tunables (few malloc arenas; trimming after a cycle).
//! - `metrics`:   the Prometheus metric names and recorder (`/metrics` on the admin listener).
//! - `notify`:    findings, digests and nudges as messages: routing (pure), rendering for Slack,
//!   Teams, JSON and email, the outbox and the senders.
//! - `views`:     the read model of `status` and `meetings` (CLI output, admin API).
//! - `web`:       axum: the public agenda pages, and the admin status page.
//! - `daemon`:    the engine, the poll loop, signals, systemd notify; owns the only clock.
//! - `cli`:       the subcommands.
//! - `example`:   the example organisation generated relative to today.
pub mod auth;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod domain;
pub mod example;
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod providers;
pub mod store;
pub mod sync;
pub mod views;
pub mod web;
