// The explorer's jobs (`window.Pictor.jobs`): one row per job with its progress bar and
// its frames' thumbnails, kept up to date from `job_list`, `job_status` and the feed.
'use strict';

(() => {
  const P = (window.Pictor = window.Pictor || {});
  const { byId, el, setText, int, fmtInt, str, short, duration, clock, fileUrl } = P.dom;
  const { MAX_JOBS, CID, FINISHED } = P.config;
  const { state } = P;
  const { rpc } = P.rpc;
  const { renderStats } = P.network;

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
    const budgetText = el('span', { class: 'budget', hidden: true });
    const reason = el('p', { class: 'reason', hidden: true });
    const thumbs = el('div', { class: 'thumbs' });
    const root = el('article', { class: 'job', data: { jobId: id } },
      el('div', { class: 'job-head' }, stateBadge, idText, when),
      el('div', { class: 'job-progress' }, bar,
        el('div', { class: 'job-counts' }, progress, percent, framesText, rejectedText, budgetText)),
      reason,
      thumbs);
    row = { root, stateBadge, when, bar, rendered, verified, progress, percent, framesText, rejectedText, budgetText, reason, thumbs, shown: new Map() };
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

    // The job's budget (a network with credits): what it paid, of what was escrowed.
    const e = job.escrow;
    if (e && typeof e === 'object') {
      const paid = int(e.paid_workers) + int(e.paid_fees);
      const back = e.closed ? ` · ${fmtInt(e.refunded)} refunded` : ` · ${fmtInt(e.remaining)} left`;
      setText(row.budgetText, `paid ${fmtInt(paid)} of ${fmtInt(e.funded)} credits${back}`);
      row.budgetText.title = `${fmtInt(e.paid_workers)} to workers, ${fmtInt(e.paid_fees)} in checker fees, ${fmtInt(e.shards_paid)} shards paid`;
      row.budgetText.hidden = false;
    } else if (e === null) {
      row.budgetText.hidden = true;
    }
    const why = str(job.reason || job.paused || job.problem);
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

  P.jobs = { renderJob, renderJobs, addFrame, refreshJobSoon, mergeJob };
})();
