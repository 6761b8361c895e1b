//! The proof of an envelope, kept beside its decoded message.

use serde::{Deserialize, Serialize};

use super::{signed_body, Message};
use crate::codec;
use crate::identity::{PublicKey, Signature, SignatureError};

/// What is left of a verified envelope once its message is decoded: its date and
/// signature. With the message (re-encoded: the encoding is canonical) it shows that the
/// signer sent that message exactly so, down to the parts no other signature covers (an
/// attestation's sampled values): evidence that anyone can check later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeProof {
    /// When the signer issued the envelope (ms since the Unix epoch).
    pub issued_ms: u64,
    /// The envelope's signature.
    pub signature: Signature,
}

impl EnvelopeProof {
    /// Checks that `signer` sealed `message` in an envelope of `network` with this proof.
    pub fn verify(
        &self,
        network: &str,
        signer: &PublicKey,
        message: &Message,
    ) -> Result<(), SignatureError> {
        let body = codec::encode(message);
        signer.verify(
            message.kind(),
            network,
            &signed_body(self.issued_ms, &body),
            &self.signature,
        )
    }
}
