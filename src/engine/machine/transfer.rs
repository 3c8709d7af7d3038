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
