//! Attestations verified per second on one core: one by one (`Attestation::verify`, two
//! strict ed25519 checks each) against batched (`verify_batch`, both signatures of every
//! attestation in one batch), at the batch sizes a checker sees (one committee's votes on
//! one claim up to a busy second of gossip), from a set of 16 checkers.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pictor_protocol::{
    attestation::verify_batch, Attestation, ContentId, JobId, Keypair, PixelSample, ResultClaim,
    ShardId,
};

fn attestations(n: usize) -> Vec<Attestation> {
    let worker = Keypair::from_seed([200; 32]).public();
    (0..n)
        .map(|i| {
            // Votes of a set of 16 checkers on many claims.
            let mut seed = [1u8; 32];
            seed[..8].copy_from_slice(&((i % 16) as u64).to_le_bytes());
            let checker = Keypair::from_seed(seed);
            let claim = ResultClaim {
                shard: ShardId {
                    job: JobId([(i % 251) as u8; 32]),
                    frame: 1,
                    tile: i as u32,
                },
                worker,
                attempt: 0,
                output: ContentId::of(&(i as u64).to_le_bytes()),
                width: 128,
                height: 128,
                render_ms: 10,
                device: "cpu".into(),
            };
            let samples = (0..27)
                .map(|k| PixelSample {
                    x: k,
                    y: k,
                    expected: [k as u8; 3],
                    claimed: [k as u8; 3],
                })
                .collect();
            Attestation::create(&checker, "bench", &claim, samples)
        })
        .collect()
}

fn verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("attestations");
    for n in [16usize, 64, 256, 1024] {
        let all = attestations(n);
        let refs: Vec<&Attestation> = all.iter().collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("one_by_one", n), &refs, |b, refs| {
            b.iter(|| refs.iter().filter(|a| a.verify("bench").is_ok()).count())
        });
        group.bench_with_input(BenchmarkId::new("verify_batch", n), &refs, |b, refs| {
            b.iter(|| {
                verify_batch(refs, "bench")
                    .iter()
                    .filter(|r| r.is_ok())
                    .count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
