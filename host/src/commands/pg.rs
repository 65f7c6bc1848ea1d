//! `twgate pg restore` and `twgate pg check`.

use super::Context;
use crate::cli::PgCommand;
use crate::metrics::Moved;
use anyhow::Result;

pub async fn pg(ctx: &Context, command: PgCommand) -> Result<Moved> {
    match command {
        PgCommand::Restore(args) => super::pg_restore::restore(ctx, args).await,
        PgCommand::Check(args) => super::pg_check::check(ctx, args).await,
    }
}
