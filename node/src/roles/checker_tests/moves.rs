//! A job's committee moves: the new committee assigns in attempts of its own, so that what
//! the old committee assigned no longer stands, whichever order nodes learn things in.

use pictor_protocol::{Action, DecisionCertificate, DecisionVote};

use super::*;

/// The certificate of the job's move to `committee` at `generation`, signed by three of
/// the four checkers.
fn moved(rig: &Rig, generation: u32, committee: Vec<PublicKey>) -> DecisionCertificate {
    let action = Action::Recommittee {
        job: rig.job.id(),
        generation,
        committee,
    };
    let mut signatures: Vec<_> = (1..=3)
        .map(|i| {
            let v = DecisionVote::new(&key(i), NET, action.clone());
            (v.checker, v.signature)
        })
        .collect();
    signatures.sort_by_key(|(k, _)| *k);
    DecisionCertificate { action, signatures }
}

fn index_of(k: &PublicKey) -> usize {
    (1..=4)
        .position(|i| key(i).public() == *k)
        .expect("a checker of the rig")
}

/// The job's first leader, and its committee without it (in committee order).
fn without_leader(rig: &Rig) -> (PublicKey, Vec<PublicKey>) {
    let old = rig.checkers[0]
        .committee(&rig.job.id())
        .expect("the job is known")
        .to_vec();
    let leader = old[0];
    (leader, old.into_iter().filter(|k| *k != leader).collect())
}

#[test]
fn after_a_move_the_old_leaders_assignments_no_longer_stand() {
    let mut rig = Rig::started(2);
    let (leader, new) = without_leader(&rig);
    let first = rig.assignments();
    assert!(!first.is_empty());
    assert!(first
        .iter()
        .all(|a| a.attempt == 0 && a.assigned_by == leader));
    // The leader is lost; every checker applies the move before any claim came.
    let cert = moved(&rig, 1, new.clone());
    rig.broadcast(10, || CheckerInput::Decision(cert.clone()));
    let again: Vec<Assignment> = rig.assignments().into_iter().skip(first.len()).collect();
    let floor = rules::first_attempt(1);
    assert_eq!(
        again.len(),
        first.len(),
        "every unclaimed shard is assigned anew"
    );
    assert!(
        again
            .iter()
            .all(|a| a.attempt == floor && a.assigned_by == new[0]),
        "{again:?}"
    );
    // Each shard goes back to the worker that held it (it may have the output already).
    for a in &again {
        let before = first
            .iter()
            .find(|b| b.shard == a.shard)
            .expect("assigned before");
        assert_eq!(a.worker, before.worker, "{}", a.shard);
    }
    // The old leader's assignment and a claim on it, late: no member checks that claim.
    let member = index_of(&new[1]);
    let late = first[0].clone();
    assert!(rig.checkers[member]
        .handle(11, CheckerInput::Assignment(late.clone()))
        .is_empty());
    let claim = claim_at(late.shard, late.worker, late.attempt, b"late");
    let outs = rig.checkers[member].handle(12, CheckerInput::Claim(claim));
    assert!(
        !outs
            .iter()
            .any(|o| matches!(o, CheckerOutput::FetchRows { .. })),
        "{outs:?}"
    );
}

#[test]
fn a_member_that_took_the_old_assignment_takes_the_new_one_over_it() {
    let mut rig = Rig::started(2);
    let (_, new) = without_leader(&rig);
    let first = rig.assignments();
    let cert = moved(&rig, 1, new.clone());
    // The new leader applies the move and assigns; its assignment reaches a member that
    // has not applied the move yet (it holds the old assignment of attempt 0).
    let leader_now = index_of(&new[0]);
    let member = index_of(&new[1]);
    let outs = rig.checkers[leader_now].handle(10, CheckerInput::Decision(cert));
    let fresh: Vec<Assignment> = outs
        .into_iter()
        .filter_map(|o| match o {
            CheckerOutput::Publish(Message::Assignment(a)) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(fresh.len(), first.len());
    let a = fresh[0].clone();
    rig.checkers[member].handle(11, CheckerInput::Assignment(a.clone()));
    // The new assignment's worker claims; the member checks it.
    let claim = claim_at(a.shard, a.worker, a.attempt, b"new");
    let outs = rig.checkers[member].handle(12, CheckerInput::Claim(claim));
    assert!(
        outs.iter()
            .any(|o| matches!(o, CheckerOutput::FetchRows { .. })),
        "{outs:?}"
    );
}

/// Whether `outs` hold this checker's vote to move the job.
fn votes_a_move(outs: &[CheckerOutput]) -> bool {
    outs.iter().any(|o| {
        matches!(
            o,
            CheckerOutput::Publish(Message::DecisionVote(v))
                if matches!(v.action, Action::Recommittee { .. })
        )
    })
}

#[test]
fn a_finished_job_moves_off_a_lost_member_while_its_escrow_still_pays() {
    let mut p = params();
    p.checker_liveness_ms = 5_000;
    let mut rig = Rig::started_with(2, p);
    let job = rig.job.id();
    for a in &rig.assignments() {
        let good = tile(32, 32, a.shard.tile as u8);
        rig.claim_and_verify(10, a, &good, &good);
    }
    assert_eq!(rig.checkers[0].open_shards(&job), Some(0));
    // Long after: checkers 2 and 3 are heard from, checker 4 (the job's payer, say) is not.
    let c = &mut rig.checkers[0];
    let now = 60_000;
    for i in [2, 3] {
        c.handle(now, CheckerInput::CheckerSeen(key(i).public()));
    }
    // Every shard is decided and nothing is owed: the job is done with its committee.
    assert!(!votes_a_move(&c.handle(now, CheckerInput::Tick)));
    // Its escrow still has payments to certify (its payer may be the one gone): the job
    // moves to a committee that can pay them.
    c.handle(
        now,
        CheckerInput::Funding {
            job,
            funding: crate::roles::checker::JobFunding::Funded,
            payments_due: true,
        },
    );
    assert!(votes_a_move(&c.handle(now + 1, CheckerInput::Tick)));
}
