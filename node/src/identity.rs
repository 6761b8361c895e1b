//! The node's identity: one ed25519 key, used both as its libp2p identity (its peer id)
//! and, domain-separated, to sign protocol messages.

use std::{fs, io::Write, path::Path};

use libp2p::{identity, PeerId};
use pictor_protocol::{Keypair, PublicKey};

use crate::NodeError;

/// The name of the key file in a node's home.
pub const KEY_FILE: &str = "node.key";
/// The faucet's key, in the home of the node that runs the network's faucet.
pub const FAUCET_KEY_FILE: &str = "faucet.key";

/// The libp2p keypair for the same secret as `keypair`.
pub fn libp2p_keypair(keypair: &Keypair) -> Result<identity::Keypair, NodeError> {
    identity::Keypair::ed25519_from_bytes(keypair.seed())
        .map_err(|e| NodeError::Config(format!("identity: {e}")))
}

/// The peer id of the node whose protocol key is `key`.
pub fn peer_id(key: &PublicKey) -> Option<PeerId> {
    let public = identity::ed25519::PublicKey::try_from_bytes(key.as_bytes()).ok()?;
    Some(identity::PublicKey::from(public).to_peer_id())
}

/// A fresh random key, from the operating system's randomness.
pub fn generate() -> Keypair {
    let fresh = identity::ed25519::Keypair::generate();
    let mut seed = [0u8; 32];
    seed.copy_from_slice(fresh.secret().as_ref());
    Keypair::from_seed(seed)
}

/// Reads the node key from `home`, creating it (mode 0600) on first start.
pub fn load_or_create(home: &Path) -> Result<Keypair, NodeError> {
    let path = home.join(KEY_FILE);
    if let Some(keypair) = read_key(&path)? {
        return Ok(keypair);
    }
    fs::create_dir_all(home).map_err(|e| key_error(&path, e.to_string()))?;
    let keypair = generate();
    write_key(&path, &keypair)?;
    Ok(keypair)
}

/// The faucet's key, where this home holds it ([`FAUCET_KEY_FILE`]).
pub fn load_faucet(home: &Path) -> Result<Option<Keypair>, NodeError> {
    read_key(&home.join(FAUCET_KEY_FILE))
}

/// Makes a faucet key in `home` ([`FAUCET_KEY_FILE`], mode 0600); returns its public half.
pub fn create_faucet(home: &Path) -> Result<pictor_protocol::PublicKey, NodeError> {
    let keypair = generate();
    write_key(&home.join(FAUCET_KEY_FILE), &keypair)?;
    Ok(keypair.public())
}

/// Writes a key file (hex of the seed, mode 0600); an existing file is an error.
pub fn write_key(path: &Path, keypair: &Keypair) -> Result<(), NodeError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| key_error(path, e.to_string()))?;
    file.write_all(hex::encode(keypair.seed()).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| key_error(path, e.to_string()))
}

/// Reads a key file; None where there is none.
fn read_key(path: &Path) -> Result<Option<Keypair>, NodeError> {
    let err = |reason: String| key_error(path, reason);
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| err("not UTF-8".into()))?;
            let raw = hex::decode(text.trim()).map_err(|e| err(format!("not hex: {e}")))?;
            let seed: [u8; 32] = raw
                .try_into()
                .map_err(|_| err("expected 32 bytes of hex".into()))?;
            Ok(Some(Keypair::from_seed(seed)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(e.to_string())),
    }
}

fn key_error(path: &Path, reason: String) -> NodeError {
    NodeError::KeyFile {
        path: path.display().to_string(),
        reason,
    }
}
