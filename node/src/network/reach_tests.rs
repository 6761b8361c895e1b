use super::*;

fn addr(s: &str) -> Multiaddr {
    s.parse().expect("multiaddr")
}

#[test]
fn a_node_is_unknown_until_tested_and_public_once_dialled_back() {
    let mut reach = Reach::new(false, false);
    assert_eq!(reach.reachability(), Reachability::Unknown);
    let server = PeerId::random();
    let mine = addr("/ip4/10.77.0.21/tcp/7400");
    assert!(reach.probed(1, &mine, server, Ok(())).is_empty());
    // A successful test alone is not a confirmation: the swarm confirms the address.
    assert_eq!(reach.reachability(), Reachability::Unknown);
    reach.external(2, &mine, true);
    assert_eq!(reach.reachability(), Reachability::Public);
    let report = reach.report(std::slice::from_ref(&mine), &[]);
    assert!(report.summary.contains("10.77.0.21"), "{}", report.summary);
    assert_eq!(report.advice, None);
    // A relayed address is never a confirmation of public reach.
    let mut other = Reach::new(false, false);
    other.external(3, &addr("/ip4/10.77.0.5/tcp/7400/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit"), true);
    assert_eq!(other.reachability(), Reachability::Unknown);
}

#[test]
fn a_node_behind_nat_reserves_on_relays_then_reports_hole_punches() {
    let mut reach = Reach::new(false, false);
    let relays: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
    // Relays known before any verdict: nothing asked yet.
    for (i, r) in relays.iter().enumerate() {
        let out = reach.relay_seen(
            1,
            *r,
            &[
                addr("/ip4/127.0.0.1/tcp/7400"),
                addr(&format!("/ip4/10.77.0.{}/tcp/7400", 5 + i)),
            ],
        );
        assert!(out.is_empty());
    }
    let out = reach.probed(
        10,
        &addr("/ip4/10.77.0.2/tcp/7400"),
        PeerId::random(),
        Err("dial back failed".into()),
    );
    assert_eq!(reach.reachability(), Reachability::Private);
    // Two relays asked, at their non-loopback addresses.
    assert_eq!(out.len(), MAX_RELAYS);
    for o in &out {
        let ReachOutput::Reserve { relay, address } = o;
        assert!(
            address.to_string().starts_with("/ip4/10.77.0."),
            "{address}"
        );
        assert!(
            address
                .to_string()
                .ends_with(&format!("/p2p/{relay}/p2p-circuit")),
            "{address}"
        );
        assert_eq!(reach.relay_of(address), Some(*relay));
    }
    // Asked again, nothing more while both are pending.
    assert!(reach.tick(11).is_empty());
    let ReachOutput::Reserve { relay: first, .. } = out[0].clone();
    let ReachOutput::Reserve { relay: second, .. } = out[1].clone();
    reach.reserved(12, first);
    assert_eq!(reach.reachability(), Reachability::Relayed);
    // The second refuses: the third is asked in its place, the second not again at once.
    let again = reach.reservation_lost(13, second, "no reservation slot".into());
    assert_eq!(again.len(), 1);
    let ReachOutput::Reserve { relay: third, .. } = again[0].clone();
    assert_ne!(third, second);
    assert!(reach
        .reservation_lost(14, third, "refused".into())
        .is_empty());
    // A minute on, the failed relays may be asked again.
    assert_eq!(reach.tick(14 + RELAY_RETRY_MS).len(), 1);
    reach.hole_punch(
        20,
        PeerId::random(),
        Err("Giving up after 3 dial attempts".into()),
    );
    assert_eq!(reach.reachability(), Reachability::Relayed);
    reach.hole_punch(21, PeerId::random(), Ok(()));
    assert_eq!(reach.reachability(), Reachability::HolePunched);
    let report = reach.report(&[addr("/ip4/10.78.0.21/tcp/7400")], &[]);
    assert!(
        report.summary.contains("1 of the last 2 hole punches"),
        "{}",
        report.summary
    );
    assert!(
        report
            .advice
            .as_deref()
            .is_some_and(|a| a.contains("port 7400")),
        "{report:?}"
    );
    assert_eq!(report.relays.len(), 3);
    assert_eq!(report.hole_punches.len(), 2);
}

#[test]
fn a_relay_or_a_public_node_asks_no_relay() {
    let relay = PeerId::random();
    let mut server = Reach::new(true, false);
    server.relay_seen(1, relay, &[addr("/ip4/10.77.0.5/tcp/7400")]);
    assert!(server
        .probed(
            2,
            &addr("/ip4/10.77.0.9/tcp/7400"),
            PeerId::random(),
            Err("no".into())
        )
        .is_empty());
    let mut public = Reach::new(false, true);
    public.relay_seen(1, relay, &[addr("/ip4/10.77.0.5/tcp/7400")]);
    let mapped = addr("/ip4/203.0.113.9/tcp/7400");
    public.upnp(2, "mapped", Some(&mapped));
    assert!(public
        .probed(
            3,
            &addr("/ip4/10.0.0.9/tcp/41000"),
            PeerId::random(),
            Err("no".into())
        )
        .is_empty());
    assert_eq!(public.reachability(), Reachability::Public);
    assert_eq!(public.report(&[], &[]).upnp, "mapped");
}

#[test]
fn histories_are_bounded() {
    let mut reach = Reach::new(false, false);
    for i in 0..100 {
        reach.probed(
            i,
            &addr("/ip4/10.77.0.2/tcp/7400"),
            PeerId::random(),
            Err("no".into()),
        );
        reach.hole_punch(i, PeerId::random(), Ok(()));
        reach.relay_seen(i, PeerId::random(), &[addr("/ip4/10.77.0.5/tcp/7400")]);
    }
    let report = reach.report(&[], &[]);
    assert_eq!(report.autonat.len(), MAX_HISTORY);
    assert_eq!(report.hole_punches.len(), MAX_HISTORY);
    assert!(reach.candidates.len() <= MAX_CANDIDATES);
}

#[test]
fn the_verdict_outlives_the_bounded_history() {
    let mut reach = Reach::new(false, false);
    reach.probed(
        1,
        &addr("/ip4/10.77.0.2/tcp/7400"),
        PeerId::random(),
        Err("no".into()),
    );
    // Later tests of its relayed address succeed (a relay carries the dial-back) and fill
    // the history: the node is still behind NAT.
    let circuit = addr("/ip4/10.77.0.10/tcp/7400/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit");
    for i in 0..100 {
        reach.probed(2 + i, &circuit, PeerId::random(), Ok(()));
    }
    assert_eq!(reach.reachability(), Reachability::Private);
}
