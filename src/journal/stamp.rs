//! Which run of each needed unit a unit's result was made from.
//!
//! A unit is up to date only if the units it needs have not run again since
//! it ran: a dependency rerun by a later run that stopped before reaching
//! the dependent (abort, `kill -9`, `--only`) must still make the dependent
//! run. Each record names one attempt of a unit; a dependent's record keeps
//! a hash of the stamps of the records it was made from (`needs`), and a
//! changed hash means a dependency ran since.

use std::time::{SystemTime, UNIX_EPOCH};

use super::Record;

/// Identifies one finished attempt: its fingerprint, start time and run
/// number. The run number keeps a rerun's stamp new even when the clock was
/// set back to the very millisecond of an earlier start.
pub type Stamp = [u8; 16];

/// A unit with no record.
pub const NO_STAMP: Stamp = [0; 16];

pub fn stamp(fp_hash: &str, start_ms: u64, run: u64) -> Stamp {
    super::fingerprint::with_hasher(|h| {
        h.update(fp_hash.as_bytes());
        h.update(b"\0");
        h.update(&start_ms.to_le_bytes());
        // Records from before run numbers keep their stamps, so their
        // dependents' `needs` hashes still match.
        if run != 0 {
            h.update(&run.to_le_bytes());
        }
        let mut out = NO_STAMP;
        out.copy_from_slice(&h.finalize().as_bytes()[..16]);
        out
    })
}

/// Milliseconds since the Unix epoch, as records store start times.
pub fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Record {
    pub fn stamp(&self) -> Stamp {
        self.fp.with_str(|fp| stamp(fp, self.start_ms, self.run))
    }
}

/// The hash of a unit's needs' stamps, in plan order; empty for a unit that
/// needs nothing. Stamps are unique per record, so they name the units too;
/// hashed as one buffer, since a barrier may need thousands of units.
pub fn needs_hash(needs: impl IntoIterator<Item = Stamp>) -> String {
    let buf: Vec<u8> = needs.into_iter().flatten().collect();
    if buf.is_empty() {
        String::new()
    } else {
        blake3::hash(&buf).to_hex().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rerun_of_a_need_changes_the_hash() {
        let first = needs_hash([stamp("f1", 1_000, 1)]);
        assert_eq!(first, needs_hash([stamp("f1", 1_000, 1)]));
        // Same fingerprint, later run: the dependent must still run.
        assert_ne!(first, needs_hash([stamp("f1", 2_000, 2)]));
        assert_ne!(first, needs_hash([stamp("f2", 1_000, 1)]));
        assert_ne!(first, needs_hash([stamp("f1", 1_000, 1), stamp("g", 1, 1)]));
        assert_eq!(needs_hash([]), "");
    }

    #[test]
    fn a_rerun_with_the_clock_set_back_changes_the_stamp() {
        // The same millisecond again (the clock moved back): the run differs.
        assert_ne!(stamp("f1", 1_000, 1), stamp("f1", 1_000, 2));
        // And a start before 1970 (read as 0) still gives distinct stamps.
        assert_ne!(stamp("f1", 0, 1), stamp("f1", 0, 2));
    }

    #[test]
    fn records_from_before_run_numbers_keep_their_stamps() {
        // The formula without a run number, as journals already hold it.
        let mut h = blake3::Hasher::new();
        h.update(b"f1\0");
        h.update(&1_000u64.to_le_bytes());
        assert_eq!(stamp("f1", 1_000, 0)[..], h.finalize().as_bytes()[..16]);
    }
}
