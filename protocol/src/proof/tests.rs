use super::*;

fn tile(w: u32, h: u32) -> TileImage {
    let pixels = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
    TileImage {
        width: w,
        height: h,
        pixels,
    }
}

#[test]
fn block_round_trip() {
    let t = tile(5, 3);
    let b = t.to_block();
    assert_eq!(b.len() as u64, block_len(5, 3));
    assert_eq!(TileImage::from_block(&b), Ok(t.clone()));
    assert!(TileImage::from_block(&b[..b.len() - 1]).is_err());
    let mut long = b.clone();
    long.push(0);
    assert!(TileImage::from_block(&long).is_err());
    assert!(TileImage::from_block(b"PXT2").is_err());
    assert_eq!(t.pixel(1, 0), Some([t.pixels[3], t.pixels[4], t.pixels[5]]));
    assert_eq!(t.pixel(5, 0), None);
    assert_eq!(row_range(5, 2), 46..61);
}

#[test]
fn prove_and_verify_rows() {
    let t = tile(128, 128);
    let block = t.to_block();
    let root = ContentId::of(&block);
    let rows = [0, 3, 64, 127];
    let proof = prove_rows(&block, 128, &rows).unwrap_or_else(|e| panic!("{e}"));
    let got = verify_rows(&root, 128, 128, &rows, &proof).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.len(), 4);
    for (row, bytes) in got {
        let r = row_range(128, row);
        assert_eq!(bytes, block[r.start as usize..r.end as usize]);
    }
}

#[test]
fn proofs_from_a_stored_outboard_verify_as_before() {
    let block = tile(128, 128).to_block();
    let root = ContentId::of(&block);
    let rows = [0, 3, 64, 127];
    let outboard = tile_outboard(&block).unwrap_or_else(|e| panic!("{e}"));
    let stored = prove_rows_with(&block, &outboard, 128, &rows).unwrap_or_else(|e| panic!("{e}"));
    let computed = prove_rows(&block, 128, &rows).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored, computed, "the same proof, byte for byte");
    let got = verify_rows(&root, 128, 128, &rows, &stored).unwrap_or_else(|e| panic!("{e}"));
    for (row, bytes) in got {
        let r = row_range(128, row);
        assert_eq!(bytes, block[r.start as usize..r.end as usize]);
    }
    // The same checks on the request as without an outboard.
    assert!(matches!(
        prove_rows_with(&block, &outboard, 128, &[128]),
        Err(ProofError::RowOutOfRange { row: 128, .. })
    ));
    assert!(prove_rows_with(&block, &outboard, 127, &rows).is_err());
    // A truncated outboard is refused; a damaged one makes a proof that does not verify.
    assert!(matches!(
        prove_rows_with(&block, &outboard[..outboard.len() - 1], 128, &rows),
        Err(ProofError::BadOutboard { .. })
    ));
    let mut damaged = outboard.clone();
    damaged[8] ^= 1;
    if let Ok(p) = prove_rows_with(&block, &damaged, 128, &rows) {
        assert!(verify_rows(&root, 128, 128, &rows, &p).is_err());
    }
    // Only whole tile blocks have a tile outboard.
    assert!(tile_outboard(b"a scene bundle").is_err());
    assert!(tile_outboard(&block[..block.len() - 1]).is_err());
}

#[test]
fn tampering_is_detected() {
    let block = tile(128, 128).to_block();
    let root = ContentId::of(&block);
    let rows = [3];
    let proof = prove_rows(&block, 128, &rows).unwrap_or_else(|e| panic!("{e}"));
    // A flipped byte anywhere in the row slice.
    for i in (0..proof.rows[0].slice.len()).step_by(37) {
        let mut p = proof.clone();
        p.rows[0].slice[i] ^= 0x40;
        assert!(verify_rows(&root, 128, 128, &rows, &p).is_err(), "byte {i}");
    }
    // A flipped header byte.
    let mut p = proof.clone();
    p.header[10] ^= 1;
    assert!(verify_rows(&root, 128, 128, &rows, &p).is_err());
    // Row 3's slice presented as row 100 (another chunk): rejected.
    let mut p = proof.clone();
    p.rows[0].row = 100;
    assert!(verify_rows(&root, 128, 128, &[100], &p).is_err());
    // Row 3's slice presented as row 4: rows 3 and 4 share bao chunk 1, so the slice
    // is the same one and proves row 4's true bytes; never row 3's bytes in its place.
    let mut p = proof.clone();
    p.rows[0].row = 4;
    let r4 = row_range(128, 4);
    if let Ok(rows) = verify_rows(&root, 128, 128, &[4], &p) {
        assert_eq!(rows[0].1, block[r4.start as usize..r4.end as usize]);
    }
    // Wrong row set.
    assert!(matches!(
        verify_rows(&root, 128, 128, &[4], &proof),
        Err(ProofError::WrongRows { .. })
    ));
    // Wrong root.
    let other = ContentId::of(b"other");
    assert!(verify_rows(&other, 128, 128, &rows, &proof).is_err());
    // Truncated.
    let mut p = proof.clone();
    p.rows[0].slice.pop();
    assert!(verify_rows(&root, 128, 128, &rows, &p).is_err());
    let mut p = proof.clone();
    p.rows[0].slice.clear();
    assert!(verify_rows(&root, 128, 128, &rows, &p).is_err());
    // Trailing garbage.
    let mut p = proof.clone();
    p.rows[0].slice.push(0);
    assert!(verify_rows(&root, 128, 128, &rows, &p).is_err());
    // Wrong expected dimensions.
    assert!(verify_rows(&root, 127, 128, &rows, &proof).is_err());
    assert!(verify_rows(&root, 128, 127, &rows, &proof).is_err());
    // Out-of-range rows.
    assert!(prove_rows(&block, 128, &[128]).is_err());
    assert!(verify_rows(&root, 128, 128, &[200], &proof).is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
    #[test]
    fn any_rows_round_trip(w in 1u32..200, h in 1u32..40, picks in proptest::collection::vec(0u32..1000, 0..8)) {
        let block = tile(w, h).to_block();
        let root = ContentId::of(&block);
        let rows: Vec<u32> = picks.iter().map(|r| r % h).collect();
        let proof = prove_rows(&block, w, &rows);
        proptest::prop_assert!(proof.is_ok());
        let proof = proof.unwrap_or(RowsProof { header: vec![], rows: vec![] });
        let outboard = tile_outboard(&block).unwrap_or_default();
        let stored = prove_rows_with(&block, &outboard, w, &rows);
        proptest::prop_assert_eq!(stored, Ok(proof.clone()));
        let got = verify_rows(&root, w, h, &rows, &proof);
        proptest::prop_assert!(got.is_ok());
        for (row, bytes) in got.unwrap_or_default() {
            let r = row_range(w, row);
            proptest::prop_assert_eq!(&bytes[..], &block[r.start as usize..r.end as usize]);
        }
    }
}

#[test]
fn arbitrary_slices_never_panic() {
    let block = tile(16, 16).to_block();
    let root = ContentId::of(&block);
    for len in [0usize, 1, 8, 64, 200, 2000] {
        let junk = vec![0xab; len];
        let p = RowsProof {
            header: junk.clone(),
            rows: vec![RowProof {
                row: 1,
                slice: junk,
            }],
        };
        assert!(verify_rows(&root, 16, 16, &[1], &p).is_err());
    }
}
