// The Pictor explorer: one node's jobs and its view of the network, read through the
// node's read-only JSON-RPC methods. Plain JavaScript, no build step.
//
// Live updates come from one WebSocket subscription (`job_subscribe` with no params:
// every job of this node); `job_list`, `net_workers`, `net_checkers` and `node_info`
// are polled every two seconds as well, so the page stays right when the socket drops,
// and `credits_balance` beside them on a network that keeps credits.
//
// Every string shown here came from the network: it goes into the page through
// textContent and attributes only, never as markup.
//
// The page's scripts share `window.Pictor`, loaded in order (index.html): dom.js,
// state.js, rpc.js, network.js, jobs.js, feed.js, then this one, which ties them
// together and starts.
'use strict';

(() => {
  const P = (window.Pictor = window.Pictor || {});
  const { byId, setText, int, str, clock } = P.dom;
  const { POLL_MS, MAX_ACTIVITY } = P.config;
  const { state } = P;
  const { rpc, batch, live } = P.rpc;
  const { renderInfo, renderCheckers, renderWorkers, renderStats } = P.network;
  const { renderJob, renderJobs, addFrame, refreshJobSoon, mergeJob } = P.jobs;
  const { milestones, logEvent, countLive } = P.feed;

  // ---- connection indicator --------------------------------------------------------

  function showConnection() {
    const conn = byId('conn');
    let s = 'offline';
    let label = 'node unreachable';
    if (state.rpcOk && state.socketLive) {
      s = 'live';
      label = 'live';
    } else if (state.rpcOk) {
      s = 'polling';
      label = 'polling (no live feed)';
    } else if (state.needsToken) {
      s = 'offline';
      label = 'needs the RPC token';
    } else if (!state.tried) {
      s = 'connecting';
      label = 'connecting';
    }
    conn.dataset.state = s;
    setText(conn.querySelector('.label'), label);
  }

  // ---- live feed -------------------------------------------------------------------

  function onEvent(e) {
    if (!e || typeof e !== 'object') return;
    const id = str(e.job_id);
    const kind = str(e.kind);
    countLive();
    if (kind === 'finished' && id) {
      const seen = state.logged.get(id) || new Set();
      seen.add('finished');
      state.logged.set(id, seen);
    }
    logEvent(e, Date.now());
    if (kind === 'lagged' || !id) {
      poll();
      return;
    }
    const job = state.jobs.get(id);
    if (!job) {
      refreshJobSoon(id);
      return;
    }
    const shards = int(job.shards);
    switch (kind) {
      case 'status':
        mergeJob(e, true);
        break;
      case 'rendered':
        job.rendered = Math.min(shards, int(job.rendered) + 1);
        if (job.state === 'submitted') job.state = 'running';
        break;
      case 'verified':
        job.verified = Math.min(shards, int(job.verified) + 1);
        break;
      case 'rejected':
        job.rejected = int(job.rejected) + 1;
        break;
      case 'frame':
        addFrame(id, e.frame, e.cid);
        job.frames_done = Math.max(int(job.frames_done), state.frames.get(id) ? state.frames.get(id).size : 0);
        state.framesAsked.set(id, int(job.frames_done));
        break;
      case 'finished':
        job.state = str(e.state) || job.state;
        job.reason = e.reason;
        break;
      case 'problem':
        job.problem = str(e.message);
        break;
      default:
        break;
    }
    renderJob(state.jobs.get(id));
    renderStats();
    if (kind !== 'assigned' && kind !== 'attested') refreshJobSoon(id);
  }

  // ---- polling ---------------------------------------------------------------------

  let polling = false;

  async function poll() {
    if (polling || document.hidden) return;
    polling = true;
    try {
      const [info, jobs, workers, checkers] = await batch([
        ['node_info'], ['job_list'], ['net_workers'], ['net_checkers'],
      ]);
      // A network without credits answers an error: the row stays hidden.
      state.credits = await rpc('credits_balance').catch(() => null);
      state.rpcOk = true;
      state.info = info;
      state.infoAt = Date.now();
      const news = [];
      for (const job of Array.isArray(jobs) ? jobs : []) {
        mergeJob(job, false);
        news.push(...milestones(job));
      }
      news.sort((a, b) => a.at - b.at).slice(-MAX_ACTIVITY).forEach((m) => logEvent(m, m.at));
      state.workers = Array.isArray(workers) ? workers : [];
      state.checkers = Array.isArray(checkers) ? checkers : [];
      for (const n of [...state.workers, ...state.checkers]) {
        if (n.key && n.peer_id) state.peerOfKey.set(str(n.key), str(n.peer_id));
      }
      renderInfo();
      renderJobs();
      renderCheckers();
      renderWorkers();
      setText(byId('updated'), `updated ${clock(Date.now())}`);
    } catch (e) {
      state.rpcOk = false;
      setText(byId('updated'), `last try ${clock(Date.now())}: ${str(e.message || e)}`);
    } finally {
      state.tried = true;
      polling = false;
      showConnection();
    }
  }

  function start() {
    poll();
    live(onEvent, showConnection);
    setInterval(poll, POLL_MS);
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) poll();
    });
    setInterval(renderInfo, 1000);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
