//! "Why am I not getting work (or paid)?": plain sentences, each with its fix, from the
//! node's own state.

use serde::Serialize;

use crate::Facts;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Problem,
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub level: Level,
    /// What it is about (`connection`, `requirements`, `engine`, `ban`, `jobs`,
    /// `rejections`, `reachability`).
    pub topic: &'static str,
    pub message: String,
    /// What to do, when there is something to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The diagnosis: every finding, and whether all is well.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub ok: bool,
    pub findings: Vec<Finding>,
}

fn finding(level: Level, topic: &'static str, message: String, fix: Option<&str>) -> Finding {
    Finding {
        level,
        topic,
        message,
        fix: fix.map(str::to_owned),
    }
}

/// Reads the facts into sentences.
pub fn diagnose(f: &Facts, roles: &[String]) -> Diagnosis {
    use Level::{Ok as Good, Problem, Warning};
    let mut out = Vec::new();
    if f.connected_peers == 0 {
        out.push(finding(
            Problem,
            "connection",
            "This node is not connected to any peer.".into(),
            Some("check the bootnodes in network.toml (or pass --bootnode), and that this machine can reach them"),
        ));
    } else if f.checkers_total > 0 && f.checkers_connected == 0 && !f.checker {
        out.push(finding(
            Problem,
            "connection",
            format!(
                "This node has {} peer(s) but is connected to none of the network's {} checkers: nobody will assign it work.",
                f.connected_peers, f.checkers_total
            ),
            Some("add a checker's address as a bootnode, or wait for the peers to introduce one"),
        ));
    } else {
        out.push(finding(
            Good,
            "connection",
            format!(
                "Connected to {} peer(s), {} of the network's {} checkers.",
                f.connected_peers, f.checkers_connected, f.checkers_total
            ),
            None,
        ));
    }
    if f.worker {
        worker_findings(f, &mut out);
    }
    if f.open_jobs == 0 {
        out.push(finding(
            if f.worker { Warning } else { Good },
            "jobs",
            "There are no unfinished jobs on the network right now, so there is no work to hand out.".into(),
            f.worker.then_some("nothing to fix: work comes when creators submit jobs"),
        ));
    } else {
        out.push(finding(
            Good,
            "jobs",
            format!("{} unfinished job(s) on the network.", f.open_jobs),
            None,
        ));
    }
    reachability(f, &mut out);
    if roles.is_empty() {
        out.push(finding(
            Warning,
            "roles",
            "This node plays no role.".into(),
            Some("set role in config.toml or pass --role"),
        ));
    }
    Diagnosis {
        ok: out.iter().all(|x| x.level != Level::Problem),
        findings: out,
    }
}

fn worker_findings(f: &Facts, out: &mut Vec<Finding>) {
    use Level::{Ok as Good, Problem, Warning};
    match &f.requirements {
        Ok(()) => out.push(finding(
            Good,
            "requirements",
            "This worker meets the network's hardware requirements.".into(),
            None,
        )),
        Err(why) => out.push(finding(
            Problem,
            "requirements",
            format!("This worker does not meet the network's requirements: {why}"),
            Some("run `pictor gpu --network <spec>` to see each requirement against this machine"),
        )),
    }
    if f.engines.is_empty() {
        out.push(finding(
            Warning,
            "engine",
            "This worker has not announced any engine yet.".into(),
            Some("wait for its capability record (it is sent at start), or check `pictor gpu`"),
        ));
    } else if !f.engines.iter().any(|e| e.starts_with("blender")) {
        out.push(finding(
            Warning,
            "engine",
            format!(
                "This worker runs {} but not Blender: it gets no Blender jobs.",
                f.engines.join(", ")
            ),
            Some("install Blender (scripts/install-blender.sh, or Debian's blender) and restart the node"),
        ));
    } else {
        out.push(finding(
            Good,
            "engine",
            format!("Engines: {}.", f.engines.join(", ")),
            None,
        ));
    }
    match &f.me_as_worker {
        None => out.push(finding(
            Warning,
            "work",
            "The network has not yet seen this worker do anything (no heartbeat or claim has come back to this node).".into(),
            None,
        )),
        Some(w) if w.banned => {
            let last = w.rejections.last();
            let evidence = last.map_or_else(String::new, |r| {
                let by: Vec<String> = r.signers.iter().map(|k| k.chars().take(8).collect()).collect();
                format!(
                    " The last rejection: shard {} (claim {}), certified invalid by checkers {}.",
                    r.shard,
                    r.claim,
                    by.join(", ")
                )
            });
            out.push(finding(
                Problem,
                "ban",
                format!(
                    "This worker is banned: {} of its claims were rejected by a quorum of checkers, who re-rendered sampled pixels and found them wrong.{evidence} In this version of the protocol a ban does not expire.",
                    w.rejected
                ),
                Some("check that the renderer and scene produce correct pixels (`pictor render --direct` and compare), then restart the node with a new key"),
            ));
        }
        Some(w) => {
            out.push(finding(
                Good,
                "work",
                format!(
                    "Assigned {} shard(s), claimed {}, accepted {}, rejected {}.",
                    w.assigned, w.claimed, w.accepted, w.rejected
                ),
                None,
            ));
            if let Some(r) = w.rejections.last() {
                out.push(finding(
                    Warning,
                    "rejections",
                    format!(
                        "A claim was rejected lately: shard {} (claim {}), by {} checker(s).",
                        r.shard,
                        r.claim,
                        r.signers.len()
                    ),
                    Some("the checkers re-rendered sampled pixels and they did not match: check the device and engine version"),
                ));
            }
        }
    }
}

fn reachability(f: &Facts, out: &mut Vec<Finding>) {
    use crate::network::reach::Reachability;
    use Level::{Ok as Good, Warning};
    // AutoNAT's verdict, once there is one, says it best.
    let level = match f.reach.reachability {
        Reachability::Unknown => None,
        Reachability::Public => Some(Good),
        Reachability::HolePunched | Reachability::Relayed | Reachability::Private => Some(Warning),
    };
    if let Some(level) = level {
        out.push(Finding {
            level,
            topic: "reachability",
            message: f.reach.summary.clone(),
            fix: f.reach.advice.clone(),
        });
        return;
    }
    let only_loopback = !f.listen.is_empty()
        && f.listen.iter().all(|a| {
            a.iter().any(|p| match p {
                libp2p::multiaddr::Protocol::Ip4(ip) => ip.is_loopback(),
                libp2p::multiaddr::Protocol::Ip6(ip) => ip.is_loopback(),
                _ => false,
            })
        });
    if only_loopback {
        out.push(finding(
            Warning,
            "reachability",
            "This node listens on loopback only: peers on other machines cannot reach it.".into(),
            Some("listen on 0.0.0.0 (config.toml `listen`, or --listen /ip4/0.0.0.0/tcp/7400) for a public network"),
        ));
    } else if f.inbound_connections > 0 {
        out.push(finding(
            Good,
            "reachability",
            format!(
                "Peers dial this node: {} of its connections were opened by them.",
                f.inbound_connections
            ),
            None,
        ));
    } else if f.connected_peers > 0 {
        out.push(finding(
            Warning,
            "reachability",
            format!(
                "No peer has dialled this node: its {} connection(s) are all ones it opened. Behind a NAT or a firewall, peers that start after it cannot open one (it dials the network's checkers it is not connected to every 10 s, so work still reaches it).",
                f.connected_peers
            ),
            Some("if this node is behind NAT, forward its TCP port (7400 by default) to it; if it only started, look again once others have joined"),
        ));
    } else if !f.public_address {
        out.push(finding(
            Warning,
            "reachability",
            "No peer has reported a public address for this node, so it cannot tell whether its port is reachable from outside.".into(),
            Some("if this node is behind NAT, forward its TCP port (7400 by default)"),
        ));
    } else {
        out.push(finding(
            Good,
            "reachability",
            "Peers see this node at a public address.".into(),
            None,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::{Rejection, WorkerView};

    fn facts() -> Facts {
        Facts {
            worker: true,
            checker: false,
            connected_peers: 5,
            checkers_connected: 4,
            checkers_total: 4,
            me_as_worker: None,
            requirements: Ok(()),
            engines: vec!["builtin 0.1.0".into()],
            open_jobs: 2,
            listen: vec!["/ip4/10.0.0.5/tcp/7400".parse().expect("addr")],
            public_address: false,
            inbound_connections: 0,
            finality: Vec::new(),
            reach: crate::network::reach::Reach::new(false, false).report(&[], &[]),
        }
    }

    fn topic<'a>(d: &'a Diagnosis, t: &str) -> &'a Finding {
        d.findings
            .iter()
            .find(|f| f.topic == t)
            .unwrap_or_else(|| panic!("no {t}: {d:?}"))
    }

    #[test]
    fn a_banned_worker_hears_the_evidence_and_an_unfit_one_what_it_lacks() {
        let mut f = facts();
        f.me_as_worker = Some(WorkerView {
            banned: true,
            rejected: 1,
            rejections: vec![Rejection {
                shard: "4c8e2970:1:3".into(),
                job: "4c8e".into(),
                claim: "9a0f".into(),
                signers: vec![
                    "6ebf9ac2aa".into(),
                    "4dbebea5bb".into(),
                    "91c07d3ecc".into(),
                ],
                at_ms: 1,
                canary: false,
            }],
            ..WorkerView::default()
        });
        f.requirements = Err("GPU memory 4.0 GiB, the network asks for at least 8.0 GiB".into());
        let d = diagnose(&f, &["worker".into()]);
        assert!(!d.ok);
        let ban = topic(&d, "ban");
        assert_eq!(ban.level, Level::Problem);
        for part in [
            "4c8e2970:1:3",
            "6ebf9ac2",
            "4dbebea5",
            "91c07d3e",
            "does not expire",
        ] {
            assert!(ban.message.contains(part), "{part} in {}", ban.message);
        }
        let req = topic(&d, "requirements");
        assert!(
            req.message.contains("at least 8.0 GiB") && req.fix.is_some(),
            "{req:?}"
        );
        let engine = topic(&d, "engine");
        assert!(engine.message.contains("not Blender"), "{engine:?}");
        assert_eq!(topic(&d, "reachability").level, Level::Warning);
    }

    #[test]
    fn a_healthy_worker_with_no_jobs_is_told_there_is_no_work() {
        let mut f = facts();
        f.open_jobs = 0;
        f.engines.push("blender 3.4.1".into());
        f.public_address = true;
        let d = diagnose(&f, &["worker".into()]);
        assert!(d.ok, "{d:?}");
        assert!(topic(&d, "jobs").message.contains("no unfinished jobs"));
        assert_eq!(topic(&d, "connection").level, Level::Ok);
    }

    #[test]
    fn reachability_follows_who_opened_the_connections() {
        // Every connection opened by this node: it may be behind a NAT.
        let f = facts();
        let d = diagnose(&f, &["worker".into()]);
        let r = topic(&d, "reachability");
        assert_eq!(r.level, Level::Warning);
        assert!(r.message.contains("No peer has dialled this node"), "{r:?}");
        assert!(
            r.fix.as_deref().is_some_and(|f| f.contains("7400")),
            "{r:?}"
        );
        // A peer dialled it: reachable.
        let mut f = facts();
        f.inbound_connections = 2;
        let d = diagnose(&f, &["worker".into()]);
        let r = topic(&d, "reachability");
        assert_eq!(r.level, Level::Ok, "{r:?}");
        assert!(r.message.contains("2 of its connections"), "{r:?}");
    }
}
