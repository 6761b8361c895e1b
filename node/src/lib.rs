//! `pictor-node`: a node of the Pictor render network.
//!
//! One task owns the libp2p swarm ([`event_loop`]); everything else talks to it through a
//! cloneable [`Client`] that sends commands over a bounded channel. The rules of the
//! network are deterministic state machines ([`roles::checker::Checker`]) that the loop
//! feeds with verified messages and whose outputs it carries out. [`devnet`] starts a
//! whole local network; [`render`] carries a job through one.

mod blocks;
mod capability;
mod client;
mod config;
pub mod devnet;
mod engines;
mod error;
mod event_loop;
#[doc(hidden)]
pub mod fuzzing;
pub mod home;
pub mod http;
pub mod identity;
mod jobs;
mod metrics;
pub mod network;
mod quota;
pub mod render;
mod requests;
pub mod roles;
pub mod rpc;
mod scenes;
pub mod spec;
mod tasks;
mod validation;
pub mod view;
mod wallet;

pub use blocks::SledBlockstore;
pub use capability::LocalCapability;
pub use client::{Client, Facts, NetworkSnapshot, NodeStatus, PeerInfo};
pub use config::{NetworkParams, NodeConfig, Roles, WorkerConfig, DEFAULT_JOB_RETENTION};
pub use error::NodeError;
pub use event_loop::{spawn, ConnectReport};
pub use home::Home;
pub use roles::creator::{JobProgress, JobRecord, JobState, NodeEvent};
pub use spec::{NetworkSpec, SpecParams, PROTOCOL_VERSION};
pub use wallet::{Balance, CreditsCommand};

/// Milliseconds since the Unix epoch: the only clock the node reads.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
