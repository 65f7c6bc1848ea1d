//! WAL file names as PostgreSQL writes them, parsed: which timeline a file belongs to and
//! where it sits in the WAL, so that WAL retention can compare it with a base backup's
//! start.
//!
//! - a segment: `TTTTTTTTLLLLLLLLSSSSSSSS`, timeline, log and segment, 8 hex digits each;
//! - a partial segment: a segment's name and `.partial` (a timeline's last, unfinished
//!   segment, archived when a standby is promoted);
//! - a backup history file: a segment's name, `.`, 8 hex digits (the offset in the segment
//!   where a base backup started) and `.backup`;
//! - a timeline history file: `TTTTTTTT.history`.
//!
//! Hex digits are uppercase only: PostgreSQL writes nothing else, so anything else in a
//! store was not archived by it.

/// Where a file sits in the WAL: its log and segment numbers, which order the files of a
/// cluster (whatever its segment size, since all its names use the same one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub log: u32,
    pub seg: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Segment,
    Partial,
    /// A backup history file (`.backup`), written when a base backup ends.
    Backup,
    /// A timeline history file (`.history`): it has no position.
    History,
}

/// A parsed WAL file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalName {
    pub kind: Kind,
    pub timeline: u32,
    /// `None` for a timeline history file.
    pub position: Option<Position>,
}

/// Parses a WAL file name; `None` if it is not one.
pub fn parse(name: &str) -> Option<WalName> {
    if let Some(timeline) = name.strip_suffix(".history") {
        return Some(WalName {
            kind: Kind::History,
            timeline: hex8(timeline)?,
            position: None,
        });
    }
    let (kind, segment_name) = if let Some(stem) = name.strip_suffix(".partial") {
        (Kind::Partial, stem)
    } else if let Some(stem) = name.strip_suffix(".backup") {
        let (segment_name, offset) = stem.split_once('.')?;
        hex8(offset)?;
        (Kind::Backup, segment_name)
    } else {
        (Kind::Segment, name)
    };
    let (timeline, position) = segment(segment_name)?;
    Some(WalName {
        kind,
        timeline,
        position: Some(position),
    })
}

/// A segment's 24 digits: its timeline and position.
fn segment(text: &str) -> Option<(u32, Position)> {
    if text.len() != 24 || !text.bytes().all(is_upper_hex) {
        return None;
    }
    // All ASCII, so these are character boundaries.
    let timeline = hex8(&text[..8])?;
    let position = Position {
        log: hex8(&text[8..16])?,
        seg: hex8(&text[16..])?,
    };
    Some((timeline, position))
}

/// Exactly 8 uppercase hex digits.
fn hex8(text: &str) -> Option<u32> {
    if text.len() != 8 || !text.bytes().all(is_upper_hex) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

fn is_upper_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'A'..=b'F').contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(log: u32, seg: u32) -> Option<Position> {
        Some(Position { log, seg })
    }

    #[test]
    fn segments_give_their_timeline_and_position() {
        let name = parse("00000001000000000000000A").unwrap();
        assert_eq!(
            name,
            WalName {
                kind: Kind::Segment,
                timeline: 1,
                position: at(0, 10),
            }
        );
        let name = parse("0000002A00000003000000FF").unwrap();
        assert_eq!((name.timeline, name.position), (42, at(3, 255)));
    }

    #[test]
    fn partial_backup_and_history_files_are_recognised() {
        let partial = parse("000000010000000000000005.partial").unwrap();
        assert_eq!(
            (partial.kind, partial.timeline, partial.position),
            (Kind::Partial, 1, at(0, 5))
        );
        let backup = parse("000000010000000000000002.00000028.backup").unwrap();
        assert_eq!(
            (backup.kind, backup.timeline, backup.position),
            (Kind::Backup, 1, at(0, 2))
        );
        let history = parse("00000002.history").unwrap();
        assert_eq!(
            (history.kind, history.timeline, history.position),
            (Kind::History, 2, None)
        );
    }

    #[test]
    fn positions_order_by_log_then_segment_whatever_the_timeline() {
        let pos = |name: &str| parse(name).unwrap().position.unwrap();
        assert!(pos("000000010000000000000003") < pos("00000001000000000000000A"));
        assert!(pos("0000000100000000000000FF") < pos("000000010000000100000000"));
        assert!(pos("000000020000000000000002") < pos("000000010000000000000003"));
        assert_eq!(
            pos("000000010000000000000002.00000028.backup"),
            pos("000000010000000000000002")
        );
    }

    #[test]
    fn malformed_names_are_refused() {
        for name in [
            "",
            "00000001000000000000000",                 // 23 digits
            "0000000100000000000000030",               // 25 digits
            "00000001000000000000000a",                // lowercase
            "00000001000000000000000G",                // not hex
            "+0000001000000000000000A",                // a sign from_str_radix would take
            "0000001.history",                         // 7 digits
            "0000000a.history",                        // lowercase
            "00000002.History",                        // the suffix is exact
            "000000010000000000000002.backup",         // no offset
            "000000010000000000000002.0000028.backup", // 7-digit offset
            "000000010000000000000002.00000028",       // no suffix
            ".partial",
            "0000000100000000000000é",     // 24 bytes, not ASCII
            "20260101T000000.000Z-abcdef", // a twgate backup id
            "000000010000000000000003.gz",
        ] {
            assert_eq!(parse(name), None, "{name:?}");
        }
    }
}
