//! `twgate plugins`: the built-in plugins, as they describe themselves.

use super::Context;
use crate::builtin::BUILTIN;
use anyhow::Result;

pub fn plugins(ctx: &Context) -> Result<()> {
    let runtime = ctx.runtime()?;
    println!("{:<10} {:<9} {:<64}  SUMMARY", "NAME", "VERSION", "SHA256");
    for plugin in BUILTIN {
        let info = runtime.info(plugin)?;
        println!(
            "{:<10} {:<9} {:<64}  {}",
            info.name, info.version, plugin.sha256, info.summary
        );
    }
    Ok(())
}
