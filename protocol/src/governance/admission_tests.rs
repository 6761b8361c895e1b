//! Admissions and epochs: an applicant's record, the certificate that admits it, and the
//! set that changes only at the epoch boundary two epochs later.

use super::tests::{certify, members};
use super::*;
use crate::capability::{CapabilityRecord, Device, DeviceKind, EngineVersion};
use crate::identity::Keypair;
use crate::job::{Engine, JobId};
use crate::rules;

const NET: &str = "devnet";
const EPOCH_MS: u64 = 1_000;

fn record(node: PublicKey) -> CapabilityRecord {
    CapabilityRecord {
        node,
        devices: vec![Device {
            kind: DeviceKind::Cpu,
            name: "test cpu".into(),
            memory_bytes: 8 << 30,
            compute_capability: None,
        }],
        engines: vec![EngineVersion {
            engine: Engine::Builtin,
            version: "0.1.0".into(),
        }],
        benchmark_ksamples_per_s: 1_000,
        threads: 2,
        issued_ms: 5,
        render_digest: None,
        price: 0,
    }
}

fn application(applicant: &Keypair) -> SignedApplication {
    SignedApplication::new(
        applicant,
        NET,
        Application {
            checker: applicant.public(),
            capability: record(applicant.public()),
            render_digest: [7; 32],
            issued_ms: 5,
        },
    )
}

fn ledger(kps: &[Keypair]) -> Ledger {
    Ledger::new(NET, kps.iter().map(Keypair::public).collect(), 4).with_epochs(EPOCH_MS)
}

#[test]
fn each_applicant_renders_its_own_window_inside_its_image() {
    let renders: Vec<AdmissionRender> = (0..50u8)
        .map(|i| AdmissionRender::of(&Keypair::from_seed([i; 32]).public()))
        .collect();
    for r in &renders {
        assert!(r.x + r.w <= r.width && r.y + r.h <= r.height, "{r:?}");
        assert!(r.samples >= 1);
    }
    let distinct: std::collections::BTreeSet<_> = renders
        .iter()
        .map(|r| (r.width, r.height, r.x, r.y))
        .collect();
    assert_eq!(
        distinct.len(),
        renders.len(),
        "no two applicants share a render"
    );
    let k = Keypair::from_seed([1; 32]).public();
    assert_eq!(AdmissionRender::of(&k), AdmissionRender::of(&k));
}

#[test]
fn an_application_proves_itself_and_refuses_changes() {
    let applicant = Keypair::from_seed([9; 32]);
    let good = application(&applicant);
    assert!(good.verify(NET).is_ok());
    assert!(good.verify("other-net").is_err());
    let mut digest = good.clone();
    digest.application.render_digest[0] ^= 1;
    assert!(matches!(
        digest.verify(NET),
        Err(GovernanceError::BadSignature { .. })
    ));
    // Another node's record, even signed by the applicant, is refused.
    let other = Keypair::from_seed([10; 32]);
    let mut foreign = good.application.clone();
    foreign.capability = record(other.public());
    let foreign = SignedApplication::new(&applicant, NET, foreign);
    assert!(matches!(
        foreign.verify(NET),
        Err(GovernanceError::Application(_))
    ));
}

#[test]
fn an_admitted_checker_joins_the_set_two_epochs_after_its_certificate() {
    let kps = members(4);
    let mut ledger = ledger(&kps);
    ledger.advance(3 * EPOCH_MS + 10);
    assert_eq!(ledger.epoch(), 3);
    let applicant = Keypair::from_seed([9; 32]);
    let action = Action::AdmitChecker {
        epoch: 3,
        application: application(&applicant),
    };
    // 2 of 4 is no quorum; 3 of 4 is.
    assert!(matches!(
        ledger.apply(&certify(&action, &kps[..2])),
        Err(GovernanceError::NoQuorum { .. })
    ));
    let applied = ledger
        .apply(&certify(&action, &kps[..3]))
        .expect("admitted");
    assert_eq!(
        applied,
        Applied::Admitted {
            checker: applicant.public(),
            from_epoch: 5
        }
    );
    assert_eq!(
        ledger.apply(&certify(&action, &kps[..3])),
        Ok(Applied::Nothing)
    );
    // Pending until its epoch; a member from then on.
    assert_eq!(ledger.set().len(), 4);
    assert_eq!(
        ledger.status(&applicant.public(), true, false),
        Some(CheckerStatus::Pending)
    );
    assert!(!ledger.advance(4 * EPOCH_MS));
    assert_eq!(ledger.set().len(), 4);
    assert!(ledger.advance(5 * EPOCH_MS));
    assert!(ledger.set().contains(&applicant.public()));
    assert_eq!(
        ledger.status(&applicant.public(), true, false),
        Some(CheckerStatus::Standby)
    );
    assert_eq!(ledger.set_at(4).len(), 4);
    assert_eq!(ledger.set_at(5).len(), 5);
}

#[test]
fn admissions_of_epochs_to_come_or_of_members_are_refused() {
    let kps = members(4);
    let mut ledger = ledger(&kps);
    ledger.advance(2 * EPOCH_MS);
    let applicant = Keypair::from_seed([9; 32]);
    let ahead = Action::AdmitChecker {
        epoch: 4,
        application: application(&applicant),
    };
    assert!(matches!(
        ledger.apply(&certify(&ahead, &kps)),
        Err(GovernanceError::Admission(_))
    ));
    let member = Action::AdmitChecker {
        epoch: 2,
        application: application(&kps[0]),
    };
    assert!(matches!(
        ledger.apply(&certify(&member, &kps)),
        Err(GovernanceError::Admission(_))
    ));
    // Signed by the applicant itself and two members: it is not a member yet.
    let mut signers = kps[..2].to_vec();
    signers.push(applicant.clone());
    let own = Action::AdmitChecker {
        epoch: 2,
        application: application(&applicant),
    };
    assert!(matches!(
        ledger.apply(&certify(&own, &signers)),
        Err(GovernanceError::NotChecker(_))
    ));
}

#[test]
fn a_job_draws_its_committee_from_the_set_of_the_epoch_it_names() {
    let kps = members(4);
    let mut ledger = ledger(&kps);
    let applicants: Vec<Keypair> = (0..4u8).map(|i| Keypair::from_seed([60 + i; 32])).collect();
    for a in &applicants {
        let action = Action::AdmitChecker {
            epoch: 0,
            application: application(a),
        };
        ledger.apply(&certify(&action, &kps)).expect("admitted");
    }
    ledger.advance(2 * EPOCH_MS);
    assert_eq!(ledger.set().len(), 8);
    let genesis: Vec<PublicKey> = kps.iter().map(Keypair::public).collect();
    // A job of the new epoch whose committee holds a new member.
    let job = (0..255u8)
        .map(|i| JobId([i; 32]))
        .find(|j| {
            rules::committee(j, ledger.set(), 4)
                .iter()
                .any(|k| !genesis.contains(k))
        })
        .expect("some committee holds a new member");
    ledger.note_job(job, 2);
    assert_eq!(
        ledger.committee(&job),
        rules::committee(&job, ledger.set(), 4)
    );
    // The same job named at epoch 0 draws from the genesis set.
    ledger.note_job(job, 0);
    assert_eq!(ledger.committee(&job), rules::committee(&job, &genesis, 4));
    // A job the ledger does not hold: a certificate of either set's committee is valid.
    let unknown = JobId([255; 32]);
    let all = ledger.committees(&unknown);
    assert!(all.contains(&rules::committee(&unknown, &genesis, 4)));
    assert!(all.contains(&rules::committee(&unknown, ledger.set(), 4)));
}

#[test]
fn a_second_certificate_on_an_applied_admission_changes_nothing_and_is_not_checked() {
    let kps = members(4);
    let mut ledger = ledger(&kps);
    ledger.advance(2 * EPOCH_MS);
    let admit = Action::AdmitChecker {
        epoch: 2,
        application: application(&Keypair::from_seed([9; 32])),
    };
    assert!(!ledger.settled(&admit));
    assert!(matches!(
        ledger.apply(&certify(&admit, &kps)),
        Ok(Applied::Admitted { .. })
    ));
    assert!(ledger.settled(&admit));
    // Another member's certificate on the same action, even one whose signatures would
    // not verify, changes nothing.
    let mut other = certify(&admit, &kps[1..]);
    other.signatures.clear();
    assert!(matches!(ledger.apply(&other), Ok(Applied::Nothing)));
    assert_eq!(ledger.set_at(4).len(), 5);
}
