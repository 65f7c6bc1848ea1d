//! Which backups a retention policy keeps, and why: restic's `forget` semantics.
//!
//! - `last N`: the N newest backups;
//! - `within D`: every backup started within D of the *newest* backup (not of now, so
//!   backups that stop arriving are not aged out one by one);
//! - `daily/weekly/monthly N`: for each of the N newest days (ISO weeks, months, in UTC)
//!   that have backups, the newest backup of that day.
//!
//! **Invariant:** the newest backup and the newest verified backup are always kept, whatever
//! the policy says.
//!
//! WAL files are kept for the base backups too (`wal_keep_reason`): a WAL file that a kept
//! base backup needs to be restored stays, whatever the keep rules say of it.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use std::time::Duration;

/// What to keep; every rule adds to what is kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub last: Option<usize>,
    pub within: Option<Duration>,
    pub daily: Option<usize>,
    pub weekly: Option<usize>,
    pub monthly: Option<usize>,
}

impl Policy {
    /// Whether any rule is set.
    pub fn is_set(&self) -> bool {
        *self != Policy::default()
    }
}

/// One backup as retention sees it.
#[derive(Debug, Clone)]
pub struct Backup {
    pub id: String,
    pub at: Timestamp,
    pub verified: bool,
}

/// The verdict on one backup, with every reason it is kept (none: it goes).
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub id: String,
    pub reasons: Vec<String>,
}

impl Verdict {
    pub fn keep(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// The calendar period a backup falls in, as text (`2026-11-25`, `2026-W48`, `2026-11`).
type BucketOf = fn(Timestamp) -> String;

/// Applies `policy` to the backups of one name; verdicts come newest first.
pub fn decide(policy: &Policy, backups: &[Backup]) -> Vec<Verdict> {
    let mut sorted: Vec<&Backup> = backups.iter().collect();
    sorted.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
    let mut verdicts: Vec<Verdict> = sorted
        .iter()
        .map(|b| Verdict {
            id: b.id.clone(),
            reasons: Vec::new(),
        })
        .collect();
    let Some(newest) = sorted.first() else {
        return verdicts;
    };
    verdicts[0].reasons.push("newest".into());
    if let Some(i) = sorted.iter().position(|b| b.verified) {
        verdicts[i].reasons.push("newest verified".into());
    }
    if let Some(n) = policy.last {
        for verdict in verdicts.iter_mut().take(n) {
            verdict.reasons.push(format!("last {n}"));
        }
    }
    if let Some(within) = policy.within {
        let span = jiff::SignedDuration::try_from(within).unwrap_or(jiff::SignedDuration::MAX);
        for (backup, verdict) in sorted.iter().zip(verdicts.iter_mut()) {
            if newest.at.duration_since(backup.at) <= span {
                verdict.reasons.push(format!("within {}", human(within)));
            }
        }
    }
    let buckets: [(Option<usize>, &str, BucketOf); 3] = [
        (policy.daily, "daily", |t| {
            t.to_zoned(TimeZone::UTC).date().to_string()
        }),
        (policy.weekly, "weekly", |t| {
            let week = t.to_zoned(TimeZone::UTC).date().iso_week_date();
            format!("{}-W{:02}", week.year(), week.week())
        }),
        (policy.monthly, "monthly", |t| {
            t.to_zoned(TimeZone::UTC).strftime("%Y-%m").to_string()
        }),
    ];
    for (count, label, bucket_of) in buckets {
        let Some(count) = count else { continue };
        let mut last_bucket = None;
        let mut kept = 0;
        for (backup, verdict) in sorted.iter().zip(verdicts.iter_mut()) {
            if kept == count {
                break;
            }
            let bucket = bucket_of(backup.at);
            if last_bucket.as_ref() != Some(&bucket) {
                verdict.reasons.push(format!("{label} {bucket}"));
                last_bucket = Some(bucket);
                kept += 1;
            }
        }
    }
    verdicts
}

/// How far the clocks of a base backup's push and of the WAL pushes may disagree, for a base
/// backup whose start WAL file is not recorded (see `Start::Unknown`).
pub const CLOCK_SLACK: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// Where a base backup's WAL starts, as far as its manifest says. `P` is a WAL position
/// (`wal_names::Position`): this module only compares them.
#[derive(Debug, Clone, PartialEq)]
pub enum Start<P> {
    /// The position of its first WAL file (`start-wal-file`, from its `backup_label`).
    At(P),
    /// Not recorded (pushed by an older build, or with `--no-check`): when its push started.
    /// Such a base backup keeps every WAL file whose push finished at or after that time,
    /// less `CLOCK_SLACK`. A segment holding WAL written at or after the backup's start is
    /// complete, hence archived, only after the backup started; so this keeps all it could
    /// need (and more), whichever host's clock each push read.
    Unknown { started_at: Timestamp },
}

/// A base backup that is kept, as WAL retention sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Base<P> {
    /// `NAME@ID`, for the reason a WAL file is kept.
    pub label: String,
    pub start: Start<P>,
}

/// A WAL file, as WAL retention sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct WalFile<P> {
    /// Where it sits in the WAL; `None` for a timeline history file.
    pub position: Option<P>,
    /// When its push finished.
    pub finished_at: Timestamp,
}

impl<P: Ord> Base<P> {
    /// Whether restoring this base backup may need `file`: every segment (of any timeline)
    /// and backup history file from its start on.
    pub fn needs(&self, file: &WalFile<P>) -> bool {
        match (&self.start, &file.position) {
            (_, None) => true,
            (Start::At(start), Some(position)) => position >= start,
            (Start::Unknown { started_at }, Some(_)) => {
                // Saturating: a store's timestamps are not trusted to be far from the edges.
                let since = started_at
                    .saturating_sub(CLOCK_SLACK)
                    .unwrap_or(Timestamp::MIN);
                file.finished_at >= since
            }
        }
    }
}

/// Why `file` must stay whatever the keep rules say (`None`: nothing but the rules keeps
/// it). Timeline history files always stay: they are small, and recovery to any timeline
/// after them reads them. Otherwise the first of `bases` (given oldest first) that needs
/// it is named.
pub fn wal_keep_reason<P: Ord>(bases: &[Base<P>], file: &WalFile<P>) -> Option<String> {
    if file.position.is_none() {
        return Some("timeline history".into());
    }
    bases
        .iter()
        .find(|base| base.needs(file))
        .map(|base| format!("needed by {}", base.label))
}

/// `30d`, `6h`, `90m`, `45s`: the largest whole unit.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s >= 86_400 && s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s >= 3600 && s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s >= 60 && s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// One backup a day at 01:00 for `days` days ending 2026-11-25, newest verified as told.
    fn daily(days: usize, verified: &[usize]) -> Vec<Backup> {
        let end = at("2026-11-25T01:00:00Z");
        (0..days)
            .map(|i| Backup {
                id: format!("b{i:03}"),
                at: end - jiff::SignedDuration::from_hours(24 * i as i64),
                verified: verified.contains(&i),
            })
            .collect()
    }

    fn kept(verdicts: &[Verdict]) -> Vec<&str> {
        verdicts
            .iter()
            .filter(|v| v.keep())
            .map(|v| v.id.as_str())
            .collect()
    }

    #[test]
    fn keep_last_keeps_the_newest_n() {
        let policy = Policy {
            last: Some(3),
            ..Policy::default()
        };
        let verdicts = decide(&policy, &daily(10, &[]));
        assert_eq!(kept(&verdicts), ["b000", "b001", "b002"]);
        assert_eq!(verdicts[0].reasons, ["newest", "last 3"]);
    }

    #[test]
    fn the_newest_verified_backup_is_always_kept() {
        let policy = Policy {
            last: Some(1),
            ..Policy::default()
        };
        let verdicts = decide(&policy, &daily(10, &[6, 8]));
        assert_eq!(kept(&verdicts), ["b000", "b006"]);
        assert_eq!(verdicts[6].reasons, ["newest verified"]);
    }

    #[test]
    fn keep_within_counts_from_the_newest_backup_not_from_now() {
        let policy = Policy {
            within: Some(Duration::from_secs(3 * 86_400)),
            ..Policy::default()
        };
        // Within 3 days of the newest backup (whenever the test runs): 4 backups.
        let verdicts = decide(&policy, &daily(10, &[]));
        assert_eq!(kept(&verdicts), ["b000", "b001", "b002", "b003"]);
        assert!(verdicts[3].reasons.contains(&"within 3d".to_string()));
    }

    #[test]
    fn calendar_buckets_keep_the_newest_of_each_period() {
        // Two backups a day for 70 days.
        let end = at("2026-11-25T23:00:00Z");
        let backups: Vec<Backup> = (0..140)
            .map(|i| Backup {
                id: format!("b{i:03}"),
                at: end - jiff::SignedDuration::from_hours(12 * i as i64),
                verified: false,
            })
            .collect();
        let policy = Policy {
            daily: Some(3),
            weekly: Some(2),
            monthly: Some(3),
            ..Policy::default()
        };
        let verdicts = decide(&policy, &backups);
        let reasons = |id: &str| {
            verdicts
                .iter()
                .find(|v| v.id == id)
                .unwrap()
                .reasons
                .clone()
        };
        // Daily: the 23:00 backup of Nov 25, 24, 23.
        assert!(reasons("b000").contains(&"daily 2026-11-25".to_string()));
        assert!(reasons("b002").contains(&"daily 2026-11-24".to_string()));
        assert!(reasons("b004").contains(&"daily 2026-11-23".to_string()));
        assert!(!reasons("b001").iter().any(|r| r.starts_with("daily")));
        // Weekly: 2026-11-25 is in ISO week 48; the newest of week 47 is Sunday Nov 22.
        assert!(reasons("b000").contains(&"weekly 2026-W48".to_string()));
        assert!(reasons("b006").contains(&"weekly 2026-W47".to_string()));
        // Monthly: November, October (31st 23:00), September (30th 23:00).
        assert!(reasons("b000").contains(&"monthly 2026-11".to_string()));
        let october = verdicts
            .iter()
            .find(|v| v.reasons.contains(&"monthly 2026-10".to_string()))
            .unwrap();
        let b = backups.iter().find(|b| b.id == october.id).unwrap();
        assert_eq!(b.at, at("2026-10-31T23:00:00Z"));
        assert!(verdicts
            .iter()
            .any(|v| v.reasons.contains(&"monthly 2026-09".to_string())));
        assert_eq!(kept(&verdicts).len(), 3 + 1 + 2); // daily 3, weekly adds 1, monthly adds 2
    }

    #[test]
    fn an_empty_name_keeps_nothing_and_fails_nothing() {
        assert!(decide(&Policy::default(), &[]).is_empty());
    }

    /// A WAL file at (log 0, `seg`), its push finished at `finished`.
    fn segment(seg: u32, finished: &str) -> WalFile<(u32, u32)> {
        WalFile {
            position: Some((0, seg)),
            finished_at: at(finished),
        }
    }

    fn base(label: &str, start: Start<(u32, u32)>) -> Base<(u32, u32)> {
        Base {
            label: label.into(),
            start,
        }
    }

    #[test]
    fn wal_from_the_oldest_kept_base_backups_start_on_is_needed() {
        let bases = [
            base("base@old", Start::At((0, 4))),
            base("base@new", Start::At((0, 9))),
        ];
        let reason = |seg| wal_keep_reason(&bases, &segment(seg, "2026-11-25T01:00:00Z"));
        assert_eq!(reason(3), None);
        assert_eq!(reason(4).as_deref(), Some("needed by base@old"));
        assert_eq!(reason(9).as_deref(), Some("needed by base@old"));
        assert_eq!(reason(200).as_deref(), Some("needed by base@old"));
        // Only the newer one kept: what lies between the two goes too.
        let newer = &bases[1..];
        let file = segment(8, "2026-11-25T01:00:00Z");
        assert_eq!(wal_keep_reason(newer, &file), None);
        assert_eq!(
            wal_keep_reason(newer, &segment(9, "2026-11-25T01:00:00Z")).as_deref(),
            Some("needed by base@new")
        );
        // A later log number is later, whatever the segment number.
        let next_log = WalFile {
            position: Some((1, 0)),
            finished_at: at("2026-11-25T01:00:00Z"),
        };
        assert!(newer[0].needs(&next_log));
    }

    #[test]
    fn timeline_history_files_are_always_kept() {
        let history = WalFile {
            position: None,
            finished_at: at("2020-01-01T00:00:00Z"),
        };
        assert_eq!(
            wal_keep_reason::<(u32, u32)>(&[], &history).as_deref(),
            Some("timeline history")
        );
        let bases = [base("base@b", Start::At((0, 9)))];
        assert_eq!(
            wal_keep_reason(&bases, &history).as_deref(),
            Some("timeline history")
        );
    }

    #[test]
    fn without_base_backups_no_wal_file_is_needed() {
        assert_eq!(
            wal_keep_reason::<(u32, u32)>(&[], &segment(1, "2026-11-25T01:00:00Z")),
            None
        );
    }

    #[test]
    fn a_base_backup_without_its_start_keeps_wal_archived_since_an_hour_before_it_started() {
        let bases = [base(
            "base@unknown",
            Start::Unknown {
                started_at: at("2026-11-25T12:00:00Z"),
            },
        )];
        let reason = |finished| wal_keep_reason(&bases, &segment(1, finished));
        assert_eq!(reason("2026-11-25T10:59:59Z"), None);
        assert_eq!(
            reason("2026-11-25T11:00:00Z").as_deref(),
            Some("needed by base@unknown")
        );
        assert_eq!(
            reason("2026-11-26T00:00:00Z").as_deref(),
            Some("needed by base@unknown")
        );
    }

    #[test]
    fn the_oldest_base_backup_that_needs_a_file_is_named() {
        // Given oldest first: an unrecorded start, then a recorded one.
        let bases = [
            base(
                "base@unknown",
                Start::Unknown {
                    started_at: at("2026-11-25T12:00:00Z"),
                },
            ),
            base("base@known", Start::At((0, 5))),
        ];
        // Archived long before the first base: only the second's position keeps it.
        assert_eq!(
            wal_keep_reason(&bases, &segment(6, "2026-11-20T00:00:00Z")).as_deref(),
            Some("needed by base@known")
        );
        assert_eq!(
            wal_keep_reason(&bases, &segment(6, "2026-11-25T12:30:00Z")).as_deref(),
            Some("needed by base@unknown")
        );
        assert_eq!(
            wal_keep_reason(&bases, &segment(4, "2026-11-20T00:00:00Z")),
            None
        );
    }
}
