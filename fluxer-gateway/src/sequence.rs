//! How a session numbers its dispatches (`s`) so that, on a bus with positions, another node can tell
//! from a client's last `s` where to replay from.
//!
//! A bus event at position `p` is numbered `p * SLOTS`; a dispatch made by the session itself (READY,
//! RESUMED, GUILD_MEMBERS_CHUNK...) takes the next number after the previous dispatch, so it stays
//! below `(p + 1) * SLOTS` where `p` is the last position the session has seen. A client at `s` has
//! then seen everything up to position `s / SLOTS`, and nothing after it. Numbers have gaps, which
//! clients accept (they only echo the last `s` they saw).
//!
//! A session that makes `SLOTS - 1` dispatches of its own without a bus event in between can no
//! longer be numbered this way: it becomes *unportable* and can only resume on its own node. On a bus
//! without positions, numbers are contiguous (1, 2, 3...).

/// Numbers per bus position. `p * SLOTS` must stay below 2^53 for JavaScript clients: positions up to
/// 8.8 * 10^12.
pub(crate) const SLOTS: u64 = 1024;

/// A session's numbering state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Numbering {
    /// The last number given.
    pub seq: u64,
    /// The last bus position seen (delivered or not), on a bus with positions.
    pub position: Option<u64>,
    /// Numbers no longer tell positions.
    pub unportable: bool,
}

impl Numbering {
    /// A session subscribed from `start` (`None`: a bus without positions), before any dispatch.
    pub(crate) fn starting_at(start: Option<u64>) -> Numbering {
        Numbering {
            seq: start.map_or(0, |p| p.saturating_mul(SLOTS)),
            position: start,
            unportable: false,
        }
    }

    /// A session resumed from the client's last number `seq`: replay after [`Numbering::position`].
    pub(crate) fn resumed_at(seq: u64) -> Numbering {
        Numbering {
            seq,
            position: Some(seq / SLOTS),
            unportable: false,
        }
    }

    /// Records that the session saw the bus event at `position`, delivered or not.
    pub(crate) fn saw(&mut self, position: Option<u64>) {
        if let Some(p) = position {
            self.position = Some(self.position.map_or(p, |seen| seen.max(p)));
        }
    }

    /// The number of the next dispatch: a bus event's (with its position) or the session's own.
    pub(crate) fn next(&mut self, position: Option<u64>) -> u64 {
        self.saw(position);
        let seq = match (position, self.position) {
            (Some(p), _) if p.saturating_mul(SLOTS) > self.seq => p.saturating_mul(SLOTS),
            (None, Some(p)) => {
                // Above the last position seen, even one that was not delivered.
                let seq = (self.seq + 1).max(p.saturating_mul(SLOTS) + 1);
                if seq >= (p + 1).saturating_mul(SLOTS) {
                    self.unportable = true;
                }
                seq
            }
            (_, None) => self.seq + 1,
            _ => {
                self.unportable = true;
                self.seq + 1
            }
        };
        self.seq = seq;
        seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_positions_numbers_are_contiguous() {
        let mut n = Numbering::starting_at(None);
        assert_eq!((n.next(None), n.next(None), n.next(None)), (1, 2, 3));
        assert!(!n.unportable);
    }

    #[test]
    fn a_clients_number_tells_the_last_position_it_saw() {
        // Subscribed at position 41: READY, then events 42 and 45 with a member chunk between.
        let mut n = Numbering::starting_at(Some(41));
        let ready = n.next(None);
        assert_eq!(ready, 41 * SLOTS + 1);
        let e42 = n.next(Some(42));
        let chunk = n.next(None);
        // Event 43 was filtered out (not visible), 44 was for another topic: only seen.
        n.saw(Some(43));
        let after_43 = n.next(None);
        let e45 = n.next(Some(45));
        assert_eq!(e42, 42 * SLOTS);
        assert!(ready < e42 && e42 < chunk && chunk < after_43 && after_43 < e45);
        // Replay after the position each number tells: exactly what followed it.
        assert_eq!(Numbering::resumed_at(ready).position, Some(41));
        assert_eq!(Numbering::resumed_at(e42).position, Some(42));
        assert_eq!(Numbering::resumed_at(chunk).position, Some(42));
        assert_eq!(Numbering::resumed_at(after_43).position, Some(43));
        assert_eq!(Numbering::resumed_at(e45).position, Some(45));
        assert!(!n.unportable);
    }

    #[test]
    fn a_resumed_session_continues_above_the_clients_number() {
        let mut n = Numbering::resumed_at(42 * SLOTS + 3);
        let replayed = n.next(Some(44));
        let resumed = n.next(None);
        assert_eq!(replayed, 44 * SLOTS);
        assert_eq!(resumed, 44 * SLOTS + 1);
    }

    #[test]
    fn too_many_own_dispatches_make_a_session_unportable_but_numbers_still_increase() {
        let mut n = Numbering::starting_at(Some(7));
        let mut last = 0;
        for _ in 0..SLOTS - 1 {
            last = n.next(None);
        }
        assert!(!n.unportable);
        assert_eq!(last, 8 * SLOTS - 1);
        let over = n.next(None);
        assert!(n.unportable && over > last);
        assert!(n.next(Some(8)) > over);
    }
}
