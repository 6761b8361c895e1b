//! The ed25519 verification rule of the protocol, one signature at a time and in
//! batches, written with curve25519-dalek.
//!
//! A signature `(R, s)` by key `A` on `M` is valid when `s < l`, `R` is the canonical
//! encoding of a point, neither `R` nor `A` is of small order, and the cofactored
//! equation `[8](R + [k]A - [s]B) = identity` holds, `k = SHA-512(R || A || M) mod l`.
//! Every check of the protocol uses this one rule ([`verify_one`], [`Equation`]), so a
//! signature checked alone and one checked in a batch get the same answer (but for the
//! 2^-128 chance of the batch's weights cancelling a bad one). The cofactored equation
//! accepts every signature that `verify_strict`'s cofactorless one does, and also those
//! whose `R` or key carries a small-order component that cancels out; no honest signer
//! makes one, and a batch cannot tell the difference without a subgroup check per point.
//!
//! For signatures `(R_i, s_i)` by keys `A_j(i)` on messages `M_i`, with
//! `k_i = SHA-512(R_i || A_j(i) || M_i) mod l` and 128-bit weights `z_i`, it checks
//!
//! ```text
//! [8] ( -(Σ z_i s_i) B + Σ z_i R_i + Σ_j (Σ_{i: j(i) = j} z_i k_i) A_j ) = identity
//! ```
//!
//! that is one point per signature (its `R`) and one per distinct key, not one per
//! signature for the key as `ed25519_dalek::verify_batch` has it. Each `R` is decoded
//! once, for the small-order test and for the equation.
//!
//! The weights are drawn from the blake3 XOF of a transcript of every `SHA-512(R||A||M)`
//! and every `s` in the equation, as `ed25519_dalek::verify_batch` draws them from a
//! Merlin transcript of the same values: no OS randomness (this crate reads none), and a
//! signer who changes any input changes every weight.

use std::collections::HashMap;

use curve25519_dalek::{
    constants::ED25519_BASEPOINT_POINT,
    edwards::{CompressedEdwardsY, EdwardsPoint},
    scalar::Scalar,
    traits::{IsIdentity, VartimeMultiscalarMul},
};
use sha2::{Digest, Sha512};

use crate::identity::{PublicKey, Signature};

/// Domain of the transcript the weights are drawn from.
const WEIGHTS_CONTEXT: &str = "pictor/v1 2025 ed25519 batch verification weights";

/// A signature that may enter the equation: its `s` is canonical (below `l`), its `R` is
/// the canonical encoding of a point that is not of small order. Every other signature
/// is refused by strict verification before any arithmetic, and is left to it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    r_bytes: [u8; 32],
    r: EdwardsPoint,
    s: Scalar,
}

impl Candidate {
    /// The candidate this signature is, or `None` where strict verification refuses it
    /// outright (non-canonical `s` or `R`, `R` not a point or of small order).
    pub(crate) fn parse(signature: &Signature) -> Option<Candidate> {
        let bytes = signature.as_bytes();
        let mut r_bytes = [0u8; 32];
        let mut s_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&bytes[..32]);
        s_bytes.copy_from_slice(&bytes[32..]);
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
        let r = decode_point(&r_bytes)?;
        Some(Candidate { r_bytes, r, s })
    }
}

/// The `y` coordinates of the eight points of small order, sign bit clear, as 32
/// little-endian bytes: `0`, `1`, `p - 1` and the two of the points of order 8
/// (libsodium's list; `small_order_table_is_exact` checks it against curve25519-dalek).
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    [0; 32],
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
];

/// The point `bytes` encode canonically, if it is not of small order.
///
/// Strict verification compares the canonical encoding of `[s]B - [k]A` with the bytes
/// of `R`, so an `R` whose `y` is not below `p = 2^255 - 19` never verifies, where
/// `decompress` alone would reduce `y`. (The other non-canonical encodings, `x = 0` with
/// the sign bit set, have `y = ±1`: small order.) The small-order test looks `y` up in
/// [`SMALL_ORDER_Y`] before decompressing, as libsodium does, which gives the answer of
/// `is_small_order` at no cost: every point with one of those `y` is of small order, and
/// every point of small order has one.
fn decode_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    let mut y = *bytes;
    y[31] &= 0x7f;
    let y_not_reduced = y[31] == 0x7f && y[1..31].iter().all(|b| *b == 0xff) && y[0] >= 0xed;
    if y_not_reduced || SMALL_ORDER_Y.contains(&y) {
        return None;
    }
    CompressedEdwardsY(*bytes).decompress()
}

/// Whether `signature` by `key` on `message` is valid under the rule of the module doc.
pub(crate) fn verify_one(key: &PublicKey, signature: &Signature, message: &[u8]) -> bool {
    let Some(candidate) = Candidate::parse(signature) else {
        return false;
    };
    let Some(a) = key
        .verifying_key()
        .ok()
        .filter(|k| !k.is_weak())
        .map(|k| k.to_edwards())
    else {
        return false;
    };
    let mut h = Sha512::new();
    h.update(candidate.r_bytes);
    h.update(key.as_bytes());
    h.update(message);
    let hram: [u8; 64] = h.finalize().into();
    let k = Scalar::from_bytes_mod_order_wide(&hram);
    // [s]B - [k]A, with the basepoint's precomputed table.
    let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-a, &candidate.s);
    (sb_minus_ka - candidate.r).mul_by_cofactor().is_identity()
}

/// A key in the equation: its bytes (hashed into each `k_i`) and its point.
#[derive(Debug)]
struct Key {
    bytes: [u8; 32],
    point: EdwardsPoint,
}

/// One signature in the equation.
#[derive(Debug)]
struct Term {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
    key: usize,
}

/// A key's place in an [`Equation`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyIndex(usize);

/// Signatures gathered for one batch equation.
#[derive(Debug)]
pub(crate) struct Equation {
    keys: Vec<Key>,
    index: HashMap<PublicKey, Option<usize>>,
    terms: Vec<Term>,
    transcript: blake3::Hasher,
}

impl Equation {
    /// An empty equation with room for `signatures` signatures.
    pub(crate) fn with_capacity(signatures: usize) -> Equation {
        Equation {
            keys: Vec::new(),
            index: HashMap::new(),
            terms: Vec::with_capacity(signatures),
            transcript: blake3::Hasher::new_derive_key(WEIGHTS_CONTEXT),
        }
    }

    /// The place of `key` in the equation, decoding it the first time; `None` for a key
    /// strict verification refuses (not a point, or weak).
    pub(crate) fn key(&mut self, key: &PublicKey) -> Option<KeyIndex> {
        if let Some(found) = self.index.get(key) {
            return found.map(KeyIndex);
        }
        let decoded = key.verifying_key().ok().filter(|k| !k.is_weak()).map(|k| {
            self.keys.push(Key {
                bytes: *key.as_bytes(),
                point: k.to_edwards(),
            });
            self.keys.len() - 1
        });
        self.index.insert(*key, decoded);
        decoded.map(KeyIndex)
    }

    /// Adds `signature` by `key` on the message that is the concatenation of `message`.
    pub(crate) fn push(&mut self, key: KeyIndex, signature: &Candidate, message: &[&[u8]]) {
        let mut h = Sha512::new();
        h.update(signature.r_bytes);
        h.update(self.keys[key.0].bytes);
        for part in message {
            h.update(part);
        }
        let hram: [u8; 64] = h.finalize().into();
        self.transcript.update(&hram);
        self.transcript.update(signature.s.as_bytes());
        self.terms.push(Term {
            r: signature.r,
            s: signature.s,
            k: Scalar::from_bytes_mod_order_wide(&hram),
            key: key.0,
        });
    }

    /// Whether no signature was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether the equation holds (see the module doc).
    pub(crate) fn holds(self) -> bool {
        let mut weights = vec![0u8; 16 * self.terms.len()];
        self.transcript.finalize_xof().fill(&mut weights);
        let mut basepoint = Scalar::ZERO;
        let mut per_key = vec![Scalar::ZERO; self.keys.len()];
        let mut zs = Vec::with_capacity(self.terms.len());
        for (term, w) in self.terms.iter().zip(weights.chunks_exact(16)) {
            let mut z = [0u8; 16];
            z.copy_from_slice(w);
            let z = Scalar::from(u128::from_le_bytes(z));
            basepoint += z * term.s;
            per_key[term.key] += z * term.k;
            zs.push(z);
        }
        let scalars = std::iter::once(-basepoint).chain(zs).chain(per_key);
        let points = std::iter::once(ED25519_BASEPOINT_POINT)
            .chain(self.terms.iter().map(|t| t.r))
            .chain(self.keys.iter().map(|k| k.point));
        EdwardsPoint::vartime_multiscalar_mul(scalars, points)
            .mul_by_cofactor()
            .is_identity()
    }
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::constants::EIGHT_TORSION;

    use super::*;
    use crate::identity::{signing_message, Keypair, MessageKind};

    /// Signatures by `keys` keys, taking turns, on distinct messages split in two parts.
    fn signed(keys: u8, n: u32) -> Vec<(PublicKey, Signature, Vec<u8>, Vec<u8>)> {
        let keys: Vec<Keypair> = (0..keys).map(|i| Keypair::from_seed([i; 32])).collect();
        (0..n)
            .map(|i| {
                let k = &keys[i as usize % keys.len()];
                let body = i.to_le_bytes().repeat(i as usize % 50);
                let prefix = signing_message(MessageKind::Vote, "devnet", &[]);
                let sig = k.sign(MessageKind::Vote, "devnet", &body);
                (k.public(), sig, prefix, body)
            })
            .collect()
    }

    fn holds(signed: &[(PublicKey, Signature, Vec<u8>, Vec<u8>)]) -> bool {
        let mut equation = Equation::with_capacity(signed.len());
        for (key, sig, prefix, body) in signed {
            let (Some(key), Some(sig)) = (equation.key(key), Candidate::parse(sig)) else {
                return false;
            };
            equation.push(key, &sig, &[prefix, body]);
        }
        !equation.is_empty() && equation.holds()
    }

    #[test]
    fn the_equation_holds_for_good_signatures_only() {
        for (keys, n) in [(1, 1), (1, 2), (3, 40), (16, 300), (200, 200)] {
            let good = signed(keys, n);
            assert!(holds(&good), "{keys} keys, {n} signatures");
            // Another message.
            let mut bad = good.clone();
            bad[n as usize / 2].3.push(0);
            assert!(!holds(&bad));
            // The message split elsewhere is the same message.
            let mut split = good.clone();
            let (_, _, prefix, body) = &mut split[n as usize - 1];
            prefix.extend_from_slice(body);
            body.clear();
            assert!(holds(&split));
            if n > 1 {
                // Two signatures swapped (by another key when keys > 1).
                let mut swapped = good.clone();
                let first = swapped[0].1;
                swapped[0].1 = swapped[1].1;
                swapped[1].1 = first;
                assert!(!holds(&swapped));
            }
        }
    }

    /// What `decode_point` must answer, from curve25519-dalek alone: a point whose
    /// encoding is canonical (`compress` gives the bytes back) and not of small order.
    fn reference(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
        CompressedEdwardsY(*bytes)
            .decompress()
            .filter(|p| p.compress().as_bytes() == bytes && !p.is_small_order())
    }

    #[test]
    fn small_order_table_is_exact() {
        // Every point of small order has its y in the table...
        for t in &EIGHT_TORSION {
            let mut y = t.compress().to_bytes();
            y[31] &= 0x7f;
            assert!(SMALL_ORDER_Y.contains(&y), "{y:02x?}");
        }
        // ...and every point with such a y is of small order.
        for y in &SMALL_ORDER_Y {
            for sign in [0u8, 0x80] {
                let mut bytes = *y;
                bytes[31] |= sign;
                if let Some(p) = CompressedEdwardsY(bytes).decompress() {
                    assert!(p.is_small_order(), "{bytes:02x?}");
                }
                assert!(decode_point(&bytes).is_none());
            }
        }
    }

    #[test]
    fn decode_point_agrees_with_curve25519_dalek() {
        let mut inputs: Vec<[u8; 32]> = Vec::new();
        // Arbitrary bytes (about half of them decode), valid points, points of mixed order.
        for i in 0u32..2000 {
            inputs.push(*blake3::hash(&i.to_le_bytes()).as_bytes());
        }
        for i in 1u64..200 {
            let p = EdwardsPoint::mul_base(&Scalar::from(i));
            inputs.push(p.compress().to_bytes());
            inputs.push((p + EIGHT_TORSION[(i % 8) as usize]).compress().to_bytes());
        }
        // y = p + k: not reduced, with either sign bit.
        for k in 0u8..19 {
            let mut bytes = [0xff; 32];
            bytes[0] = 0xed + k;
            inputs.push(bytes);
            bytes[31] = 0x7f;
            inputs.push(bytes);
        }
        let mut decoded = 0;
        for bytes in &inputs {
            let got = decode_point(bytes);
            assert_eq!(got, reference(bytes), "{bytes:02x?}");
            decoded += usize::from(got.is_some());
        }
        assert!(decoded > 1000, "{decoded}");
    }
}
