// kvc-server against hostile and unlucky clients (issue 10): every defect found
// when the server was attacked, reproduced from its description, and the attacks
// as load. Raw sockets on loopback; each test bounded. Run by tests/server/run.sh
// (ctest server_hostile). Assertions are on behaviour (statuses, responses,
// tokens generated, memory), never on speed; figures are printed for the docs.
import { test as nodeTest, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { startServer, stopServer, call, words, sleep } from './harness.mjs';

const KEY = 'k1';
// --idle-timeout 30s: a client starved of CPU on a loaded machine is not cut off mid-attack.
const MAIN_ARGS = ['--api-key', KEY, '--idle-timeout', '30s', '--parallel', '2', '--ctx-size', '4096', '--ram-quota', '64M',
  '--disk-dir', 'none', '--max-body-bytes', '2M', '--max-tokens-limit', '4000', '--default-max-tokens', '4',
  '--queue-size', '8', '--min-tokens', '64', '--align', '64', '--trim', '0'];
let srv;
// Every test is bounded (an old server that hangs fails instead of stalling CI).
const test = (name, fn) => nodeTest(name, { timeout: 180_000 }, fn);

before(async () => { srv = await startServer('hostile', MAIN_ARGS); });
after(async () => { if (srv) await stopServer(srv, 'SIGKILL'); });

// Memory of the server process, in MiB: resident now and its peak.
function memory(s) {
  const st = fs.readFileSync(`/proc/${s.child.pid}/status`, 'utf8');
  const kb = (k) => Number((st.match(new RegExp(`${k}:\\s+(\\d+)`)) || [0, 0])[1]);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}
const figures = [];
function note(what, value) {
  figures.push(`${what}: ${value}`);
  console.log(`# figure: ${what}: ${value}`);
}

// One connection: writes `chunks` (strings or Buffers), optionally half-closes,
// and collects what comes back until the server closes or `ms` pass. `then`:
// bytes written once the first answer has arrived (a body sent after the client
// saw its request refused).
function raw(s, chunks, { halfClose = false, ms = 3000, until = null, then = null } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(s.port, '127.0.0.1');
    let data = '';
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data, closed });
    };
    const timer = setTimeout(() => finish(false), ms);
    let sentThen = false;
    sock.on('data', (d) => {
      data += d.toString('latin1');
      if (then && !sentThen && statuses(data).length > 0) {
        sentThen = true;
        sock.write(then, () => {});
      }
      if (until && until(data)) finish(false);
    });
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
    sock.on('connect', () => {
      for (const c of [].concat(chunks)) sock.write(c);
      if (halfClose) sock.end();
    });
  });
}
// Final responses (1xx interim ones excluded), in order.
const statuses = (data) => [...data.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1])).filter((c) => c >= 200);
const auth = `Authorization: Bearer ${KEY}\r\n`;
const json = (o) => JSON.stringify(o);
function post(path, body, extra = '') {
  return `POST ${path} HTTP/1.1\r\nHost: x\r\n${extra}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

async function metric(s, name) {
  const m = await call(s, 'GET', '/metrics', { key: KEY });
  const line = m.text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}
async function idle(s) {
  for (let i = 0; i < 400; i++) {
    const st = (await call(s, 'GET', '/v1/cache/stats', { key: KEY })).body;
    if (st.requests.running === 0 && st.requests.waiting === 0 && st.leases === 0) return st;
    await sleep(10);
  }
  assert.fail('the server did not go idle');
}
async function healthy(s) {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), 1000);  // the bound: /health answers within 1 s
  try {
    const r = await fetch(`${s.base}/health`, { signal: ac.signal });
    return r.status === 200;
  } catch { return false; } finally { clearTimeout(t); }
}
async function completes(s) {
  const r = await call(s, 'POST', '/v1/completions', { key: KEY, body: { prompt: 'hello there', max_tokens: 2 } });
  return r.status === 200 && r.body.choices.length === 1;
}

// --- 1. Header flood -------------------------------------------------------

test('header flood: 64 MB of header lines on one connection, and 4 at once, keep RSS growth under 64 MB', async () => {
  const before = memory(srv);
  const line = `X-Flood: ${'a'.repeat(8190)}\r\n`;
  const flood = async () => new Promise((resolve) => {
    const sock = net.connect(srv.port, '127.0.0.1');
    let sent = 0;
    let data = '';
    const total = 64 * 1024 * 1024;
    const pump = () => {  // until 64 MB are sent or the server answers
      while (sent < total && !data) {
        sent += line.length;
        if (!sock.write(line)) return sock.once('drain', pump);
      }
    };
    sock.on('connect', () => { sock.write('GET /v1/models HTTP/1.1\r\nHost: x\r\n'); pump(); });
    sock.on('data', (d) => { data += d; });
    const end = () => resolve({ data, sent });
    sock.on('close', end);
    sock.on('error', () => {});
    setTimeout(() => { sock.destroy(); }, 20000);
  });
  const one = await flood();
  assert.deepEqual(statuses(one.data), [431], one.data.slice(0, 300));
  note('header flood: bytes sent before the answer', one.sent);
  const four = await Promise.all([flood(), flood(), flood(), flood()]);
  for (const f of four) assert.deepEqual(statuses(f.data), [431]);
  const afterMem = memory(srv);
  note('header flood RSS MiB before/after/peak', `${before.rss.toFixed(0)} / ${afterMem.rss.toFixed(0)} / ${afterMem.peak.toFixed(0)}`);
  assert.ok(afterMem.peak - before.peak < 64, `peak RSS grew by ${(afterMem.peak - before.peak).toFixed(0)} MiB`);
  assert.ok(await healthy(srv));
});

test('header flood without the API key is refused before the headers are read whole', async () => {
  const before = memory(srv);
  const hdrs = Buffer.from(`X-Flood: ${'b'.repeat(8190)}\r\n`.repeat(64 * 128));  // 64 MB
  const r = await raw(srv, ['GET /v1/cache/stats HTTP/1.1\r\nHost: x\r\n', hdrs], { ms: 20000 });
  assert.deepEqual(statuses(r.data), [431], r.data.slice(0, 200));
  assert.ok(memory(srv).peak - before.peak < 64);
});

// --- 2. Slowloris ----------------------------------------------------------

test('slowloris: 1000 connections trickling header lines; /health answers within 1 s and a completion succeeds', async () => {
  const socks = [];
  let open = 0;
  for (let i = 0; i < 1000; i++) {
    const s = net.connect(srv.port, '127.0.0.1');
    s.on('error', () => {});
    s.on('connect', () => { open++; s.write('GET /v1/models HTTP/1.1\r\nHost: x\r\n'); });
    socks.push(s);
  }
  for (let i = 0; i < 100 && open < 1000; i++) await sleep(20);
  const trickle = setInterval(() => { for (const s of socks) if (!s.destroyed) s.write(`X-${Math.random().toString(36).slice(2, 6)}: 1\r\n`); }, 1000);
  try {
    await sleep(1500);
    const mem = memory(srv);
    for (let i = 0; i < 5; i++) assert.ok(await healthy(srv), `/health within 1 s (try ${i})`);
    assert.ok(await completes(srv), 'a completion succeeds');
    note('slowloris: connections open, server RSS MiB', `${open}, ${mem.rss.toFixed(0)}`);
    assert.equal(open, 1000);
  } finally {
    clearInterval(trickle);
    for (const s of socks) s.destroy();
  }
});

// --- 3. Desync -------------------------------------------------------------

test('desync: the body of a refused request (401, 413, 415) is never run as a request', async () => {
  const smuggled = `GET /v1/cache/rows HTTP/1.1\r\nHost: x\r\n${auth}\r\n`;
  // The client sends its head, sees the refusal, then sends the body: a request
  // with the key. Exactly one answer may come back.
  // 401: no key.
  let r = await raw(srv, `POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${smuggled.length}\r\n\r\n`, { then: smuggled });
  assert.deepEqual(statuses(r.data), [401], r.data);
  assert.ok(r.closed, 'connection closed after the refusal');
  // 415: multipart.
  r = await raw(srv, `POST /v1/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: multipart/form-data; boundary=z\r\nContent-Length: ${smuggled.length}\r\n\r\n`, { then: smuggled });
  assert.deepEqual(statuses(r.data), [415], r.data);
  // 413: Content-Length over --max-body-bytes.
  r = await raw(srv, `POST /v1/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 3000000\r\n\r\n`, { then: smuggled });
  assert.deepEqual(statuses(r.data), [413], r.data);
  // The same with everything in one write.
  r = await raw(srv, post('/v1/completions', smuggled));
  assert.deepEqual(statuses(r.data), [401], r.data);
  // 413 on a chunked upload that carries Connection: close.
  const piece = 'a'.repeat(65536);
  const chunks = [`POST /v1/completions HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n`];
  for (let i = 0; i < 40; i++) chunks.push(`${piece.length.toString(16)}\r\n${piece}\r\n`);
  chunks.push(`0\r\n\r\n${smuggled}`);
  r = await raw(srv, chunks);
  assert.deepEqual(statuses(r.data), [413], r.data.slice(0, 300));
});

// --- 4. Pipelining and half-close -------------------------------------------

test('pipelining: ten GET /health in one write get ten responses; pipelined POSTs answer in order', async () => {
  let r = await raw(srv, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(10), { until: (d) => statuses(d).length >= 10 });
  assert.deepEqual(statuses(r.data), Array(10).fill(200), r.data);
  const bodies = [0, 1, 2].map((i) => post('/v1/completions', json({ prompt: `pipelined ${i}`, max_tokens: 1 }), auth));
  const mixed = bodies[0] + `GET /v1/models HTTP/1.1\r\nHost: x\r\n${auth}\r\n` + bodies[1] + bodies[2];
  r = await raw(srv, mixed, { ms: 20000, until: (d) => statuses(d).length >= 4 });
  assert.deepEqual(statuses(r.data), [200, 200, 200, 200], r.data.slice(0, 500));
  const objects = [...r.data.matchAll(/"object":"([a-z_.]+)"/g)].map((m) => m[1]);
  assert.deepEqual(objects.filter((o) => o !== 'model'), ['text_completion', 'list', 'text_completion', 'text_completion']);
});

test('half-close: a client that shuts its sending side after the request is answered', async () => {
  let r = await raw(srv, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n', { halfClose: true });
  assert.deepEqual(statuses(r.data), [200], r.data);
  r = await raw(srv, post('/v1/completions', json({ prompt: 'half closed', max_tokens: 2 }), auth), { halfClose: true, ms: 20000 });
  assert.deepEqual(statuses(r.data), [200], r.data);
  assert.match(r.data, /"text_completion"/);
});

// --- 5. Amplification ------------------------------------------------------

test('amplification: a 900 KB prompt is refused without tokenizing it whole; 32 at once stay small', async () => {
  const prompt = words(150000, 9);  // ~900 KB
  const body = json({ prompt, max_tokens: 1 });
  assert.ok(body.length > 850000 && body.length < 2 * 1024 * 1024);
  const before = memory(srv);
  // A transport error names its cause (undici's 'fetch failed' alone does not).
  const refuse = () => call(srv, 'POST', '/v1/completions', { key: KEY, raw: body }).catch((e) => {
    throw new Error(`${e.message}: ${e.cause?.code ?? ''} ${e.cause?.message ?? e.cause ?? ''}`);
  });
  const one = await refuse();
  assert.equal(one.status, 400, one.text.slice(0, 200));
  assert.equal(one.body.error.code, 'context_length_exceeded');
  const many = await Promise.all(Array.from({ length: 32 }, refuse));
  for (const m of many) assert.equal(m.status, 400);
  const afterMem = memory(srv);
  note('32 x 900 KB prompts: peak RSS growth MiB', (afterMem.peak - before.peak).toFixed(0));
  assert.ok(afterMem.peak - before.peak < 512, `peak RSS grew by ${(afterMem.peak - before.peak).toFixed(0)} MiB`);
});

test('amplification: Content-Length -5 is an immediate 400; Expect 100-continue with 1 GB gets 413, never 100', async () => {
  let r = await raw(srv, `POST /v1/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: -5\r\n\r\n`, { ms: 2000 });
  assert.deepEqual(statuses(r.data), [400], r.data);
  r = await raw(srv, `POST /v1/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 1073741824\r\nExpect: 100-continue\r\n\r\n`, { ms: 2000 });
  assert.ok(!r.data.includes('100 Continue'), r.data);
  assert.deepEqual(statuses(r.data), [413], r.data);
});

// --- 6. Cancellation -------------------------------------------------------

// A server with one sequence, for requests that would run for seconds.
async function oneSequence(extra = ['--saves', 'false']) {
  return startServer('one-sequence', ['--api-key', KEY, '--parallel', '1', '--ctx-size', '4096', '--ram-quota', '64M',
    '--disk-dir', 'none', '--max-tokens-limit', '4000', '--queue-size', '8', ...extra]);
}
const LONG = (p) => post('/v1/completions', json({ prompt: [1, 500 + p, 600], max_tokens: 4000 }), auth);

test('cancellation: a non-streamed request whose client leaves frees its sequence at once', async () => {
  const s = await oneSequence();
  try {
    const gen0 = await metric(s, 'kvc_server_generated_tokens_total');
    const sock = net.connect(s.port, '127.0.0.1');
    sock.on('error', () => {});
    sock.write(LONG(1));
    for (let i = 0; i < 400 && (await call(s, 'GET', '/v1/cache/stats', { key: KEY })).body.requests.running !== 1; i++) await sleep(5);
    await sleep(200);  // generating, nothing written to the client
    const t0 = performance.now();
    sock.destroy();
    await idle(s);
    note('non-streamed request: sequence free after the client left (ms)', (performance.now() - t0).toFixed(0));
    assert.ok(await completes(s));
    const gen = await metric(s, 'kvc_server_generated_tokens_total') - gen0;
    assert.ok(gen < 3000, `the abandoned request generated ${gen} tokens (max_tokens 4000)`);
  } finally { await stopServer(s, 'SIGKILL'); }
});

test('cancellation: queued requests whose clients left never run', async () => {
  const s = await oneSequence();
  try {
    const gen0 = await metric(s, 'kvc_server_generated_tokens_total');
    const holder = net.connect(s.port, '127.0.0.1');
    holder.on('error', () => {});
    holder.write(LONG(2));
    for (let i = 0; i < 400 && (await call(s, 'GET', '/v1/cache/stats', { key: KEY })).body.requests.running !== 1; i++) await sleep(5);
    const queued = [3, 4, 5].map((p) => { const q = net.connect(s.port, '127.0.0.1'); q.on('error', () => {}); q.write(LONG(p)); return q; });
    for (let i = 0; i < 400 && (await call(s, 'GET', '/v1/cache/stats', { key: KEY })).body.requests.waiting !== 3; i++) await sleep(5);
    assert.equal((await call(s, 'GET', '/v1/cache/stats', { key: KEY })).body.requests.waiting, 3);
    for (const q of queued) q.destroy();
    for (let i = 0; i < 200 && (await call(s, 'GET', '/v1/cache/stats', { key: KEY })).body.requests.waiting !== 0; i++) await sleep(5);
    assert.equal((await call(s, 'GET', '/v1/cache/stats', { key: KEY })).body.requests.waiting, 0, 'queued requests left the queue');
    holder.destroy();
    await idle(s);
    const gen = await metric(s, 'kvc_server_generated_tokens_total') - gen0;
    assert.ok(gen < 4000, `generated ${gen} tokens: the abandoned queued requests ran`);
  } finally { await stopServer(s, 'SIGKILL'); }
});

test('cancellation: a stream whose client leaves during a long prefill (no text yet) stops at once', async () => {
  // Saves on, policy aligned at 64: a prompt that finished its prefill leaves a cold row.
  const s = await oneSequence(['--saves', 'true', '--min-tokens', '64', '--align', '64', '--trim', '0']);
  try {
    const prompt = Array.from({ length: 4000 }, (_, i) => 100 + ((i * 7919) % 20000));
    const sock = net.connect(s.port, '127.0.0.1');
    sock.on('error', () => {});
    sock.write(post('/v1/completions', json({ prompt, max_tokens: 8, stream: true }), auth));
    for (let i = 0; i < 400 && (await call(s, 'GET', '/v1/cache/stats', { key: KEY })).body.requests.running !== 1; i++) await sleep(2);
    const t0 = performance.now();
    sock.destroy();
    await idle(s);
    note('stream in prefill: sequence free after the client left (ms)', (performance.now() - t0).toFixed(0));
    await sleep(300);  // any save in flight lands
    const rows = (await call(s, 'GET', '/v1/cache/rows', { key: KEY })).body;
    assert.equal(rows.total, 0, 'the prefill ran to its end (a cold row was saved)');
  } finally { await stopServer(s, 'SIGKILL'); }
});

// --- Attacks as load ---------------------------------------------------------

test('2000 idle keep-alive connections: the server keeps answering, RSS stays bounded', async () => {
  const s = await startServer('idle', ['--api-key', KEY, '--parallel', '1', '--ctx-size', '1024', '--ram-quota', '16M',
    '--disk-dir', 'none', '--keep-alive-timeout', '60s']);
  const socks = [];
  try {
    const before = memory(s);
    let answered = 0;
    await Promise.all(Array.from({ length: 2000 }, () => new Promise((resolve) => {
      const c = net.connect(s.port, '127.0.0.1');
      socks.push(c);
      const t = setTimeout(resolve, 15000);
      c.on('error', () => { clearTimeout(t); resolve(); });
      c.on('connect', () => c.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
      c.once('data', () => { answered++; clearTimeout(t); resolve(); });
    })));
    assert.equal(answered, 2000);
    await sleep(200);
    const mem = memory(s);
    note('2000 idle keep-alive connections: RSS MiB before/after', `${before.rss.toFixed(0)} / ${mem.rss.toFixed(0)}`);
    assert.ok(mem.rss - before.rss < 64, `RSS grew by ${(mem.rss - before.rss).toFixed(0)} MiB`);
    assert.ok(socks.every((c) => !c.destroyed), 'idle connections stay open');
    assert.ok(await healthy(s));
    assert.ok(await completes(s));
  } finally {
    for (const c of socks) c.destroy();
    await stopServer(s, 'SIGKILL');
  }
});

test('smuggling attempts (CL+TE, TE+CL, duplicate Content-Length, obs-fold, bare LF) get 400, close, run nothing', async () => {
  await call(srv, 'POST', '/v1/completions', { key: KEY, body: { prompt: words(100, 3), max_tokens: 1 } });
  const rows = (await call(srv, 'GET', '/v1/cache/rows', { key: KEY })).body.total;
  assert.ok(rows > 0);
  const gc = `POST /v1/cache/gc HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 2\r\n\r\n{}`;
  const attempts = {
    'CL+TE': `POST /v1/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${gc}`,
    'TE+CL': `POST /v1/completions HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n${gc}`,
    'duplicate CL': `POST /v1/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}${gc}`,
    'obs-fold': `GET /v1/models HTTP/1.1\r\nHost: x\r\n${auth}X-A: a\r\n Transfer-Encoding: chunked\r\n\r\n${gc}`,
    'bare LF': `GET /v1/models HTTP/1.1\nHost: x\n${auth.trim()}\n\n${gc}`,
  };
  for (const [name, bytes] of Object.entries(attempts)) {
    const r = await raw(srv, bytes);
    assert.deepEqual(statuses(r.data), [400], `${name}: ${r.data}`);
    assert.ok(r.closed, `${name}: connection closed`);
  }
  assert.equal((await call(srv, 'GET', '/v1/cache/rows', { key: KEY })).body.total, rows, 'a smuggled gc ran');
  note('RSS after the attacks (MiB)', memory(srv).rss.toFixed(0));
  console.log(figures.join('\n'));
});
