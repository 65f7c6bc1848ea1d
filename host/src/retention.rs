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
}
