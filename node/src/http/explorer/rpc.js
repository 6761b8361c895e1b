// The explorer's way to the node (`window.Pictor.rpc`): JSON-RPC calls over HTTP, and
// the live feed, one WebSocket subscription to `job_subscribe` that reconnects with
// backoff.
'use strict';

(() => {
  const P = (window.Pictor = window.Pictor || {});
  const { str } = P.dom;
  const { state } = P;

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

  // ---- live feed over a WebSocket --------------------------------------------------

  let socket = null;
  let backoff = 1000;
  let hooks = { onEvent: () => {}, onChange: () => {} };

  /**
   * Opens the feed, and opens it again whenever it closes: `onEvent` gets each job
   * event, `onChange` is told when `state.socketLive` may have changed.
   */
  function live(onEvent, onChange) {
    hooks = { onEvent, onChange };
    connect();
  }

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
        hooks.onChange();
        return;
      }
      if (msg.method === 'job_event' && msg.params) hooks.onEvent(msg.params.result);
    });
    ws.addEventListener('close', () => {
      if (socket !== ws) return;
      socket = null;
      state.socketLive = false;
      hooks.onChange();
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    });
  }

  P.rpc = { rpc, batch, live };
})();
