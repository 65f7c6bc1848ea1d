//! `read`: a ranged GET whose body `next` returns in pieces of about 1 MiB. A server that
//! ignores `Range` answers 200 with the whole object; the download then skips to the offset
//! itself and stops after the length.

use twgate_plugin_sdk::{Download, Error};

use crate::http::Response;

/// How much one `next` returns at most.
pub const PIECE: usize = 1 << 20;

/// The largest byte position sent in a `Range`: servers written in Go (rclone) parse it
/// as an `i64` and answer 416 to anything larger.
const MAX_POSITION: u64 = i64::MAX as u64;

/// The `Range` header for `length` bytes from `offset`: `None` when that is the whole
/// object, open-ended when the last position is past [`MAX_POSITION`] (no object is that
/// large). `length` is not 0.
pub fn range_header(offset: u64, length: u64) -> Option<String> {
    match offset.checked_add(length - 1) {
        Some(last) if last <= MAX_POSITION => Some(format!("bytes={offset}-{last}")),
        _ if offset == 0 => None,
        _ => Some(format!("bytes={offset}-")),
    }
}

/// The first byte position of a `Content-Range: bytes first-last/size` header.
pub fn content_range_start(value: &str) -> Option<u64> {
    let (first, _) = value.trim().strip_prefix("bytes ")?.split_once('-')?;
    first.trim().parse().ok()
}

/// One object being read.
pub struct RangeDownload {
    /// The GET's answer; `None` once done.
    response: Option<Response>,
    /// Bytes still to skip before the range (a 200 answer to a ranged GET).
    skip: u64,
    /// Bytes of the range not yet returned.
    remaining: u64,
}

impl RangeDownload {
    /// A download that returns nothing: an empty range, or one past the object's end.
    pub fn empty() -> RangeDownload {
        RangeDownload {
            response: None,
            skip: 0,
            remaining: 0,
        }
    }

    /// The body of `response`, skipping `skip` bytes and returning `length` at most.
    pub fn new(response: Response, skip: u64, length: u64) -> RangeDownload {
        RangeDownload {
            response: Some(response),
            skip,
            remaining: length,
        }
    }
}

impl Download for RangeDownload {
    fn next(&mut self) -> Result<Vec<u8>, Error> {
        let Some(response) = self.response.as_mut() else {
            return Ok(Vec::new());
        };
        while self.skip > 0 {
            match response.skip(self.skip)? {
                0 => break,
                skipped => self.skip -= skipped,
            }
        }
        let mut piece = Vec::new();
        while piece.len() < PIECE && self.remaining > 0 {
            let want = (PIECE - piece.len()).min(usize::try_from(self.remaining).unwrap_or(PIECE));
            let bytes = response.read(want)?;
            if bytes.is_empty() {
                break;
            }
            self.remaining -= bytes.len() as u64;
            piece.extend_from_slice(&bytes);
        }
        if piece.is_empty() {
            // Done: the connection can go.
            self.response = None;
        }
        Ok(piece)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_headers() {
        assert_eq!(range_header(0, 10).as_deref(), Some("bytes=0-9"));
        assert_eq!(range_header(5, 1).as_deref(), Some("bytes=5-5"));
        assert_eq!(
            range_header(0, 1 << 63).as_deref(),
            Some("bytes=0-9223372036854775807")
        );
        assert_eq!(range_header(0, (1 << 63) + 1), None);
        assert_eq!(range_header(0, u64::MAX), None);
        assert_eq!(range_header(2, u64::MAX).as_deref(), Some("bytes=2-"));
        assert_eq!(
            range_header(u64::MAX, 1).as_deref(),
            Some("bytes=18446744073709551615-")
        );
    }

    #[test]
    fn content_ranges() {
        assert_eq!(content_range_start("bytes 2-5/6"), Some(2));
        assert_eq!(content_range_start("bytes 0-0/*"), Some(0));
        assert_eq!(content_range_start("items 2-5/6"), None);
        assert_eq!(content_range_start("bytes */6"), None);
    }

    #[test]
    fn an_empty_download_ends_at_once() {
        let mut download = RangeDownload::empty();
        assert_eq!(download.next().unwrap(), b"");
    }
}
