use super::*;
use crate::job::JobId;

pub(crate) fn claim() -> ResultClaim {
    ResultClaim {
        shard: ShardId {
            job: JobId([5; 32]),
            frame: 1,
            tile: 0,
        },
        worker: Keypair::from_seed([50; 32]).public(),
        attempt: 0,
        output: ContentId::of(b"tile"),
        width: 64,
        height: 64,
        render_ms: 5,
        device: "cpu".into(),
    }
}

pub(crate) fn samples_for(kp: &Keypair, net: &str, c: &ResultClaim, bad: bool) -> Vec<PixelSample> {
    let (_, seed) = seed_signature(kp, net, &c.id());
    rules::sample_pixels(&seed, c.width, c.height, 27)
        .into_iter()
        .enumerate()
        .map(|(i, (x, y))| PixelSample {
            x,
            y,
            expected: [1, 2, 3],
            claimed: if bad && i == 5 { [1, 2, 4] } else { [1, 2, 3] },
        })
        .collect()
}

#[test]
fn valid_and_invalid_attestations_verify() {
    let kp = Keypair::from_seed([9; 32]);
    let c = claim();
    let good = Attestation::create(&kp, "devnet", &c, samples_for(&kp, "devnet", &c, false));
    assert_eq!(good.vote.verdict, Verdict::Valid);
    assert_eq!(good.verify("devnet"), Ok(()));
    assert_eq!(good.check_samples(64, 64, 27), Ok(()));
    assert_eq!(good.check_claim(&c), Ok(()));
    assert!(good.verify("testnet").is_err());
    let bad = Attestation::create(&kp, "devnet", &c, samples_for(&kp, "devnet", &c, true));
    assert_eq!(bad.vote.verdict, Verdict::Invalid);
    assert_eq!(bad.verify("devnet"), Ok(()));
    let unavailable = Attestation::create(&kp, "devnet", &c, Vec::new());
    assert_eq!(unavailable.vote.verdict, Verdict::Invalid);
    assert_eq!(unavailable.check_samples(64, 64, 27), Ok(()));
}

fn regions_for(kp: &Keypair, net: &str, c: &ResultClaim, fail: Option<usize>) -> Vec<RegionScore> {
    let (_, seed) = seed_signature(kp, net, &c.id());
    rules::sample_regions(&seed, c.width, c.height, 5, rules::REGION_SIDE)
        .into_iter()
        .enumerate()
        .map(|(i, (x, y, w, h))| RegionScore {
            x,
            y,
            w,
            h,
            psnr_cdb: 4500,
            ssim_ppm: 990_000,
            pass: fail != Some(i),
        })
        .collect()
}

#[test]
fn perceptual_attestations() {
    let kp = Keypair::from_seed([9; 32]);
    let c = claim();
    let good =
        Attestation::create_perceptual(&kp, "devnet", &c, regions_for(&kp, "devnet", &c, None));
    assert_eq!(good.vote.verdict, Verdict::Valid);
    assert_eq!(good.verify("devnet"), Ok(()));
    assert_eq!(good.check_regions(64, 64, 5, rules::REGION_SIDE), Ok(()));
    // Pixel-sample checks do not accept region evidence, nor other region counts.
    assert!(good.check_samples(64, 64, 5).is_err());
    assert!(good.check_regions(64, 64, 4, rules::REGION_SIDE).is_err());
    let bad =
        Attestation::create_perceptual(&kp, "devnet", &c, regions_for(&kp, "devnet", &c, Some(2)));
    assert_eq!(bad.vote.verdict, Verdict::Invalid);
    assert_eq!(bad.verify("devnet"), Ok(()));
    // A Valid vote over a failed region is a lie.
    let mut lie = good.clone();
    lie.regions[1].pass = false;
    assert!(matches!(
        lie.verify("devnet"),
        Err(AttestationError::VerdictMismatch { .. })
    ));
    // Regions of the checker's choosing.
    let mut moved = good.clone();
    moved.regions[0].x += 8;
    assert_eq!(
        moved.check_regions(64, 64, 5, rules::REGION_SIDE),
        Err(AttestationError::WrongSamplePositions)
    );
    // Both kinds of evidence at once.
    let mut mixed = good.clone();
    mixed.samples = samples_for(&kp, "devnet", &c, false);
    assert_eq!(mixed.verify("devnet"), Err(AttestationError::MixedEvidence));
    // Built-in attestations encode as before (no `regions` key).
    let builtin = Attestation::create(&kp, "devnet", &c, samples_for(&kp, "devnet", &c, false));
    let bytes = crate::codec::encode(&builtin);
    assert!(!bytes.windows(7).any(|w| w == b"regions"));
    let back: Attestation = crate::codec::decode(&bytes, 1 << 20).expect("decodes");
    assert_eq!(back, builtin);
}

#[test]
fn lying_attestations_rejected() {
    let kp = Keypair::from_seed([9; 32]);
    let c = claim();
    let good = Attestation::create(&kp, "devnet", &c, samples_for(&kp, "devnet", &c, false));
    // Samples at positions of the checker's choosing.
    let mut moved = good.clone();
    moved.samples[0].x = (moved.samples[0].x + 1) % 64;
    assert_eq!(
        moved.check_samples(64, 64, 27),
        Err(AttestationError::WrongSamplePositions)
    );
    assert_eq!(
        good.check_samples(64, 64, 26),
        Err(AttestationError::WrongSamplePositions)
    );
    // A Valid vote over a mismatching sample.
    let mut lie = good.clone();
    lie.samples[3].claimed = [0, 0, 0];
    assert!(matches!(
        lie.verify("devnet"),
        Err(AttestationError::VerdictMismatch { .. })
    ));
    // Another checker's seed signature.
    let mut stolen = good.clone();
    stolen.seed_signature = seed_signature(&Keypair::from_seed([8; 32]), "devnet", &c.id()).0;
    assert!(matches!(
        stolen.verify("devnet"),
        Err(AttestationError::BadSeedSignature(_))
    ));
    let mut flipped = good.clone();
    flipped.vote.verdict = Verdict::Invalid;
    assert!(matches!(
        flipped.verify("devnet"),
        Err(AttestationError::BadVoteSignature(_))
    ));
    let mut other = c.clone();
    other.attempt = 1;
    assert_eq!(
        good.check_claim(&other),
        Err(AttestationError::ClaimMismatch)
    );
}
