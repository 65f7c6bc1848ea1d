//! `twgate pg check`: WAL archiving checked end to end on a running server, found through
//! libpq's `PG*` variables. It forces a WAL switch, waits until the completed file is in the
//! archive (failing early when the server's archiver reports that archive_command failed),
//! fetches it back through the same pipeline as `wal fetch`, and compares it with the
//! server's own copy when the server lets it be read, else checks its first page header
//! against its name.

use super::{pull, Context};
use crate::backup::{Purpose, Sink};
use crate::cli::PgCheckArgs;
use crate::metrics::Moved;
use crate::pg::connect;
use crate::storage::{validate_name, StorageError, Store};
use crate::ui;
use anyhow::{anyhow, bail, Context as _, Result};
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

/// How often the store and the server's archiver are asked while waiting.
const POLL: Duration = Duration::from_millis(500);
/// How long a file the archiver reports archived may stay absent from the store before
/// the check concludes that archive_command writes somewhere else.
const ARCHIVED_ELSEWHERE_GRACE: Duration = Duration::from_secs(2);
/// Bytes of the fetched file kept for the page header check: XLogLongPageHeaderData.
const LONG_PAGE_HEADER: usize = 40;

pub async fn check(ctx: &Context, args: PgCheckArgs) -> Result<Moved> {
    validate_name(&args.archive)?;
    let config = connect::from_env()?;
    let target = connect::describe_target(&config);
    let client = tokio::time::timeout(args.timeout, connect::connect(&config))
        .await
        .map_err(|_| {
            anyhow!(
                "cannot connect to PostgreSQL at {target}: no answer within {}",
                ui::age(args.timeout)
            )
        })??;
    let server = Server { client, target };

    // 1. The settings archiving needs.
    server.check_settings().await?;

    // 2. A new WAL file: a record first, so that the switch is never a no-op.
    let before = server.archiver().await?;
    server.write_record().await?;
    let segment = server.switch_wal().await?;

    // 3. Wait for it in the archive, or for the archiver to say it failed.
    let (store, to_archive) = wait_for_archive(ctx, &server, &args, &segment, &before).await?;

    // 4. Fetch it back through the pipeline, as restore_command would.
    let spec = format!("{}@{segment}", args.archive);
    let mut sink = HashSink::default();
    let moved = async {
        let (store, mut restore) = pull::open(ctx, &spec, &args.keys, false, false).await?;
        restore.run(&store, &mut sink, Purpose::Verify).await
    }
    .await
    .with_context(|| format!("{segment} is archived, but cannot be fetched back here"))?;
    let fetched = sink.finish();

    let comparison = match server.read_wal_file(&segment).await {
        Ok(copy) => {
            let theirs = blake3::hash(&copy);
            if copy.len() as u64 != fetched.len || theirs != fetched.hash {
                bail!(
                    "{segment} fetched back from archive '{}' differs from the server's copy \
                     ({} against {}; BLAKE3 {} against {}): the archive does not hold what the \
                     server wrote",
                    args.archive,
                    ui::bytes(fetched.len),
                    ui::bytes(copy.len() as u64),
                    &fetched.hash.to_hex()[..16],
                    &theirs.to_hex()[..16],
                );
            }
            Comparison::Identical
        }
        Err(why) => {
            let segment_size = server.wal_segment_size().await.unwrap_or(fetched.len);
            if fetched.len != segment_size {
                bail!(
                    "{segment} fetched back from archive '{}' is {}, but the server's WAL files \
                     are {}",
                    args.archive,
                    ui::bytes(fetched.len),
                    ui::bytes(segment_size)
                );
            }
            check_first_page(&fetched.head, &segment, segment_size).map_err(|problem| {
                anyhow!(
                    "{segment} fetched back from archive '{}' is not that WAL file: {problem}",
                    args.archive
                )
            })?;
            Comparison::HeaderOnly(why)
        }
    };

    // 5. One line (or one object) on stdout.
    let after = server.archiver().await?;
    let seconds = to_archive.as_secs_f64();
    if args.json {
        let report = serde_json::json!({
            "ok": true,
            "segment": segment,
            "archive": args.archive,
            "store": store.location(),
            "seconds_to_archive": (seconds * 1000.0).round() / 1000.0,
            "bytes": fetched.len,
            "compared_with_server": matches!(comparison, Comparison::Identical),
            "not_compared_because": match &comparison {
                Comparison::Identical => None,
                Comparison::HeaderOnly(why) => Some(why),
            },
            "archiver": {
                "archived_count": after.archived_count,
                "failed_count": after.failed_count,
                "last_failed_wal": after.last_failed_wal,
                "last_failed_time": after.last_failed_time,
            },
        });
        crate::outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        let outcome = match &comparison {
            Comparison::Identical => format!(
                "fetched back and identical to the server's copy ({})",
                ui::bytes(fetched.len)
            ),
            Comparison::HeaderOnly(why) => format!(
                "fetched back ({}) with the right first page header; not compared with the \
                 server's copy: {why}",
                ui::bytes(fetched.len)
            ),
        };
        crate::outln!("ok: {segment} archived in {seconds:.1} s, {outcome}")?;
    }
    Ok(moved)
}

/// How the fetched file was checked.
enum Comparison {
    /// Byte for byte (BLAKE3) against the server's `pg_wal` copy.
    Identical,
    /// The server's copy could not be read (why); the first page header matched the name.
    HeaderOnly(String),
}

/// A connected server and how to name it in messages.
struct Server {
    client: Client,
    target: String,
}

/// The server's `pg_stat_archiver`, and the server's clock when it was read.
#[derive(Debug, Clone, Default, PartialEq)]
struct Archiver {
    archived_count: i64,
    failed_count: i64,
    last_archived_wal: Option<String>,
    last_failed_wal: Option<String>,
    /// As the server prints it.
    last_failed_time: Option<String>,
    /// Seconds since the epoch.
    last_failed_epoch: Option<f64>,
    /// The server's clock when this was read, seconds since the epoch.
    read_at_epoch: f64,
}

impl Server {
    /// A failed query, on one line, with what it was for.
    fn failed(&self, what: &str, e: tokio_postgres::Error) -> anyhow::Error {
        anyhow!(
            "{what} on the server at {} failed: {}",
            self.target,
            connect::describe_error(&e)
        )
    }

    /// Fails at once when archiving cannot work: off, minimal WAL, nothing to run, or a
    /// standby (which cannot switch WAL); warns when archive_command does not run twgate.
    async fn check_settings(&self) -> Result<()> {
        let row = self
            .client
            .query_one(
                "SELECT current_setting('archive_mode'), current_setting('archive_command'), \
                 current_setting('wal_level'), current_setting('archive_library', true), \
                 pg_is_in_recovery()",
                &[],
            )
            .await
            .map_err(|e| self.failed("reading the archiving settings", e))?;
        let archive_mode: String = row.get(0);
        let archive_command: String = row.get(1);
        let wal_level: String = row.get(2);
        let archive_library: Option<String> = row.get(3);
        let in_recovery: bool = row.get(4);
        let target = &self.target;
        if archive_mode == "off" {
            bail!(
                "archive_mode is off on the server at {target}: set archive_mode = on in \
                 postgresql.conf and restart PostgreSQL"
            );
        }
        if wal_level == "minimal" {
            bail!(
                "wal_level is minimal on the server at {target}: set wal_level = replica in \
                 postgresql.conf and restart PostgreSQL"
            );
        }
        if in_recovery {
            bail!(
                "the server at {target} is a standby (in recovery) and cannot switch WAL files: \
                 run twgate pg check against the primary"
            );
        }
        match archive_library.filter(|l| !l.is_empty()) {
            Some(library) => ui::warn(&format!(
                "archive_library is '{}': WAL files are archived by that module, not by \
                 archive_command; checking anyway",
                ui::untrusted(&library)
            )),
            None if archive_command.trim().is_empty() => bail!(
                "archive_command is empty on the server at {target}: set archive_command = \
                 'twgate --quiet wal push %p' in postgresql.conf and reload PostgreSQL"
            ),
            None if !archive_command.contains("twgate") => ui::warn(&format!(
                "archive_command ('{}') does not run twgate; checking anyway",
                ui::untrusted(&archive_command)
            )),
            None => {}
        }
        Ok(())
    }

    async fn archiver(&self) -> Result<Archiver> {
        let row = self
            .client
            .query_one(
                "SELECT archived_count, failed_count, last_archived_wal, last_failed_wal, \
                 last_failed_time::text, extract(epoch FROM last_failed_time)::float8, \
                 extract(epoch FROM clock_timestamp())::float8 FROM pg_stat_archiver",
                &[],
            )
            .await
            .map_err(|e| self.failed("reading pg_stat_archiver", e))?;
        Ok(Archiver {
            archived_count: row.get(0),
            failed_count: row.get(1),
            last_archived_wal: row.get(2),
            last_failed_wal: row.get(3),
            last_failed_time: row.get(4),
            last_failed_epoch: row.get(5),
            read_at_epoch: row.get(6),
        })
    }

    /// Writes a WAL record: a restore point, or for a user not allowed to make one, a
    /// transaction id's commit record.
    async fn write_record(&self) -> Result<()> {
        match self
            .client
            .query_one("SELECT pg_create_restore_point('twgate check')::text", &[])
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                self.client
                    .query_one("SELECT pg_current_xact_id()::text", &[])
                    .await
                    .map_err(|e| self.failed("writing a WAL record", e))?;
                Ok(())
            }
            Err(e) => Err(self.failed("pg_create_restore_point", e)),
        }
    }

    /// Switches to a new WAL file; returns the name of the one just completed, which
    /// archive_command must archive.
    async fn switch_wal(&self) -> Result<String> {
        let row = self
            .client
            .query_one("SELECT pg_walfile_name(pg_switch_wal())", &[])
            .await
            .map_err(
                |e| match e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
                    true => anyhow!(
                    "the server at {} refused pg_switch_wal: twgate pg check needs a superuser, \
                     or a user granted EXECUTE on pg_switch_wal",
                    self.target
                ),
                    false => self.failed("pg_switch_wal", e),
                },
            )?;
        let segment: String = row.get(0);
        if parse_segment(&segment).is_none() {
            bail!(
                "the server at {} named '{}' as its WAL file, which is not a WAL file name",
                self.target,
                ui::untrusted(&segment)
            );
        }
        Ok(segment)
    }

    /// The server's copy of `segment`, or why it cannot be read (a short clause).
    async fn read_wal_file(&self, segment: &str) -> Result<Vec<u8>, String> {
        let result = self
            .client
            .query_one(
                "SELECT pg_read_binary_file('pg_wal/' || $1::text)",
                &[&segment],
            )
            .await;
        match result {
            Ok(row) => row.try_get(0).map_err(|e| connect::describe_error(&e)),
            Err(e) => Err(match e.code() {
                Some(code) if *code == SqlState::INSUFFICIENT_PRIVILEGE => {
                    "reading it needs a superuser or pg_read_server_files".into()
                }
                Some(code) if *code == SqlState::UNDEFINED_FILE => "it was already recycled".into(),
                _ => connect::describe_error(&e),
            }),
        }
    }

    /// `wal_segment_size` in bytes, if the server says.
    async fn wal_segment_size(&self) -> Option<u64> {
        let row = self
            .client
            .query_one(
                "SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size' \
                 AND unit = 'B'",
                &[],
            )
            .await
            .ok()?;
        let size: i64 = row.try_get(0).ok()?;
        u64::try_from(size).ok()
    }
}

/// Polls the store for `segment`'s manifest and the server's archiver, until the file is
/// there (returns the store and how long it took), the archiver reports a failure, or the
/// timeout passes.
async fn wait_for_archive(
    ctx: &Context,
    server: &Server,
    args: &PgCheckArgs,
    segment: &str,
    before: &Archiver,
) -> Result<(Store, Duration)> {
    let started = Instant::now();
    let deadline = started + args.timeout;
    let mut next_notice = started + Duration::from_secs(1);
    let mut store: Option<Store> = None;
    // What the store is called in messages, also while it cannot be opened yet.
    let mut store_name = ctx
        .store_url()
        .map(ui::untrusted)
        .unwrap_or_else(|| "the default store".into());
    let mut archived_since: Option<Instant> = None;
    loop {
        if store.is_none() {
            // A store archive_command has not written to yet may not exist yet.
            match ctx.open_store().await {
                Ok(opened) => {
                    store_name = ui::untrusted(opened.location());
                    store = Some(opened);
                }
                Err(e) => match e.downcast_ref::<StorageError>() {
                    Some(StorageError::Missing { store }) => store_name = ui::untrusted(store),
                    _ => return Err(e),
                },
            }
        }
        let found = match &store {
            Some(store) => store.manifest(&args.archive, segment).await?.is_some(),
            None => false,
        };
        if let (true, Some(store)) = (found, store.take()) {
            return Ok((store, started.elapsed()));
        }

        let now = server.archiver().await?;
        if let Some(failure) = archive_failure(before, &now, segment) {
            bail!(failure);
        }
        if archived(&now, segment) {
            let since = *archived_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= ARCHIVED_ELSEWHERE_GRACE {
                bail!(
                    "the server archived {segment}, but it is not in archive '{}' of store \
                     {store_name}: archive_command writes elsewhere (another store, or an \
                     archive name other than --archive {})",
                    args.archive,
                    args.archive
                );
            }
        }
        let at = Instant::now();
        if at >= deadline {
            bail!(
                "{segment} did not arrive in archive '{}' of store {store_name} within {}: the \
                 server's archiver last archived {} and last failed {}",
                args.archive,
                ui::age(args.timeout),
                now.last_archived_wal
                    .as_deref()
                    .map(ui::untrusted)
                    .unwrap_or_else(|| "nothing".into()),
                match (&now.last_failed_wal, &now.last_failed_time) {
                    (Some(wal), Some(time)) =>
                        format!("{} at {}", ui::untrusted(wal), ui::untrusted(time)),
                    (Some(wal), None) => ui::untrusted(wal),
                    _ => "never".into(),
                }
            );
        }
        if at >= next_notice {
            ui::info(&format!(
                "waiting for {segment} to arrive in archive '{}' of store {store_name} ({} so \
                 far, at most {})",
                args.archive,
                ui::age(started.elapsed()),
                ui::age(args.timeout)
            ));
            next_notice = at + Duration::from_secs(10);
        }
        tokio::time::sleep(POLL.min(deadline - at)).await;
    }
}

/// Whether the archiver failed since the check began (`before`): its failure count grew,
/// or its last failure is `segment` and came after. The error to report, if so.
fn archive_failure(before: &Archiver, now: &Archiver, segment: &str) -> Option<String> {
    let grew = now.failed_count - before.failed_count;
    let ours_since = now.last_failed_wal.as_deref() == Some(segment)
        && now
            .last_failed_epoch
            .is_some_and(|at| at >= before.read_at_epoch);
    if grew <= 0 && !ours_since {
        return None;
    }
    let failures = grew.max(1);
    let failed = now
        .last_failed_wal
        .as_deref()
        .map(ui::untrusted)
        .unwrap_or_else(|| segment.to_string());
    let which = match failed == segment {
        true => failed,
        false => format!("{failed}, which the check's file {segment} waits behind"),
    };
    Some(format!(
        "archive_command failed for {which} ({failures} failure{} since the check began; last \
         at {}): see the server log",
        if failures == 1 { "" } else { "s" },
        now.last_failed_time
            .as_deref()
            .map(ui::untrusted)
            .unwrap_or_else(|| "an unknown time".into()),
    ))
}

/// Whether the archiver's last archived file is `segment` or a later file of its timeline
/// (the archiver goes in order).
fn archived(now: &Archiver, segment: &str) -> bool {
    let Some(last) = now.last_archived_wal.as_deref() else {
        return false;
    };
    let Some(last) = last.get(..24).filter(|l| parse_segment(l).is_some()) else {
        return false;
    };
    last[..8] == segment[..8] && last >= segment
}

/// The timeline, log and segment numbers of a WAL file name (24 upper-case hex digits).
fn parse_segment(name: &str) -> Option<(u32, u32, u32)> {
    if name.len() != 24
        || !name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    {
        return None;
    }
    let part = |i: usize| u32::from_str_radix(&name[i * 8..i * 8 + 8], 16).ok();
    Some((part(0)?, part(1)?, part(2)?))
}

/// Checks that `head`, the start of a WAL file of `segment_size` bytes, is the first page
/// of `segment`: PostgreSQL's XLogLongPageHeaderData (little-endian) with a magic number,
/// the long-header flag, a timeline no later than the name's (the first file of a new
/// timeline starts with the old timeline's pages), the segment's start address and size.
/// What is wrong, if anything.
pub(crate) fn check_first_page(
    head: &[u8],
    segment: &str,
    segment_size: u64,
) -> Result<(), String> {
    /// XLP_LONG_HEADER: the first page of every WAL file has the long header.
    const XLP_LONG_HEADER: u16 = 0x0002;
    let (tli, log, seg) =
        parse_segment(segment).ok_or_else(|| format!("{segment} is not a WAL file name"))?;
    if !segment_size.is_power_of_two() || segment_size > 1 << 32 {
        return Err(format!("{segment_size} is not a WAL file size"));
    }
    if head.len() < LONG_PAGE_HEADER {
        return Err(format!(
            "{} bytes, shorter than a WAL page header",
            head.len()
        ));
    }
    let u16_at = |at: usize| u16::from_le_bytes([head[at], head[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(head[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().unwrap());
    let (magic, info, page_tli, page_addr) = (u16_at(0), u16_at(2), u32_at(4), u64_at(8));
    if magic == 0 {
        return Err("its first page has no magic number (xlp_magic is 0)".into());
    }
    if info & XLP_LONG_HEADER == 0 {
        return Err(format!(
            "its first page has no long header (xlp_info {info:#06x})"
        ));
    }
    if page_tli == 0 || page_tli > tli {
        return Err(format!(
            "its first page is of timeline {page_tli}, the name says {tli}"
        ));
    }
    let start = (u64::from(log) << 32) + u64::from(seg) * segment_size;
    if page_addr != start {
        return Err(format!(
            "its first page is at {:X}/{:X}, the name says {:X}/{:X}",
            page_addr >> 32,
            page_addr & 0xffff_ffff,
            start >> 32,
            start & 0xffff_ffff
        ));
    }
    let page_segment_size = u32_at(32);
    if u64::from(page_segment_size) != segment_size {
        return Err(format!(
            "its header says WAL files of {page_segment_size} bytes, not {segment_size}"
        ));
    }
    Ok(())
}

/// What the fetched file hashed to: its BLAKE3, its length and its first bytes.
struct Fetched {
    hash: blake3::Hash,
    len: u64,
    head: Vec<u8>,
}

/// Hashes the restored bytes and keeps the first page header: nothing is written.
#[derive(Default)]
struct HashSink {
    hasher: blake3::Hasher,
    len: u64,
    head: Vec<u8>,
}

impl HashSink {
    fn finish(self) -> Fetched {
        Fetched {
            hash: self.hasher.finalize(),
            len: self.len,
            head: self.head,
        }
    }
}

impl Sink for HashSink {
    async fn write(&mut self, chunk: bytes::Bytes) -> Result<()> {
        let wanted = LONG_PAGE_HEADER.saturating_sub(self.head.len());
        self.head
            .extend_from_slice(&chunk[..wanted.min(chunk.len())]);
        self.hasher.update(&chunk);
        self.len += chunk.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIXTEEN_MIB: u64 = 16 << 20;

    /// A first page header as PostgreSQL 15 writes it on x86-64.
    fn header(tli: u32, page_addr: u64, segment_size: u32) -> Vec<u8> {
        let mut page = vec![0u8; LONG_PAGE_HEADER];
        page[0..2].copy_from_slice(&0xD110u16.to_le_bytes());
        page[2..4].copy_from_slice(&0x0006u16.to_le_bytes()); // XLP_LONG_HEADER | BKP_REMOVABLE
        page[4..8].copy_from_slice(&tli.to_le_bytes());
        page[8..16].copy_from_slice(&page_addr.to_le_bytes());
        page[24..32].copy_from_slice(&7_000_000_000_000_000_000u64.to_le_bytes());
        page[32..36].copy_from_slice(&segment_size.to_le_bytes());
        page[36..40].copy_from_slice(&8192u32.to_le_bytes());
        page
    }

    #[test]
    fn the_first_page_header_must_match_the_file_name() {
        // 0/5000000: log 0, segment 5.
        let good = header(1, 0x0500_0000, 16 << 20);
        assert_eq!(
            check_first_page(&good, "000000010000000000000005", SIXTEEN_MIB),
            Ok(())
        );
        // Timeline 3, 64 MiB WAL files: segment 3 of log 2 starts at 2/C000000.
        let big = header(3, (2 << 32) + 0x0C00_0000, 64 << 20);
        assert_eq!(
            check_first_page(&big, "000000030000000200000003", 64 << 20),
            Ok(())
        );
        let err = check_first_page(&big, "000000030000000200000000", 64 << 20).unwrap_err();
        assert!(err.contains("at 2/C000000, the name says 2/0"), "{err}");
        // The first file of timeline 2 starts with timeline 1's pages.
        let copied = header(1, 0x0500_0000, 16 << 20);
        assert_eq!(
            check_first_page(&copied, "000000020000000000000005", SIXTEEN_MIB),
            Ok(())
        );

        let wrong = |page: Vec<u8>, needle: &str| {
            let err = check_first_page(&page, "000000010000000000000005", SIXTEEN_MIB).unwrap_err();
            assert!(err.contains(needle), "{err}");
        };
        wrong(vec![0; 100], "no magic");
        wrong(good[..20].to_vec(), "shorter than a WAL page header");
        wrong(
            header(2, 0x0500_0000, 16 << 20),
            "timeline 2, the name says 1",
        );
        wrong(header(0, 0x0500_0000, 16 << 20), "timeline 0");
        wrong(
            header(1, 0x0600_0000, 16 << 20),
            "0/6000000, the name says 0/5000000",
        );
        wrong(
            header(1, 0x0500_0000, 1 << 20),
            "WAL files of 1048576 bytes",
        );
        let mut short = good.clone();
        short[2] = 0;
        wrong(short, "no long header");
        // Another segment's bytes under this name.
        assert!(
            check_first_page(&good, "000000010000000100000005", SIXTEEN_MIB)
                .unwrap_err()
                .contains("the name says 1/5000000")
        );
        assert!(check_first_page(&good, "00000001000000000000000g", SIXTEEN_MIB).is_err());
    }

    #[test]
    fn wal_file_names_parse() {
        assert_eq!(
            parse_segment("0000000A00000002000000FF"),
            Some((10, 2, 255))
        );
        for bad in [
            "00000001000000000000000",
            "0000000100000000000000010",
            "0000000a00000002000000ff",
            "00000002.history",
            "../../../etc/passwd12345",
        ] {
            assert_eq!(parse_segment(bad), None, "{bad}");
        }
    }

    fn archiver(failed: i64, last_failed: Option<(&str, f64)>, read_at: f64) -> Archiver {
        Archiver {
            archived_count: 3,
            failed_count: failed,
            last_archived_wal: Some("000000010000000000000004".into()),
            last_failed_wal: last_failed.map(|(wal, _)| wal.into()),
            last_failed_time: last_failed.map(|_| "2026-11-25 09:41:00.5+00".into()),
            last_failed_epoch: last_failed.map(|(_, at)| at),
            read_at_epoch: read_at,
        }
    }

    #[test]
    fn archiver_failures_since_the_check_began_are_reported() {
        const SEGMENT: &str = "000000010000000000000005";
        let before = archiver(2, Some(("000000010000000000000002", 50.0)), 100.0);
        // Nothing new.
        assert_eq!(archive_failure(&before, &before, SEGMENT), None);
        // Three failures of our file.
        let now = archiver(5, Some((SEGMENT, 103.0)), 104.0);
        let err = archive_failure(&before, &now, SEGMENT).unwrap();
        assert_eq!(
            err,
            "archive_command failed for 000000010000000000000005 (3 failures since the check \
             began; last at 2026-11-25 09:41:00.5+00): see the server log"
        );
        // Our file failed after the check began, though the count was reset meanwhile.
        let now = archiver(0, Some((SEGMENT, 101.0)), 104.0);
        assert!(archive_failure(&before, &now, SEGMENT)
            .unwrap()
            .contains("(1 failure since"));
        // An older file fails and ours waits behind it.
        let now = archiver(3, Some(("000000010000000000000003", 101.0)), 104.0);
        assert!(archive_failure(&before, &now, SEGMENT)
            .unwrap()
            .contains("000000010000000000000003, which the check's file 000000010000000000000005 waits behind"));
    }

    #[test]
    fn archived_means_this_file_or_a_later_one_of_its_timeline() {
        let with = |last: Option<&str>| Archiver {
            last_archived_wal: last.map(str::to_string),
            ..Archiver::default()
        };
        const SEGMENT: &str = "000000010000000000000005";
        assert!(!archived(&with(None), SEGMENT));
        assert!(!archived(&with(Some("000000010000000000000004")), SEGMENT));
        assert!(archived(&with(Some(SEGMENT)), SEGMENT));
        assert!(archived(&with(Some("000000010000000000000006")), SEGMENT));
        assert!(archived(
            &with(Some("000000010000000000000005.00000028.backup")),
            SEGMENT
        ));
        assert!(!archived(&with(Some("00000002.history")), SEGMENT));
        assert!(!archived(&with(Some("000000020000000000000006")), SEGMENT));
    }
}
