// The explorer's activity feed (`window.Pictor.feed`): live events of this node's jobs,
// and milestones read from `job_list`, newest first.
'use strict';

(() => {
  const P = (window.Pictor = window.Pictor || {});
  const { byId, el, setText, int, fmtInt, str, short, duration, clock } = P.dom;
  const { MAX_ACTIVITY, FINISHED } = P.config;
  const { state } = P;

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

  P.feed = { milestones, logEvent, countLive };
})();
