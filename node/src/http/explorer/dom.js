// The explorer's DOM and formatting helpers (loaded first; `window.Pictor.dom`).
// Every string shown on the page goes in through textContent and attributes only,
// never as markup.
'use strict';

(() => {
  const P = (window.Pictor = window.Pictor || {});

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

  P.dom = { byId, el, setText, int, fmtInt, str, short, duration, ago, clock, fileUrl };
})();
