//! twgate's integration tests: one test binary (as ripgrep does), one module per area.
//! They run the real `twgate` binary and real plugins; PostgreSQL and the stock tools
//! (`zstd`, `age`, `gpg`) are required, and a missing one fails the test, never skips it.

mod backends;
mod checks;
mod cli;
mod compat;
mod crash;
mod deploy;
mod destination;
mod drill;
mod fault_proxy;
mod fuzz;
mod guide;
mod hostile;
mod interop;
mod memory;
mod pg_check;
mod pitr;
mod plugins;
mod postgres;
mod retention;
mod snapshots;
mod store_behaviour;
mod store_errors;
mod store_faults;
mod untrusted;
mod util;
mod wal;
mod wal_retention;
mod webdav;
