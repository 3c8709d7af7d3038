//! THE FACE: the ratatui wizard. It renders what the engine reports and sends it the
//! engineer's decisions; it holds no failover logic of its own and spawns nothing
//! (the wizard command in `crate::wizard` starts the drive and the probes).

pub mod app;
pub mod keymap;
pub mod logbuf;
pub mod model;
pub mod theme;
pub mod views;
