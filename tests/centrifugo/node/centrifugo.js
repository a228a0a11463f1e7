// A fake Centrifugo: calls the project's gRPC proxy the way Centrifugo does, with @grpc/grpc-js
// and the reference proxy.proto, and judges each answer by Centrifugo's rules (NOTES.md): it
// reads `disconnect`, then `error`, then `result`; refresh and sub_refresh read only `result`;
// an empty answer is a decision of its own; codes and reasons have ranges.
//
// Commands arrive as JSON lines on stdin, answers leave as JSON lines on stdout (with the
// command's id): call, raw, stream, bidi, many, bench. See tests/centrifugo/harness.py.
'use strict';

const {grpc, load, emit, commands, metadataFrom} = require('./common');

const proxy = load('proxy.proto', 'centrifugal.centrifugo.proxy');
const SERVICE = '/centrifugal.centrifugo.proxy.CentrifugoProxy/';
const EMPTY = {
  Connect: 'reject: no credentials', Refresh: 'expired', SubRefresh: 'expired',
  Subscribe: 'allow: namespace defaults', Publish: 'publish: data as sent', RPC: 'empty data',
};
const READS_REFUSALS = {Connect: true, Subscribe: true, Publish: true, RPC: true};
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const clients = new Map();

function client(target) {
  if (!clients.has(target)) {
    clients.set(target, new proxy.CentrifugoProxy(target, grpc.credentials.createInsecure()));
  }
  return clients.get(target);
}

function statusName(code) {
  return Object.keys(grpc.status).find((name) => grpc.status[name] === code);
}

function b64Violations(obj, where, out) {
  for (const [key, value] of Object.entries(obj || {})) {
    if (key.startsWith('b64') && value && !BASE64.test(value)) {
      out.push(`${where}.${key} is not base64: Centrifugo answers internal error`);
    } else if (value && typeof value === 'object' && !Array.isArray(value)) {
      b64Violations(value, `${where}.${key}`, out);
    }
  }
}

// What Centrifugo would do with `response` to `method`, and which of its rules it breaks.
function judge(method, response) {
  const violations = [];
  const set = ['result', 'error', 'disconnect'].filter((k) => response[k] != null);
  if (set.length > 1) violations.push(`more than one of result/error/disconnect: ${set}`);
  const {disconnect, error, result} = response;
  if (!READS_REFUSALS[method]) {
    if (disconnect || error) violations.push(`${method} ignores error and disconnect`);
    const decision = !result ? EMPTY[method] : result.expired ? 'expired' : 'extend';
    return {decision, violations};
  }
  if (disconnect) {
    if (!(disconnect.code >= 4000 && disconnect.code <= 4999)) {
      violations.push(`disconnect code ${disconnect.code} outside 4000-4999`);
    }
    if (Buffer.byteLength(disconnect.reason || '') > 32) {
      violations.push('disconnect reason longer than 32 bytes');
    }
    return {decision: `disconnect ${disconnect.code}`, violations};
  }
  if (error) {
    if (!(error.code >= 400 && error.code <= 1999)) {
      violations.push(`error code ${error.code} outside 400-1999`);
    }
    return {decision: `error ${error.code}`, violations};
  }
  if (!result) return {decision: EMPTY[method], violations};
  b64Violations(result, 'result', violations);
  return {decision: 'result', violations};
}

function failure(method, err, started) {
  return {ok: false, code: err.code, status: statusName(err.code), details: err.details,
          elapsed_ms: Date.now() - started,
          client_sees: READS_REFUSALS[method] ? '100: internal server error' :
            'connection kept, asked again later'};
}

// A `fresh` call gets a channel of its own, so that it does not wait out the reconnect
// backoff of the shared channel after the server was down.
function call(cmd) {
  const started = Date.now();
  const options = {deadline: Date.now() + (cmd.timeout_ms || 1000)};
  const c = cmd.fresh ? new proxy.CentrifugoProxy(cmd.target, grpc.credentials.createInsecure()) :
    client(cmd.target);
  return new Promise((resolve) => {
    c[cmd.method](cmd.request || {}, metadataFrom(cmd.metadata), options,
      (err, response) => {
        if (cmd.fresh) c.close();
        if (err) return resolve(failure(cmd.method, err, started));
        resolve({ok: true, response, ...judge(cmd.method, response),
                 elapsed_ms: Date.now() - started});
      });
  });
}

function raw(cmd) {
  const started = Date.now();
  const identity = (x) => x;
  return new Promise((resolve) => {
    client(cmd.target).makeUnaryRequest(SERVICE + cmd.method, identity, identity,
      Buffer.from(cmd.hex, 'hex'), metadataFrom(cmd.metadata),
      {deadline: Date.now() + (cmd.timeout_ms || 1000)}, (err, response) => {
        if (err) return resolve(failure(cmd.method, err, started));
        resolve({ok: true, hex: response.toString('hex'), elapsed_ms: Date.now() - started});
      });
  });
}

// A streaming call: the first message is sent, then the call's final status is reported.
function stream(cmd) {
  const started = Date.now();
  const options = {deadline: Date.now() + (cmd.timeout_ms || 1000)};
  const md = metadataFrom(cmd.metadata);
  return new Promise((resolve) => {
    const c = client(cmd.target);
    const bidi = cmd.method === 'SubscribeBidirectional';
    const s = bidi ? c[cmd.method](md, options) : c[cmd.method](cmd.request || {}, md, options);
    const messages = [];
    s.on('data', (m) => messages.push(m));
    s.on('error', (err) => resolve({...failure(cmd.method, err, started), messages}));
    s.on('status', (st) => {
      if (st.code === grpc.status.OK) resolve({ok: true, messages});
    });
    if (bidi) {
      s.write({subscribe_request: cmd.request || {}});
      s.end();
    }
  });
}

async function bench(cmd) {
  let left = cmd.count;
  let errors = 0;
  const started = process.hrtime.bigint();
  async function lane() {
    while (left > 0) {
      left -= 1;
      const out = await call(cmd);
      if (!out.ok) errors += 1;
    }
  }
  await Promise.all(Array.from({length: cmd.concurrency || 1}, lane));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {ok: true, calls: cmd.count, errors, seconds};
}

const OPS = {
  call, raw, stream, bench,
  many: async (cmd) => ({ok: true, results: await Promise.all(cmd.calls.map(call))}),
};

commands((cmd) => {
  const op = OPS[cmd.op];
  if (!op) return {ok: false, error: `unknown op ${cmd.op}`};
  return op(cmd);
});
emit({event: 'ready'});
