//! dag-pb (`PBNode`, `PBLink`) and UnixFS `Data` protobuf messages.
//!
//! Field numbers follow the dag-pb and UnixFS v1 specs. prost encodes fields in tag order,
//! but dag-pb's canonical form writes `Links` (field 2) before `Data` (field 1), so
//! [`PbNode::encode_canonical`] writes the node by hand.

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message as _;

/// A dag-pb link.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PbLink {
    /// The child's CID bytes.
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub(crate) hash: Option<Bytes>,
    /// Entry name (directories); absent in file nodes.
    #[prost(string, optional, tag = "2")]
    pub(crate) name: Option<String>,
    /// Cumulative encoded size of the DAG under the link.
    #[prost(uint64, optional, tag = "3")]
    pub(crate) tsize: Option<u64>,
}

/// A dag-pb node.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PbNode {
    /// Links, in order.
    #[prost(message, repeated, tag = "2")]
    pub(crate) links: Vec<PbLink>,
    /// Opaque data (a UnixFS `Data` message).
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub(crate) data: Option<Bytes>,
}

impl PbNode {
    /// The canonical dag-pb bytes: every link (field 2), then the data (field 1).
    pub(crate) fn encode_canonical(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        for link in &self.links {
            buf.put_u8(0x12); // field 2, length-delimited
                              // Writing to a BytesMut cannot run out of room.
            let _ = link.encode_length_delimited(&mut buf);
        }
        if let Some(data) = &self.data {
            buf.put_u8(0x0a); // field 1, length-delimited
            let _ = prost::encode_length_delimiter(data.len(), &mut buf);
            buf.put_slice(data);
        }
        buf.freeze()
    }
}

/// UnixFS `Data.DataType` values.
pub(crate) mod data_type {
    /// Deprecated leaf holding file bytes.
    pub(crate) const RAW: i32 = 0;
    /// Directory.
    pub(crate) const DIRECTORY: i32 = 1;
    /// File (leaf or interior node).
    pub(crate) const FILE: i32 = 2;
    /// Reserved metadata node.
    pub(crate) const METADATA: i32 = 3;
    /// Symbolic link.
    pub(crate) const SYMLINK: i32 = 4;
    /// Sharded directory.
    pub(crate) const HAMT_SHARD: i32 = 5;

    /// A name for error messages.
    pub(crate) fn name(value: i32) -> &'static str {
        match value {
            RAW => "Raw",
            DIRECTORY => "Directory",
            FILE => "File",
            METADATA => "Metadata",
            SYMLINK => "Symlink",
            HAMT_SHARD => "HAMTShard",
            _ => "unknown",
        }
    }
}

/// The UnixFS v1 `Data` message (fields 5..8 — HAMT and metadata — are skipped on decode).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct UnixfsData {
    /// `DataType`; required by the spec, so decoded as optional to detect its absence.
    #[prost(int32, optional, tag = "1")]
    pub(crate) r#type: Option<i32>,
    /// Inline file bytes, before the children's.
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub(crate) data: Option<Bytes>,
    /// Total file bytes under this node.
    #[prost(uint64, optional, tag = "3")]
    pub(crate) filesize: Option<u64>,
    /// File bytes under each link (proto2: not packed; decoding accepts both).
    #[prost(uint64, repeated, packed = "false", tag = "4")]
    pub(crate) blocksizes: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use cid::Cid;
    use multihash::Multihash;
    use sha2::Digest as _;

    use super::*;
    use crate::{DAG_PB_CODEC, SHA2_256_CODE};

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn sha256_cid(version_1: bool, bytes: &[u8]) -> Cid {
        let digest = sha2::Sha256::digest(bytes);
        let mh = Multihash::<64>::wrap(SHA2_256_CODE, &digest).expect("fits");
        if version_1 {
            Cid::new_v1(DAG_PB_CODEC, mh)
        } else {
            Cid::new_v0(mh).expect("v0")
        }
    }

    /// Fixtures from ipld/codec-fixtures, quoted in the UnixFS spec: decoding then encoding
    /// must give the same bytes, and the bytes the published CID.
    #[test]
    fn codec_fixtures_reencode_canonically() {
        let fixtures = [
            (
                "bafybeibh647pmxyksmdm24uad6b5f7tx4dhvilzbg2fiqgzll4yek7g7y4",
                "12340a2212208ab7a6c5e74737878ac73863cb76739d15d4666de44e5756bf55a2f9e9ab5f431209736f6d65206c696e6b1880c2d72f12370a2212208ab7a6c5e74737878ac73863cb76739d15d4666de44e5756bf55a2f9e9ab5f44120f736f6d65206f74686572206c696e6b18080a09736f6d652064617461",
            ),
            (
                "bafybeihyivpglm6o6wrafbe36fp5l67abmewk7i2eob5wacdbhz7as5obe",
                "12240a2212207521fe19c374a97759226dc5c0c8e674e73950e81b211f7dd3b6b30883a08a51",
            ),
            (
                "bafybeiezymjvhwfuharanxmzxwuomzjjuzqjewjolr4phaiyp6l7qfwo64",
                "12140a0901550005000102030418ffffffffffffff0f",
            ),
            (
                "bafybeiaqfni3s5s2k2r6rgpxz4hohdsskh44ka5tk6ztbjerqpvxwfkwaq",
                "0a00",
            ),
        ];
        for (cid, hex) in fixtures {
            let bytes = unhex(hex);
            assert_eq!(sha256_cid(true, &bytes).to_string(), cid);
            let node = PbNode::decode(bytes.as_slice()).expect("decodes");
            assert_eq!(node.encode_canonical().as_ref(), bytes.as_slice(), "{cid}");
        }
    }

    #[test]
    fn the_empty_directory_has_its_well_known_cid() {
        let data = UnixfsData {
            r#type: Some(data_type::DIRECTORY),
            ..Default::default()
        };
        let node = PbNode {
            links: Vec::new(),
            data: Some(data.encode_to_vec().into()),
        };
        let bytes = node.encode_canonical();
        assert_eq!(bytes.as_ref(), [0x0a, 0x02, 0x08, 0x01]);
        assert_eq!(
            sha256_cid(false, &bytes).to_string(),
            "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
        );
    }

    #[test]
    fn blocksizes_are_written_unpacked() {
        let data = UnixfsData {
            r#type: Some(data_type::FILE),
            data: None,
            filesize: Some(3),
            blocksizes: vec![1, 2],
        };
        assert_eq!(
            data.encode_to_vec(),
            [0x08, 0x02, 0x18, 0x03, 0x20, 0x01, 0x20, 0x02]
        );
        // A packed encoding of the same list decodes the same.
        let packed = [0x08, 0x02, 0x18, 0x03, 0x22, 0x02, 0x01, 0x02];
        assert_eq!(UnixfsData::decode(&packed[..]).expect("decodes"), data);
    }
}
