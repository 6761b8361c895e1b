//! The roles of a node. The checker is a pure state machine; the worker's rendering and
//! tampering (for fault demonstrations) live beside it.

pub mod checker;
pub(crate) mod perceptual;
pub mod worker;

#[cfg(test)]
mod checker_tests;
#[cfg(test)]
mod sim_tests;
