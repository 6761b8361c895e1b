//! The roles of a node, each a deterministic state machine with no I/O: the checker, the
//! worker and the creator.

pub mod checker;
pub mod creator;
pub mod credits;
pub(crate) mod perceptual;
pub mod worker;

#[cfg(test)]
mod checker_tests;
#[cfg(test)]
mod sim_tests;
