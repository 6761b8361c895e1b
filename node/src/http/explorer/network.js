// The explorer's node panel, summary and network tables (`window.Pictor.network`):
// this node's `node_info`, and the workers and checkers it has heard from.
'use strict';

(() => {
  const P = (window.Pictor = window.Pictor || {});
  const { byId, el, setText, int, fmtInt, str, short, duration, ago, clock } = P.dom;
  const { FINISHED } = P.config;
  const { state } = P;

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
    const c = state.credits;
    byId('node-credits-row').hidden = !c;
    if (c) {
      setText(byId('node-credits'), `${fmtInt(c.balance)} credits · ${fmtInt(c.escrowed)} escrowed`);
      byId('node-credits').title = `account ${str(c.account)}`;
    }
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

  // What was found against a checker (equivocation, a false attestation), one line each.
  const findings = (list) => {
    const items = Array.isArray(list) ? list.map(str).filter((f) => f) : [];
    return items.length
      ? el('td', { class: 'findings status-banned' }, items.join('; '))
      : el('td', { class: 'muted' }, '–');
  };

  function renderCheckers() {
    const body = byId('checkers').tBodies[0];
    const rows = state.checkers.map((c) => el('tr', { class: 'checker', data: { peerId: str(c.peer_id), status: str(c.status) } },
      peerCell(c),
      el('td', {}, badge(c.status)),
      el('td', {}, c.genesis ? el('span', { class: 'chip', title: 'named by the network spec' }, 'genesis') : el('span', { class: 'muted' }, '–')),
      num(c.assignments, 'shards this checker assigned as leader'),
      num(c.attestations),
      num(c.certificates, 'quorum certificates it signed'),
      el('td', { class: 'num muted', title: `last heard ${ago(c.last_seen_ms)}` }, ago(c.last_work_ms)),
      findings(c.findings)));
    body.replaceChildren(...rows);
    byId('checkers-empty').hidden = rows.length > 0;
    const online = state.checkers.filter((c) => !['offline', 'banned'].includes(str(c.status))).length;
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
    const onlineCheckers = state.checkers.filter((c) => !['offline', 'banned'].includes(str(c.status))).length;
    setText(byId('stat-checkers'), fmtInt(onlineCheckers));
    setText(byId('stat-checkers-total'), `of ${fmtInt(state.checkers.length)} seen`);
  }

  P.network = { renderInfo, renderCheckers, renderWorkers, renderStats };
})();
