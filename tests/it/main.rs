//! rinit's integration tests, one crate (one build, one binary): the real
//! binary as a real PID 1, in new PID namespaces, runc containers and a pty.
//! `common` holds what they share; each module covers one area.

mod bounds;
mod celery;
mod check;
mod common;
mod config;
mod container;
mod control;
mod drain;
mod faults;
mod flood;
mod http;
mod import;
mod includes;
mod limits;
mod log_output;
mod migrate;
mod page;
mod reload;
mod schedules;
mod secrets;
mod single_command;
mod supervisor;
mod terminal;
mod wedge;
