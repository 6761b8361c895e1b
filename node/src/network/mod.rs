//! The libp2p side of a node: the composed behaviour, the swarm, topics, the fetch codec.

mod behaviour;
pub mod codec;
pub mod reach;
#[cfg(test)]
mod timer_tests;

pub use behaviour::{
    build_swarm, build_swarm_with, kinds_read, Behaviour, BehaviourEvent, SwarmOptions, Topics,
    CHECKER_READS, CREATOR_READS, EVERY_NODE_READS, KAD_PROTOCOL, MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_PEER, MAX_PENDING_INCOMING,
};

/// What a Pictor node says in identify: its network id and protocol version.
pub fn identify_version(network: &str) -> String {
    format!("/pictor/{network}/{}", crate::PROTOCOL_VERSION)
}

/// Why a peer that says `theirs` in identify is not a peer of `network`: a Pictor node of
/// another network or protocol version. `None` for a node of this network, and for a peer
/// that is no Pictor node at all (an IPFS peer that fetches blocks is welcome).
pub fn foreign_peer(network: &str, theirs: &str) -> Option<String> {
    let rest = theirs.strip_prefix("/pictor/")?;
    if theirs == identify_version(network) {
        return None;
    }
    let (their_network, their_version) = rest.rsplit_once('/').unwrap_or((rest, "?"));
    Some(format!(
        "it is on network `{their_network}` (protocol {their_version}), this node on `{network}` (protocol {})",
        crate::PROTOCOL_VERSION
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_peers_are_pictor_nodes_of_another_network_or_version() {
        let ours = identify_version("devnet");
        assert_eq!(foreign_peer("devnet", &ours), None);
        // Not a Pictor node: an IPFS peer.
        assert_eq!(foreign_peer("devnet", "ipfs/0.1.0"), None);
        let other = foreign_peer("devnet", "/pictor/testnet/1").expect("another network");
        assert!(
            other.contains("`testnet`") && other.contains("`devnet`"),
            "{other}"
        );
        let newer = foreign_peer("devnet", "/pictor/devnet/99").expect("another version");
        assert!(newer.contains("protocol 99"), "{newer}");
        assert!(foreign_peer("devnet", "/pictor/").is_some());
    }
}
