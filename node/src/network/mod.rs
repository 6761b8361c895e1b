//! The libp2p side of a node: the composed behaviour, the swarm, topics, the fetch codec.

mod behaviour;
pub mod codec;
#[cfg(test)]
mod timer_tests;

pub use behaviour::{
    build_swarm, kinds_read, Behaviour, BehaviourEvent, Topics, CHECKER_READS, CREATOR_READS,
    EVERY_NODE_READS, KAD_PROTOCOL, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_PEER,
    MAX_PENDING_INCOMING,
};
