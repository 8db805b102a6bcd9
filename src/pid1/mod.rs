//! What rinit does as PID 1 in either mode: the process-wide signal state
//! (signals.rs), the one reaper and the duties of an init (reaper.rs),
//! starting children clean (spawn.rs, its errors in spawn_error.rs, with the
//! `Child` handle in child.rs, the only way to signal a process rinit
//! started), and the single-threaded event loop that waits for all of it
//! (event_loop.rs).

pub mod child;
pub mod event_loop;
mod glibc;
pub mod limits;
pub mod reaper;
pub mod signals;
pub mod spawn;
mod spawn_error;
