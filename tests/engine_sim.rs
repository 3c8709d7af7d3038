//! The failover engine on the simulated pair. `tests/lab_engine.rs` runs the same
//! scenarios (`engine_tests!`, tests/common/engine.rs) on the lab's real hosts.

mod common;

engine_tests!(common::SimPair::new());
