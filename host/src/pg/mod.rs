//! PostgreSQL, as twgate drives it: finding the server programs, running them as the right
//! OS user, a throwaway cluster for drills, a base backup streamed into a data directory
//! with its recovery settings, and connections (libpq's `PG*` variables, or a cluster's
//! private socket). Knows nothing of stores or plugins: callers hand it bytes and settings.

pub mod basebackup;
pub mod cluster;
pub mod connect;
pub mod os_user;
pub mod programs;
