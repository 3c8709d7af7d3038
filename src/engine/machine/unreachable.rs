//! The primary cannot be reached: the newest archive that holds a history, the
//! liveness wait on the chain instead of a verified stop, or an operator's typed
//! statement that it is fenced out of band.

use super::*;

impl Failover {
    /// Going on without the primary, confirmed: items 1-2 are judged by the chain (the liveness wait), the history comes from the newest archive.
    pub(super) fn unverified_confirmed(
        &mut self,
        source: Source,
        now: f64,
        typed: String,
        out: &mut Vec<Effect>,
    ) {
        let clock = self.chain.expect("known at the first gate");
        let question = Confirm::UnverifiedPrimary {
            expect: self.plan.primary.clone(),
            archive: source.place(),
            age_epochs: source.age_epochs(&clock, now),
            wait_epochs: self.plan.liveness_epochs,
        };
        if !self.confirmed(question, &typed, out) {
            return;
        }
        let since_epoch = clock.epoch_at(now);
        let mut g = crate::engine::gate::LivenessGate::new(clock, self.plan.indices.clone());
        g.path = Some(crate::engine::gate::LivenessPath::Unverified {
            since_epoch,
            required: self.plan.liveness_epochs,
        });
        self.liveness = Some(g);
        let waiting = Evidence {
            host: Some(Role::Primary),
            at: now,
            via: "ssh".into(),
            observed: "cannot be reached: to be judged by the chain (liveness wait)".into(),
        };
        self.set_item(
            ItemId::PrimaryStopped,
            ItemState::Running,
            now,
            vec![waiting.clone()],
            out,
        );
        self.set_item(
            ItemId::PrimaryKilled,
            ItemState::Running,
            now,
            vec![waiting],
            out,
        );
        if let Some(statement) = self.plan.fenced_out_of_band.clone() {
            self.fenced_out_of_band(now, statement, out);
        }
        self.set_item(
            ItemId::SlashingProtectionTransferred,
            ItemState::Running,
            now,
            Vec::new(),
            out,
        );
        self.phase = Phase::Transferring;
        out.push(Effect::Transfer {
            from: source,
            to: Role::Backup,
        });
    }

    /// Is this the path without a verified stop (the primary cannot be reached)?
    pub fn is_unverified(&self) -> bool {
        matches!(
            self.liveness.as_ref().and_then(|g| g.path.as_ref()),
            Some(
                crate::engine::gate::LivenessPath::Unverified { .. }
                    | crate::engine::gate::LivenessPath::FencedOutOfBand { .. }
            )
        )
    }

    /// The operator's statement that the primary is fenced out of band: recorded, and
    /// the liveness gate's path from now on, if it says enough.
    pub(super) fn fenced_out_of_band(
        &mut self,
        now: f64,
        statement: String,
        out: &mut Vec<Effect>,
    ) {
        out.push(Effect::Record(Record::Confirmation {
            action: "state that the primary is fenced out of band".into(),
            typed: statement.clone(),
        }));
        let primary = &self.plan.primary;
        if statement.trim().chars().count() < 20 || !statement.contains(primary.as_str()) {
            out.push(self.gate(
                GateId::FencedOutOfBand,
                false,
                format!("not accepted: the statement must name the primary ({primary:?}) and say how it is fenced (20 characters at least), e.g. \"{primary} powered off at the provider, console confirms\""),
            ));
            return;
        }
        let Some(g) = &mut self.liveness else { return };
        let since_epoch = match &g.path {
            Some(crate::engine::gate::LivenessPath::Unverified { since_epoch, .. }) => *since_epoch,
            _ => g.clock.epoch_at(now),
        };
        g.path = Some(crate::engine::gate::LivenessPath::FencedOutOfBand {
            statement: statement.clone(),
            at: now,
            since_epoch,
        });
        out.push(self.gate(
            GateId::FencedOutOfBand,
            true,
            format!("the operator states: {statement:?}; the chain is still watched for the keys"),
        ));
    }
}
