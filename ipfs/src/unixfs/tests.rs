use bytes::Bytes;
use futures::executor::block_on;
use proptest::prelude::*;
use prost::Message as _;

use super::{
    export, import,
    pb::{data_type, PbLink, PbNode, UnixfsData},
    DEFAULT_CHUNK_SIZE, MAX_LINKS,
};
use crate::{blake3_cid, Block, Blockstore, IpfsError, MemoryBlockstore, DAG_PB_CODEC, RAW_CODEC};

fn store_of(blocks: &[Block]) -> MemoryBlockstore {
    let store = MemoryBlockstore::new();
    for block in blocks {
        store.put(block).expect("memory store");
    }
    store
}

fn pattern(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i * 31 % 251) as u8)
        .collect::<Vec<_>>()
        .into()
}

fn node_bytes(links: Vec<PbLink>, unixfs: &UnixfsData) -> Bytes {
    PbNode {
        links,
        data: Some(unixfs.encode_to_vec().into()),
    }
    .encode_canonical()
}

fn link(cid: &cid::Cid) -> PbLink {
    PbLink {
        hash: Some(cid.to_bytes().into()),
        name: None,
        tsize: None,
    }
}

#[test]
fn a_small_file_is_one_raw_block() {
    let (root, blocks) = import(pattern(1000), DEFAULT_CHUNK_SIZE).expect("imports");
    assert_eq!(blocks.len(), 1);
    assert_eq!(root.codec(), RAW_CODEC);
    assert_eq!(root, *blocks[0].cid());
}

#[test]
fn a_three_level_dag_roundtrips() {
    // 174 * 174 + 1 one-byte chunks need two levels of dag-pb nodes above the leaves.
    let data = pattern(MAX_LINKS * MAX_LINKS + 1);
    let (root, blocks) = import(data.clone(), 1).expect("imports");
    assert_eq!(root.codec(), DAG_PB_CODEC);
    let store = store_of(&blocks);
    let out = block_on(export(&store, root, u64::MAX)).expect("exports");
    assert_eq!(out, data);
}

#[test]
fn the_limit_is_checked_before_fetching_children() {
    let data = pattern(10_000);
    let (root, blocks) = import(data, 1000).expect("imports");
    // Only the root is available: a limit error must come before any child is needed.
    let root_only: Vec<Block> = blocks.into_iter().filter(|b| *b.cid() == root).collect();
    let store = store_of(&root_only);
    let err = block_on(export(&store, root, 9_999)).expect_err("too large");
    assert!(matches!(
        err,
        IpfsError::FileTooLarge {
            size: 10_000,
            limit: 9_999
        }
    ));
}

#[test]
fn bad_chunk_sizes_are_refused() {
    assert!(matches!(
        import(pattern(10), 0),
        Err(IpfsError::InvalidChunkSize(0))
    ));
    assert!(import(pattern(10), crate::MAX_BLOCK_SIZE + 1).is_err());
}

#[test]
fn inline_data_and_sha256_v0_nodes_are_read() {
    // A legacy-style node: CIDv0 (sha2-256), inline data then a raw leaf.
    let leaf = Block::raw(Bytes::from_static(b" world")).expect("leaf");
    let unixfs = UnixfsData {
        r#type: Some(data_type::FILE),
        data: Some(Bytes::from_static(b"hello")),
        filesize: Some(11),
        blocksizes: vec![6],
    };
    let bytes = node_bytes(vec![link(leaf.cid())], &unixfs);
    let mh = crate::block::multihash_with(crate::SHA2_256_CODE, 32, &bytes).expect("sha256");
    let root = cid::Cid::new_v0(mh).expect("v0");
    let root_block = Block::new_verified(root, bytes).expect("verifies");
    let store = store_of(&[leaf, root_block]);
    let out = block_on(export(&store, root, 100)).expect("exports");
    assert_eq!(out.as_ref(), b"hello world");
}

#[test]
fn malformed_nodes_are_errors() {
    let leaf = Block::raw(Bytes::from_static(b"abc")).expect("leaf");
    let file = |filesize, blocksizes: Vec<u64>, kind| UnixfsData {
        r#type: Some(kind),
        data: None,
        filesize: Some(filesize),
        blocksizes,
    };
    let cases = [
        (
            "wrong filesize",
            node_bytes(vec![link(leaf.cid())], &file(4, vec![3], data_type::FILE)),
        ),
        (
            "missing blocksize",
            node_bytes(vec![link(leaf.cid())], &file(3, vec![], data_type::FILE)),
        ),
        (
            "leaf size differs",
            node_bytes(vec![link(leaf.cid())], &file(2, vec![2], data_type::FILE)),
        ),
        (
            "a directory",
            node_bytes(vec![], &file(0, vec![], data_type::DIRECTORY)),
        ),
        ("not protobuf", Bytes::from_static(&[0xff, 0xff, 0xff])),
        (
            "no data",
            PbNode {
                links: vec![],
                data: None,
            }
            .encode_canonical(),
        ),
    ];
    for (what, bytes) in cases {
        let block = Block::blake3(DAG_PB_CODEC, bytes).expect("small");
        let store = store_of(&[leaf.clone(), block.clone()]);
        let result = block_on(export(&store, *block.cid(), 1 << 20));
        assert!(
            matches!(result, Err(IpfsError::Malformed { .. })),
            "{what}: {result:?}"
        );
    }
    let missing = blake3_cid(RAW_CODEC, b"nowhere");
    let result = block_on(export(&MemoryBlockstore::new(), missing, 10));
    assert!(matches!(result, Err(IpfsError::MissingBlock(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn import_then_export_roundtrips(
        data in proptest::collection::vec(any::<u8>(), 0..60_000),
        chunk in 1usize..4096,
    ) {
        let data = Bytes::from(data);
        let (root, blocks) = import(data.clone(), chunk).expect("imports");
        let store = store_of(&blocks);
        let out = block_on(export(&store, root, data.len() as u64)).expect("exports");
        prop_assert_eq!(out, data);
    }

    #[test]
    fn junk_dag_pb_never_panics(junk in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let block = Block::blake3(DAG_PB_CODEC, junk.into()).expect("small");
        let store = store_of(std::slice::from_ref(&block));
        let _ = block_on(export(&store, *block.cid(), 1 << 20));
    }

    #[test]
    fn mutated_nodes_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let data = pattern(5_000);
        let (root, mut blocks) = import(data, 64).expect("imports");
        let position = blocks.iter().position(|b| *b.cid() == root).expect("root block");
        let mut bytes = blocks[position].data().to_vec();
        for (index, value) in flips {
            let i = index.index(bytes.len());
            bytes[i] ^= value;
        }
        let mutated = Block::blake3(DAG_PB_CODEC, bytes.into()).expect("small");
        blocks.push(mutated.clone());
        let store = store_of(&blocks);
        let _ = block_on(export(&store, *mutated.cid(), 1 << 20));
    }
}
