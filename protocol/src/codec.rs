//! The canonical CBOR codec: one encoding per value, checked on every decode.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest gossiped message (an envelope), in bytes.
pub const MAX_GOSSIP_SIZE: usize = 64 * 1024;
/// Largest point-to-point response, in bytes.
pub const MAX_RESPONSE_SIZE: usize = 8 * 1024 * 1024;

/// Nesting limit for decoding (our types nest a handful of levels).
const RECURSION_LIMIT: usize = 32;

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The input is longer than the limit for its context.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not CBOR of the expected shape.
    #[error("malformed CBOR: {0}")]
    Malformed(String),
    /// Decoded, but the bytes are not the canonical encoding of the value (trailing bytes,
    /// non-minimal or indefinite lengths, reordered or unknown fields, tags).
    #[error("non-canonical encoding")]
    NonCanonical,
    /// Encoding failed (never happens for this crate's types).
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// Encodes a value as CBOR, returning an error instead of panicking.
pub fn try_encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(out)
}

/// Encodes a value as canonical CBOR.
///
/// Encoding this crate's types cannot fail (no maps with non-string keys, no I/O); if a
/// foreign type fails to encode, the result is empty, which no decoder accepts.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    try_encode(value).unwrap_or_default()
}

/// Decodes a value, accepting only its canonical encoding and at most `max_len` bytes.
pub fn decode<T: DeserializeOwned + Serialize>(
    bytes: &[u8],
    max_len: usize,
) -> Result<T, CodecError> {
    if bytes.len() > max_len {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    let value: T = ciborium::de::from_reader_with_recursion_limit(bytes, RECURSION_LIMIT)
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    let again = try_encode(&value)?;
    if again != bytes {
        return Err(CodecError::NonCanonical);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct T {
        a: u32,
        b: String,
    }

    #[test]
    fn round_trip_and_strictness() {
        let v = T {
            a: 5,
            b: "x".into(),
        };
        let bytes = encode(&v);
        assert_eq!(decode::<T>(&bytes, 100), Ok(v));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode::<T>(&trailing, 100), Err(CodecError::NonCanonical));
        assert!(matches!(
            decode::<T>(&bytes[..bytes.len() - 1], 100),
            Err(CodecError::Malformed(_))
        ));
        assert!(matches!(
            decode::<T>(&bytes, 3),
            Err(CodecError::TooLarge { .. })
        ));
    }

    #[test]
    fn non_minimal_integer_rejected() {
        // {"a": 5, "b": "x"} with 5 encoded as 0x18 0x05.
        let mut bytes = vec![0xa2, 0x61, b'a', 0x18, 0x05, 0x61, b'b', 0x61, b'x'];
        assert_eq!(decode::<T>(&bytes, 100), Err(CodecError::NonCanonical));
        bytes = vec![0xa2, 0x61, b'a', 0x05, 0x61, b'b', 0x61, b'x'];
        assert!(decode::<T>(&bytes, 100).is_ok());
        // Reordered fields decode but are not canonical.
        let reordered = vec![0xa2, 0x61, b'b', 0x61, b'x', 0x61, b'a', 0x05];
        assert_eq!(decode::<T>(&reordered, 100), Err(CodecError::NonCanonical));
        // Indefinite-length map.
        let indef = vec![0xbf, 0x61, b'a', 0x05, 0x61, b'b', 0x61, b'x', 0xff];
        assert_eq!(decode::<T>(&indef, 100), Err(CodecError::NonCanonical));
    }

    #[test]
    fn unknown_field_and_wrong_type_rejected() {
        let extra = vec![
            0xa3, 0x61, b'a', 0x05, 0x61, b'b', 0x61, b'x', 0x61, b'c', 0x01,
        ];
        assert!(decode::<T>(&extra, 100).is_err());
        let wrong = vec![0xa2, 0x61, b'a', 0x61, b'5', 0x61, b'b', 0x61, b'x'];
        assert!(matches!(
            decode::<T>(&wrong, 100),
            Err(CodecError::Malformed(_))
        ));
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let mut bytes = vec![0x81; 10_000];
        bytes.push(0x00);
        assert!(decode::<Vec<u32>>(&bytes, 100_000).is_err());
    }
}
