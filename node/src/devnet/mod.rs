//! Local networks: in one process ([`local`], for tests and `pictor render`), or as OS
//! processes, one `pictor node` per home.

mod local;
mod ports;
pub mod processes;

pub use local::{Devnet, DevnetConfig, DevnetNode};
