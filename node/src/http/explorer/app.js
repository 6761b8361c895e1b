// The Pictor explorer: one node's jobs and its view of the network, read through the
// node's read-only JSON-RPC methods. Plain JavaScript, no build step.
//
// Live updates come from one WebSocket subscription (`job_subscribe` with no params:
// every job of this node); `job_list`, `net_workers`, `net_checkers` and `node_info`
// are polled every two seconds as well, so the page stays right when the socket drops.
//
// Every string shown here came from the network: it goes into the page through
// textContent and attributes only, never as markup.
'use strict';

(() => {
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
    infoAt: 0,
    events: 0,
    rpcOk: false,
    needsToken: false,
    tried: false, // a poll has been answered or has failed
    socketLive: false,
    refreshTimers: new Map(),
    logged: new Map(), // job_id -> milestones already in the feed
  };

  // ---- DOM -------------------------------------------------------------------------

  const byId = (id) => document.getElementById(id);

  /** An element: `el('td', {class: 'num', title: t}, 'text', child…)`. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'class') node.className = value;
      else if (name === 'data') {
        for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v);
      } else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function setText(node, text) {
    const t = String(text);
    if (node.textContent !== t) node.textContent = t;
  }

  // ---- formatting ------------------------------------------------------------------

  const int = (v) => (Number.isFinite(Number(v)) ? Math.trunc(Number(v)) : 0);
  const fmtInt = (v) => int(v).toLocaleString('en-US');
  const str = (v) => (v === undefined || v === null ? '' : String(v));

  /** `12D3KooW…Stju6`: enough of a peer id (or key) to tell peers apart. */
  function short(id) {
    const s = str(id);
    return s.length > 16 ? `${s.slice(0, 8)}…${s.slice(-6)}` : s;
  }

  function duration(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${s % 60} s`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ${m % 60} min`;
    return `${Math.floor(h / 24)} d ${h % 24} h`;
  }

  function ago(ms) {
    const t = int(ms);
    if (t <= 0) return 'never';
    const d = Date.now() - t;
    if (d < 1500) return 'just now';
    return `${duration(d)} ago`;
  }

  function clock(ms) {
    const t = int(ms);
    if (t <= 0) return '';
    const d = new Date(t);
    const pad = (n) => String(n).padStart(2, '0');
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function fileUrl(cid) {
    return `/file/${encodeURIComponent(cid)}?as=png`;
  }

  // ---- JSON-RPC over HTTP ----------------------------------------------------------

  let nextId = 1;

  function request(method, params) {
    const r = { jsonrpc: '2.0', id: nextId++, method };
    if (params !== undefined) r.params = params;
    return r;
  }

  /** POSTs one call or a batch; the page's cookie carries the token where one is set. */
  async function post(body) {
    const response = await fetch('/', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      cache: 'no-store',
    });
    state.needsToken = response.status === 401;
    if (state.needsToken) {
      throw new Error("this node answers only with its RPC token: open /?token=TOKEN once (the token is in the node's home, rpc.token)");
    }
    try {
      return await response.json();
    } catch (e) {
      throw new Error(`the node answered HTTP ${response.status}`);
    }
  }

  async function rpc(method, params) {
    const answer = await post(request(method, params));
    if (answer.error) throw new Error(`${method}: ${str(answer.error.message)}`);
    return answer.result;
  }

  /** Several calls in one request: `[[method, params], …]` to their results, in order. */
  async function batch(calls) {
    const requests = calls.map(([method, params]) => request(method, params));
    const answers = await post(requests);
    if (!Array.isArray(answers)) throw new Error(str(answers && answers.error && answers.error.message) || 'not a batch answer');
    const byRequest = new Map(answers.map((a) => [a.id, a]));
    return requests.map((r) => {
      const a = byRequest.get(r.id);
      if (!a || a.error) throw new Error(`${r.method}: ${a ? str(a.error.message) : 'no answer'}`);
      return a.result;
    });
  }

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

  // ---- node ------------------------------------------------------------------------

  function renderInfo() {
    const i = state.info;
    if (!i) return;
    setText(byId('network'), str(i.network) || 'unknown network');
    const peer = byId('node-peer');
    setText(peer, str(i.peer_id));
    peer.title = `public key ${str(i.public_key)}`;
    const roles = byId('node-roles');
    const want = (Array.isArray(i.roles) ? i.roles : []).map(str);
    if (roles.dataset.roles !== want.join(',')) {
      roles.dataset.roles = want.join(',');
      roles.replaceChildren(...want.map((r) => el('span', { class: `chip role role-${r.replace(/[^a-z]/g, '')}` }, r)));
    }
    setText(byId('node-version'), `v${str(i.version)} · protocol ${str(i.protocol_version)}`);
    const up = int(i.uptime_s) * 1000 + (Date.now() - state.infoAt);
    setText(byId('node-uptime'), duration(up));
    setText(byId('node-peers'), `${fmtInt(i.connected_peers)} connected · ${fmtInt(i.gossip_peers)} in gossip`);
    const listen = Array.isArray(i.listen) ? i.listen.map(str) : [];
    const l = byId('node-listen');
    setText(l, listen.length ? listen[0].replace(/\/p2p\/.*$/, '') : '–');
    l.title = listen.join('\n');
    document.title = `Pictor explorer · ${str(i.network)}`;
  }

  // ---- jobs ------------------------------------------------------------------------

  function jobRow(id) {
    let row = state.rows.get(id);
    if (row) return row;
    const stateBadge = el('span', { class: 'badge' });
    const idText = el('span', { class: 'job-id mono', title: id }, short(id));
    const when = el('span', { class: 'when muted' });
    const rendered = el('div', { class: 'fill rendered' });
    const verified = el('div', { class: 'fill verified' });
    const bar = el('div', {
      class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 1, 'aria-label': `job ${short(id)} shards verified`,
    }, rendered, verified);
    const progress = el('span', { class: 'progress' });
    const percent = el('span', { class: 'percent' });
    const framesText = el('span', { class: 'frames-done' });
    const rejectedText = el('span', { class: 'rejected-count' });
    const reason = el('p', { class: 'reason', hidden: true });
    const thumbs = el('div', { class: 'thumbs' });
    const root = el('article', { class: 'job', data: { jobId: id } },
      el('div', { class: 'job-head' }, stateBadge, idText, when),
      el('div', { class: 'job-progress' }, bar,
        el('div', { class: 'job-counts' }, progress, percent, framesText, rejectedText)),
      reason,
      thumbs);
    row = { root, stateBadge, when, bar, rendered, verified, progress, percent, framesText, rejectedText, reason, thumbs, shown: new Map() };
    state.rows.set(id, row);
    return row;
  }

  function renderJob(job) {
    const id = str(job.job_id);
    const row = jobRow(id);
    const shards = int(job.shards);
    const verified = Math.min(int(job.verified), shards || Infinity);
    const rendered = Math.max(verified, Math.min(int(job.rendered), shards || Infinity));
    const s = str(job.state) || 'submitted';
    const d = row.root.dataset;
    d.state = s;
    d.shards = shards;
    d.verified = verified;
    d.rendered = rendered;
    d.rejected = int(job.rejected);
    d.framesDone = int(job.frames_done);
    d.frames = int(job.frames);

    setText(row.stateBadge, s);
    row.stateBadge.className = `badge state-${s.replace(/[^a-z]/g, '')}`;
    const started = int(job.submitted_ms);
    const finished = int(job.finished_ms);
    const took = finished > 0 ? `took ${duration(finished - started)}` : started > 0 ? `running for ${duration(Date.now() - started)}` : '';
    setText(row.when, [started > 0 ? `submitted ${clock(started)}` : '', took].filter(Boolean).join(' · '));

    const frac = (n) => (shards > 0 ? n / shards : 0);
    row.verified.style.width = `${(frac(verified) * 100).toFixed(2)}%`;
    row.rendered.style.width = `${(frac(rendered) * 100).toFixed(2)}%`;
    row.bar.setAttribute('aria-valuenow', frac(verified).toFixed(3));
    row.bar.title = `${verified} verified, ${rendered - verified} rendered and waiting for checkers, ${shards - rendered} to render`;
    setText(row.progress, `${verified} / ${shards} shards`);
    setText(row.percent, `${Math.floor(frac(verified) * 100)}%`);
    setText(row.framesText, `${int(job.frames_done)} / ${int(job.frames)} frames`);
    setText(row.rejectedText, int(job.rejected) > 0 ? `${fmtInt(job.rejected)} rejected` : '');
    row.rejectedText.hidden = int(job.rejected) === 0;

    const why = str(job.reason || job.problem);
    row.reason.hidden = !why;
    setText(row.reason, why);

    renderThumbs(id, row);
    if (int(job.frames_done) > 0 && state.framesAsked.get(id) !== int(job.frames_done)) {
      loadFrames(id, int(job.frames_done));
    }
  }

  function renderThumbs(id, row) {
    const frames = state.frames.get(id);
    if (!frames) return;
    const sorted = [...frames.entries()].sort((a, b) => a[0] - b[0]);
    for (const [frame, cid] of sorted) {
      if (row.shown.get(frame) === cid) continue;
      const old = row.thumbs.querySelector(`.thumb[data-frame="${frame}"]`);
      const img = el('img', { src: fileUrl(cid), alt: `frame ${frame}`, loading: 'lazy', decoding: 'async', width: 160, height: 120 });
      const figure = el('figure', { class: 'thumb', data: { frame, cid } },
        el('a', { href: fileUrl(cid), target: '_blank', rel: 'noopener', title: `frame ${frame}\n${cid}` }, img),
        el('figcaption', {}, el('span', {}, `frame ${frame}`), el('span', { class: 'mono muted' }, short(cid))));
      img.addEventListener('load', () => figure.classList.add('loaded'));
      img.addEventListener('error', () => figure.classList.add('failed'));
      if (old) old.replaceWith(figure);
      else {
        const next = [...row.thumbs.children].find((c) => int(c.dataset.frame) > frame);
        row.thumbs.insertBefore(figure, next || null);
      }
      row.shown.set(frame, cid);
    }
  }

  function addFrame(id, frame, cid) {
    if (!CID.test(str(cid))) return;
    let frames = state.frames.get(id);
    if (!frames) {
      frames = new Map();
      state.frames.set(id, frames);
    }
    frames.set(int(frame), str(cid));
  }

  async function loadFrames(id, done) {
    state.framesAsked.set(id, done);
    try {
      const answer = await rpc('job_frames', { job_id: id });
      for (const f of Array.isArray(answer.frames) ? answer.frames : []) addFrame(id, f.frame, f.cid);
      const row = state.rows.get(id);
      if (row) renderThumbs(id, row);
    } catch (e) {
      state.framesAsked.delete(id);
    }
  }

  function renderJobs() {
    const list = byId('jobs');
    const all = [...state.jobs.values()].sort((a, b) => int(b.submitted_ms) - int(a.submitted_ms));
    const jobs = all.slice(0, MAX_JOBS);
    for (const job of jobs) renderJob(job);
    const want = jobs.map((j) => state.rows.get(str(j.job_id)).root);
    const have = [...list.querySelectorAll(':scope > .job')];
    if (want.length !== have.length || want.some((n, i) => n !== have[i])) {
      for (const n of have) if (!want.includes(n)) n.remove();
      for (const n of want) list.append(n);
    }
    for (const id of [...state.rows.keys()]) {
      if (!jobs.some((j) => str(j.job_id) === id)) state.rows.delete(id);
    }
    byId('jobs-loading').hidden = true;
    byId('jobs-empty').hidden = all.length > 0;
    const running = all.filter((j) => !FINISHED.includes(str(j.state))).length;
    const older = all.length > jobs.length ? ` · newest ${jobs.length} shown` : '';
    setText(byId('jobs-count'), all.length ? `${running} running · ${all.length} in all${older}` : '');
    renderStats();
  }

  /** Shortly after events of a job, ask the node for its exact progress. */
  function refreshJobSoon(id) {
    if (state.refreshTimers.has(id)) return;
    state.refreshTimers.set(id, setTimeout(async () => {
      state.refreshTimers.delete(id);
      try {
        const job = await rpc('job_status', { job_id: id });
        mergeJob(job, true);
        renderJobs();
      } catch (e) {
        // The next poll tries again.
      }
    }, 250));
  }

  /** Takes in a job row from the node; counts only move forward while it runs. */
  function mergeJob(job, exact) {
    const id = str(job.job_id);
    if (!id) return;
    const old = state.jobs.get(id);
    if (old && !exact && str(old.state) === str(job.state)) {
      for (const k of ['rendered', 'verified', 'rejected', 'frames_done']) job[k] = Math.max(int(job[k]), int(old[k]));
    }
    if (old && old.problem && !job.reason) job.problem = old.problem;
    state.jobs.set(id, job);
  }

  // ---- network ---------------------------------------------------------------------

  function badge(status) {
    const s = str(status);
    return el('span', { class: `badge status-${s.replace(/[^a-z]/g, '')}` }, s);
  }

  function peerCell(row) {
    return el('td', { class: 'peer' },
      el('span', { class: 'mono', title: `peer ${str(row.peer_id)}\nkey ${str(row.key)}` }, short(row.peer_id || row.key)));
  }

  const num = (v, title) => el('td', { class: 'num', title }, fmtInt(v));

  function renderCheckers() {
    const body = byId('checkers').tBodies[0];
    const rows = state.checkers.map((c) => el('tr', { class: 'checker', data: { peerId: str(c.peer_id), status: str(c.status) } },
      peerCell(c),
      el('td', {}, badge(c.status)),
      el('td', {}, c.genesis ? el('span', { class: 'chip', title: 'named by the network spec' }, 'genesis') : el('span', { class: 'muted' }, '–')),
      num(c.assignments, 'shards this checker assigned as leader'),
      num(c.attestations),
      num(c.certificates, 'quorum certificates it signed'),
      el('td', { class: 'num muted', title: `last heard ${ago(c.last_seen_ms)}` }, ago(c.last_work_ms))));
    body.replaceChildren(...rows);
    byId('checkers-empty').hidden = rows.length > 0;
    const online = state.checkers.filter((c) => str(c.status) !== 'offline').length;
    setText(byId('checkers-count'), rows.length ? `${online} of ${rows.length} online` : '');
  }

  function renderWorkers() {
    const body = byId('workers').tBodies[0];
    const best = Math.max(0, ...state.workers.map((w) => Number(w.benchmark_msamples_per_s) || 0));
    const rows = state.workers.map((w) => {
      const score = Number(w.benchmark_msamples_per_s);
      const cell = el('td', { class: 'num' });
      const bench = el('span', { class: 'bench' });
      cell.append(bench);
      if (Number.isFinite(score) && w.benchmark_msamples_per_s !== null) {
        const meter = el('span', { class: 'meter', 'aria-hidden': 'true' }, el('span', {}));
        meter.firstChild.style.width = `${best > 0 ? Math.round((score / best) * 100) : 0}%`;
        bench.append(meter, el('span', {}, `${score.toFixed(2)} MS/s`));
        cell.title = 'benchmark: million samples per second';
      } else {
        bench.append(el('span', { class: 'muted', title: 'no capability record from this worker has reached this node' }, '–'));
      }
      const engines = el('td', { class: 'engines' });
      const list = Array.isArray(w.engines) ? w.engines : [];
      // `blender 3.4.1`: the name on the chip, the version when pointed at.
      if (list.length) engines.append(...list.map((e) => el('span', { class: 'chip', title: str(e) }, str(e).split(' ')[0])));
      else engines.append(el('span', { class: 'muted' }, '–'));
      const rejected = num(w.rejected);
      if (int(w.rejected) > 0) rejected.classList.add('bad');
      return el('tr', { class: 'worker', data: { peerId: str(w.peer_id), status: str(w.status) } },
        peerCell(w),
        el('td', {}, badge(w.status)),
        el('td', { class: 'device' }, str(w.device) || '–'),
        engines,
        cell,
        num(w.assigned),
        num(w.accepted, 'claims accepted by a quorum'),
        rejected,
        num(w.in_hand, 'shards assigned and not final yet'),
        el('td', { class: 'num muted', title: clock(w.last_seen_ms) }, ago(w.last_seen_ms)));
    });
    body.replaceChildren(...rows);
    byId('workers-empty').hidden = rows.length > 0;
    const online = state.workers.filter((w) => !['offline', 'banned'].includes(str(w.status))).length;
    setText(byId('workers-count'), rows.length ? `${online} of ${rows.length} online` : '');
  }

  function renderStats() {
    const jobs = [...state.jobs.values()];
    const running = jobs.filter((j) => !FINISHED.includes(str(j.state))).length;
    const sum = (k) => jobs.reduce((a, j) => a + int(j[k]), 0);
    setText(byId('stat-jobs'), fmtInt(running));
    setText(byId('stat-jobs-total'), `of ${fmtInt(jobs.length)}`);
    setText(byId('stat-shards'), fmtInt(sum('verified')));
    setText(byId('stat-shards-total'), `of ${fmtInt(sum('shards'))}`);
    setText(byId('stat-frames'), fmtInt(sum('frames_done')));
    setText(byId('stat-frames-total'), `of ${fmtInt(sum('frames'))}`);
    const onlineWorkers = state.workers.filter((w) => !['offline', 'banned'].includes(str(w.status))).length;
    setText(byId('stat-workers'), fmtInt(onlineWorkers));
    setText(byId('stat-workers-total'), `of ${fmtInt(state.workers.length)} seen`);
    const onlineCheckers = state.checkers.filter((c) => str(c.status) !== 'offline').length;
    setText(byId('stat-checkers'), fmtInt(onlineCheckers));
    setText(byId('stat-checkers-total'), `of ${fmtInt(state.checkers.length)} seen`);
  }

  // ---- activity feed ---------------------------------------------------------------

  /** A peer in the feed: the tail of its peer id, as the tables end it. */
  function who(key) {
    const k = str(key);
    const p = state.peerOfKey.get(k);
    return p ? `…${p.slice(-6)}` : short(k);
  }

  function describe(e) {
    const shard = e.shard ? `frame ${int(e.shard.frame)} · tile ${int(e.shard.tile)}` : '';
    switch (str(e.kind)) {
      case 'assigned': return [shard, `to ${who(e.worker)}`];
      case 'rendered': return [shard, `by ${who(e.worker)}${e.render_ms !== undefined ? ` · ${fmtInt(e.render_ms)} ms` : ''}`];
      case 'attested': return [shard, `${str(e.verdict)} from ${who(e.checker)}`];
      case 'verified': return [shard, `from ${who(e.worker)}`];
      case 'rejected': return [shard, `from ${who(e.worker)}`];
      case 'frame': return [`frame ${int(e.frame)}`, `stored ${short(e.cid)}`];
      case 'finished': {
        const job = state.jobs.get(str(e.job_id));
        const took = job && int(job.submitted_ms) > 0 ? `took ${duration((int(job.finished_ms) || Date.now()) - int(job.submitted_ms))}` : '';
        return [str(e.state), str(e.reason) || took];
      }
      case 'problem': return ['', str(e.message)];
      case 'lagged': return ['', `missed ${fmtInt(e.missed)} events`];
      case 'status': return [str(e.state), ''];
      case 'submitted': return [`${fmtInt(e.frames)} frames`, `${fmtInt(e.shards)} shards`];
      default: return ['', ''];
    }
  }

  /** Entries for a job's milestones the feed has not shown yet (from `job_list`). */
  function milestones(job) {
    const id = str(job.job_id);
    let seen = state.logged.get(id);
    if (!seen) {
      seen = new Set();
      state.logged.set(id, seen);
    }
    const out = [];
    if (!seen.has('submitted') && int(job.submitted_ms) > 0) {
      seen.add('submitted');
      out.push({ kind: 'submitted', job_id: id, frames: job.frames, shards: job.shards, at: int(job.submitted_ms) });
    }
    if (!seen.has('finished') && FINISHED.includes(str(job.state))) {
      seen.add('finished');
      out.push({ kind: 'finished', job_id: id, state: job.state, reason: job.reason, at: int(job.finished_ms) || Date.now() });
    }
    return out;
  }

  /** Puts an entry into the feed, newest first, by its time. */
  function logEvent(e, at) {
    const list = byId('activity');
    const empty = list.querySelector('.empty');
    if (empty) empty.remove();
    const kind = str(e.kind).replace(/[^a-z]/g, '');
    const [what, detail] = describe(e);
    const item = el('li', { class: `event kind-${kind}`, data: { kind, jobId: str(e.job_id), at } },
      el('time', { class: 'muted mono', title: new Date(at).toString() }, clock(at)),
      el('span', { class: 'badge kind' }, kind),
      el('span', { class: 'what' }, what),
      el('span', { class: 'mono muted job-ref', title: `job ${str(e.job_id)}` }, str(e.job_id).slice(0, 8)),
      el('span', { class: 'detail muted' }, detail));
    const after = [...list.children].find((c) => int(c.dataset.at) <= at);
    list.insertBefore(item, after || null);
    while (list.children.length > MAX_ACTIVITY) list.lastElementChild.remove();
  }

  function countLive() {
    state.events += 1;
    const list = byId('activity');
    list.dataset.events = state.events;
    setText(byId('activity-count'), `${fmtInt(state.events)} live since this page opened`);
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

  let socket = null;
  let backoff = 1000;

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    let ws;
    try {
      ws = new WebSocket(`${scheme}://${location.host}/`);
    } catch (e) {
      setTimeout(connect, backoff);
      return;
    }
    socket = ws;
    const subscribeId = nextId++;
    ws.addEventListener('open', () => {
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: subscribeId, method: 'job_subscribe' }));
    });
    ws.addEventListener('message', (m) => {
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch (e) {
        return;
      }
      if (msg.id === subscribeId) {
        state.socketLive = !msg.error;
        if (!msg.error) backoff = 1000;
        showConnection();
        return;
      }
      if (msg.method === 'job_event' && msg.params) onEvent(msg.params.result);
    });
    ws.addEventListener('close', () => {
      if (socket !== ws) return;
      socket = null;
      state.socketLive = false;
      showConnection();
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    });
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
    connect();
    setInterval(poll, POLL_MS);
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) poll();
    });
    setInterval(renderInfo, 1000);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
