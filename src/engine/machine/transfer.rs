//! Item 3: the primary's slashing-protection history moved to the backup (the
//! driver executes the transfer; this judges its result and opens the way to the
//! Start gate).

use super::*;

impl Failover {
    /// Item 3 done (or not): the history is on the backup, verified on both ends; then the Start gate.
    pub(super) fn transferred(
        &mut self,
        now: f64,
        result: Result<Transferred, String>,
        evidence: Vec<Evidence>,
        out: &mut Vec<Effect>,
    ) {
        match result {
            Ok(t) => {
                if !t.last_signed.is_empty()
                    && let Some(g) = &mut self.liveness
                    && let Some(crate::engine::gate::LivenessPath::VerifiedStop {
                        last_signed, ..
                    }) = &mut g.path
                {
                    *last_signed = t.last_signed.clone();
                    out.push(self.gate(
                    GateId::Liveness,
                    true,
                    format!(
                        "judged per key from the history's last signed target epoch by index {:?}: a key live on chain after its epoch means something else signs with it",
                        t.last_signed
                    ),
                ));
                }
                self.set_item(
                    ItemId::SlashingProtectionTransferred,
                    ItemState::Green,
                    now,
                    evidence,
                    out,
                );
                out.push(self.gate(
                    GateId::SlashingProtection,
                    true,
                    format!(
                        "{} bytes, sha256 {} on both ends; previous history set aside at {}",
                        t.bytes,
                        t.archive_sha256,
                        t.set_aside.as_deref().unwrap_or("(none was there)")
                    ),
                ));
                self.enter_gate(now, out);
            }
            Err(why) => {
                self.set_item(
                    ItemId::SlashingProtectionTransferred,
                    ItemState::Red(why.clone()),
                    now,
                    evidence,
                    out,
                );
                self.phase = Phase::Failed(why.clone());
                out.push(Effect::Finished(Outcome::Failed(why)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::sweep::{acts, fixture, item, transferred};
    use super::*;

    #[test]
    fn a_transfer_done_turns_item_3_green_and_opens_the_way_to_the_start_gate() {
        let mut run = fixture("transferring");
        let mut t = transferred();
        t.last_signed = [(7, 11), (8, 12)].into();
        let out = run
            .send(Event::Transferred {
                now: run.now + 1.0,
                result: Ok(t),
                evidence: Vec::new(),
            })
            .to_vec();
        assert_eq!(
            item(&run, ItemId::SlashingProtectionTransferred),
            ItemState::Green
        );
        assert_eq!(run.m.phase, Phase::AwaitingGate);
        assert!(matches!(out.last(), Some(Effect::Observe(_))));
        assert!(acts(&out).is_empty(), "the start gate first: {out:?}");
        // The liveness gate judges each key from its own last signed epoch.
        assert!(matches!(
            run.m.liveness.as_ref().and_then(|g| g.path.as_ref()),
            Some(crate::engine::gate::LivenessPath::VerifiedStop { last_signed, .. }) if last_signed.len() == 2
        ));
        assert!(out.iter().any(|e| matches!(
            e,
            Effect::Record(Record::Gate {
                gate: GateId::SlashingProtection,
                open: true,
                ..
            })
        )));
    }

    #[test]
    fn a_failed_transfer_ends_the_run_with_item_3_red_and_the_backup_locked() {
        let mut run = fixture("transferring");
        let out = run
            .send(Event::Transferred {
                now: run.now + 1.0,
                result: Err("sha256 differs on the backup".into()),
                evidence: Vec::new(),
            })
            .to_vec();
        assert!(
            matches!(item(&run, ItemId::SlashingProtectionTransferred), ItemState::Red(why) if why.contains("sha256"))
        );
        assert!(acts(&out).is_empty());
        assert!(matches!(
            out.last(),
            Some(Effect::Finished(Outcome::Failed(_)))
        ));
        assert!(run.m.touched_backup.is_none());
    }
}
