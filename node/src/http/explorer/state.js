// What the explorer knows of the node, shared by its scripts (`window.Pictor.state`),
// and the page's limits (`window.Pictor.config`).
'use strict';

(() => {
  const P = (window.Pictor = window.Pictor || {});

  const POLL_MS = 2000;
  const MAX_ACTIVITY = 60;
  const MAX_JOBS = 50;
  const CID = /^[A-Za-z0-9]{8,128}$/;
  const FINISHED = ['complete', 'failed', 'cancelled'];

  const state = {
    jobs: new Map(), // job_id -> job_list row
    rows: new Map(), // job_id -> { root, ...parts }
    frames: new Map(), // job_id -> Map(frame -> cid)
    framesAsked: new Map(), // job_id -> frames_done when job_frames was last asked
    workers: [],
    checkers: [],
    peerOfKey: new Map(), // public key (hex) -> peer id
    info: null,
    credits: null, // credits_balance, on a network that keeps credits
    infoAt: 0,
    events: 0,
    rpcOk: false,
    needsToken: false,
    tried: false, // a poll has been answered or has failed
    socketLive: false,
    refreshTimers: new Map(),
    logged: new Map(), // job_id -> milestones already in the feed
  };

  P.config = { POLL_MS, MAX_ACTIVITY, MAX_JOBS, CID, FINISHED };
  P.state = state;
})();
