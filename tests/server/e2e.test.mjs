// kvc-server end to end, with the official OpenAI Node SDK as the client and
// fetch for admin, auth and bad-input cases. Run by tests/server/run.sh (ctest
// label "server"). Assertions are on behaviour, never on wall time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { startServer, stopServer, call, dir, words, sleep, MODEL, TMP } from './harness.mjs';

const KEY = 'test-key-123';
const POLICY = ['--min-tokens', '64', '--align', '64', '--trim', '0'];
const MAIN_ARGS = ['--api-key', KEY, '--parallel', '4', '--ctx-size', '4096', '--ram-quota', '64M',
  '--disk-dir', dir('rows'), '--disk-quota', '1G', '--max-body-bytes', '65536', '--max-tokens-limit', '64',
  '--default-max-tokens', '8', '--queue-size', '64', ...POLICY];

let srv;
let client;
let model;
const LONG = words(160, 1);  // > 64 tokens: saved by the policy

before(async () => {
  srv = await startServer('main', MAIN_ARGS);
  client = new OpenAI({ apiKey: KEY, baseURL: `${srv.base}/v1`, maxRetries: 0 });
});

after(async () => {
  if (srv) await stopServer(srv, 'SIGKILL');
});

async function stats(s = srv, key = KEY) {
  const r = await call(s, 'GET', '/v1/cache/stats', { key });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

// Saves are asynchronous: wait until the cache holds at least `n` available rows.
async function waitRows(n) {
  for (let i = 0; i < 200; i++) {
    const r = await call(srv, 'GET', '/v1/cache/rows?limit=1000', { key: KEY });
    if (r.body.rows.filter((x) => x.status === 'available').length >= n) return r.body;
    await sleep(50);
  }
  assert.fail(`fewer than ${n} rows were saved`);
}

function checkKvc(resp) {
  assert.equal(typeof resp.usage.prompt_tokens_details.cached_tokens, 'number');
  assert.ok(resp.kvc, 'kvc object');
  for (const f of ['path', 'miss_reason', 'prompt_tokens', 'cached_tokens', 'prefilled_tokens', 'restore_ms',
    'time_to_first_token_ms', 'finish_key']) {
    assert.ok(f in resp.kvc, `kvc.${f}`);
  }
  // usage counts cached tokens like llama-server (at most prompt_tokens - 1: it
  // always decodes the last one); kvc may reuse them all (stored logits).
  assert.equal(Math.min(resp.kvc.cached_tokens, resp.usage.prompt_tokens - 1), resp.usage.prompt_tokens_details.cached_tokens);
}

test('models and health', async () => {
  const list = await client.models.list();
  assert.equal(list.data.length, 1);
  model = list.data[0].id;
  assert.equal(model, 'tiny.gguf');
  const h = await call(srv, 'GET', '/health');  // no key needed
  assert.equal(h.status, 200);
});

test('completions: the second identical request reports cached tokens', async () => {
  const first = await client.completions.create({ model, prompt: LONG, max_tokens: 4 });
  checkKvc(first);
  assert.equal(first.object, 'text_completion');
  assert.equal(typeof first.choices[0].text, 'string');
  assert.match(first.kvc.finish_key, /^[0-9a-f]{64}$/);
  await waitRows(1);
  const second = await client.completions.create({ model, prompt: LONG, max_tokens: 4 });
  checkKvc(second);
  assert.ok(second.usage.prompt_tokens_details.cached_tokens > 0, JSON.stringify(second.kvc));
  assert.notEqual(second.kvc.path, 'miss');
  assert.equal(second.choices[0].text, first.choices[0].text, 'greedy decoding is deterministic across a restore');
});

test('completions streamed through the SDK end with usage and kvc', async () => {
  const stream = await client.completions.create({ model, prompt: LONG, max_tokens: 6, stream: true });
  let text = '';
  let last;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text ?? '';
    last = chunk;
  }
  assert.ok(text.length > 0);
  assert.equal(last.choices[0].finish_reason, 'length');
  checkKvc(last);
  assert.ok(last.usage.prompt_tokens_details.cached_tokens > 0);
  // The raw stream is SSE ending with [DONE].
  const raw = await call(srv, 'POST', '/v1/completions', { key: KEY, body: { prompt: LONG, max_tokens: 2, stream: true } });
  assert.equal(raw.status, 200);
  assert.match(raw.headers.get('content-type'), /text\/event-stream/);
  assert.ok(raw.text.startsWith('data: '));
  assert.ok(raw.text.endsWith('data: [DONE]\n\n'), raw.text.slice(-100));
});

test('chat, plain and streamed, warm on repeat', async () => {
  const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: words(150, 2) }];
  const first = await client.chat.completions.create({ model, messages, max_tokens: 4 });
  checkKvc(first);
  assert.equal(first.object, 'chat.completion');
  assert.equal(first.choices[0].message.role, 'assistant');
  await waitRows(3);
  const stream = await client.chat.completions.create({ model, messages, max_tokens: 4, stream: true });
  let content = '';
  let role;
  let last;
  for await (const chunk of stream) {
    role ??= chunk.choices[0]?.delta?.role;
    content += chunk.choices[0]?.delta?.content ?? '';
    last = chunk;
  }
  assert.equal(role, 'assistant');
  assert.equal(content, first.choices[0].message.content);
  checkKvc(last);
  assert.ok(last.usage.prompt_tokens_details.cached_tokens > 0, JSON.stringify(last.kvc));
});

test('parent_key resumes the previous turn', async () => {
  const prompt = [1];
  for (let i = 0; i < 150; i++) prompt.push(200 + ((i * 7919) % 20000));
  const t1 = await client.completions.create({ model, prompt, max_tokens: 5 });
  const ids = t1.kvc.completion_token_ids;
  assert.equal(ids.length, 5);
  const t2prompt = [...prompt, ...ids, 300, 301, 302];
  const t2 = await client.completions.create({ model, prompt: t2prompt, max_tokens: 3, parent_key: t1.kvc.finish_key });
  assert.equal(t2.kvc.path, 'resume', JSON.stringify(t2.kvc));
  // Either the turn continued on its parked sequence (sticky session: nothing
  // restored) or the finish row was restored from the cache.
  if (t2.kvc.tier === 'sequence') {
    assert.equal(t2.kvc.restored_key, null, JSON.stringify(t2.kvc));
    assert.equal(t2.kvc.restore_ms, 0, JSON.stringify(t2.kvc));
  } else {
    assert.equal(t2.kvc.restored_key, t1.kvc.finish_key, JSON.stringify(t2.kvc));
  }
  assert.equal(t2.usage.prompt_tokens_details.cached_tokens, prompt.length + ids.length);
  // Chat follow-up with parent_key is accepted (it resumes or falls back with a reason).
  const c1 = await client.chat.completions.create({ model, messages: [{ role: 'user', content: words(120, 3) }], max_tokens: 3 });
  const c2 = await client.chat.completions.create({
    model, max_tokens: 3, parent_key: c1.kvc.finish_key,
    messages: [{ role: 'user', content: words(120, 3) }, c1.choices[0].message, { role: 'user', content: 'and then?' }],
  });
  checkKvc(c2);
  // An unknown (well-formed) parent_key is not an error: the lookup falls through.
  const u = await client.completions.create({ model, prompt: 'hello there', max_tokens: 2, parent_key: 'ab'.repeat(32) });
  checkKvc(u);
});

test('auth: 401 without or with a wrong key, /health open', async () => {
  for (const p of ['/v1/models', '/v1/cache/stats', '/metrics']) {
    const none = await call(srv, 'GET', p);
    assert.equal(none.status, 401, p);
    assert.equal(none.body.error.type, 'authentication_error');
    const wrong = await call(srv, 'GET', p, { key: 'nope' });
    assert.equal(wrong.status, 401, p);
    assert.equal(wrong.body.error.code, 'invalid_api_key');
  }
  const none = await call(srv, 'POST', '/v1/completions', { body: { prompt: 'x' } });
  assert.equal(none.status, 401);
  const bad = new OpenAI({ apiKey: 'wrong', baseURL: `${srv.base}/v1`, maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e.status === 401);
  assert.equal((await call(srv, 'GET', '/health')).status, 200);
});

test('bad input gets a 4xx with an OpenAI error object naming the problem', async () => {
  const hex = 'ab'.repeat(32);
  const cases = [
    ['/v1/completions', '{', 400, null, 'invalid_json'],
    ['/v1/completions', '[1,2]', 400, null, 'invalid_json'],
    ['/v1/completions', '{"prompt": 5}', 400, 'prompt'],
    ['/v1/completions', '{}', 400, 'prompt'],
    ['/v1/completions', '{"prompt": "x", "max_tokens": "5"}', 400, 'max_tokens'],
    ['/v1/completions', '{"prompt": "x", "max_tokens": 65}', 400, 'max_tokens'],
    ['/v1/completions', '{"prompt": "x", "temperature": "hot"}', 400, 'temperature'],
    ['/v1/completions', '{"prompt": "x", "stream": "yes"}', 400, 'stream'],
    ['/v1/completions', '{"prompt": "x", "stop": [1]}', 400, 'stop'],
    ['/v1/completions', '{"prompt": "x", "n": 5}', 400, 'n'],  // more than --parallel 4
    ['/v1/chat/completions', '{"messages": [{"role": "user", "content": "x"}], "n": 2, "stream": true}', 400, 'n'],
    ['/v1/completions', '{"prompt": "x", "parent_key": "xyz"}', 400, 'parent_key'],
    ['/v1/completions', '{"prompt": "x", "parent_key": 5}', 400, 'parent_key'],
    ['/v1/completions', `{"prompt": "x", "parent_key": "${hex}0"}`, 400, 'parent_key'],
    ['/v1/completions', `{"prompt": "${words(2000, 4)}"}`, 400, 'prompt', 'context_length_exceeded'],
    ['/v1/completions', '{"prompt": [1, 99999999]}', 400, null],
    ['/v1/chat/completions', '{"messages": "hi"}', 400, 'messages'],
    ['/v1/chat/completions', '{"messages": []}', 400, 'messages'],
    ['/v1/chat/completions', '{"messages": [{"content": "x"}]}', 400, 'messages[0].role'],
    ['/v1/chat/completions', '{"messages": [{"role": "user", "content": 7}]}', 400, 'messages[0].content'],
    ['/v1/cache/evict', '{}', 400, 'bytes'],
    ['/v1/cache/evict', '{"bytes": "lots"}', 400, 'bytes'],
    ['/v1/cache/evict', '{"bytes": -1}', 400, 'bytes'],
    ['/v1/cache/evict', '{"bytes": 1, "tiers": ["tape"]}', 400, 'tiers'],
    ['/v1/cache/evict', '{"bytes": 1, "tiers": "disk"}', 400, 'tiers'],
    ['/v1/cache/evict', 'nope', 400, null, 'invalid_json'],
    ['/v1/cache/pin', '{}', 400, 'key'],
    ['/v1/cache/pin', '{"key": 1}', 400, 'key'],
    ['/v1/cache/pin', '{"key": "abc"}', 400, 'key'],
    ['/v1/cache/pin', `{"key": "${hex}"}`, 404, 'key', 'row_not_found'],
    ['/v1/cache/unpin', `{"key": "${hex}"}`, 404, 'key', 'row_not_found'],
  ];
  for (const [p, raw, status, param, code] of cases) {
    const r = await call(srv, 'POST', p, { key: KEY, raw });
    const what = `${p} ${raw.slice(0, 60)} → ${r.status} ${r.text.slice(0, 200)}`;
    assert.equal(r.status, status, what);
    assert.ok(r.body && r.body.error, what);
    assert.equal(typeof r.body.error.message, 'string', what);
    assert.ok(r.body.error.message.length > 0, what);
    assert.ok('type' in r.body.error && 'param' in r.body.error && 'code' in r.body.error, what);
    if (param) {
      assert.equal(r.body.error.param, param, what);
      assert.ok(r.body.error.message.includes(param.replace(/\[0\].*/, '')), what);
    }
    if (code) assert.equal(r.body.error.code, code, what);
  }
  // Streams validate before they start: the error is a plain 4xx, not an event.
  const s = await call(srv, 'POST', '/v1/completions', { key: KEY, raw: '{"prompt": "x", "stream": true, "top_p": 7}' });
  assert.equal(s.status, 400);
  assert.equal(s.body.error.param, 'top_p');
  // Oversize bodies.
  const big = await call(srv, 'POST', '/v1/completions', { key: KEY, raw: JSON.stringify({ prompt: 'a'.repeat(70000) }) });
  assert.equal(big.status, 413);
  assert.match(big.body.error.message, /max-body-bytes/);
  // Rows paging parameters and unknown endpoints.
  for (const q of ['limit=0', 'limit=x', 'offset=-1', 'tier=tape']) {
    const r = await call(srv, 'GET', `/v1/cache/rows?${q}`, { key: KEY });
    assert.equal(r.status, 400, q);
    assert.ok(r.body.error.param, q);
  }
  const nf = await call(srv, 'GET', '/v1/nothing', { key: KEY });
  assert.equal(nf.status, 404);
  assert.ok(nf.body.error);
  // The SDK sees the same errors as typed exceptions.
  // Any model name is served (llama-server's way); responses carry the served name.
  const anyName = await client.completions.create({ model: 'gpt-4', prompt: 'x', max_tokens: 1 });
  assert.equal(anyName.model, model);
  await assert.rejects(client.completions.create({ model, prompt: 'x', max_tokens: 1000 }), (e) => e.status === 400);
  // Still healthy.
  assert.equal((await call(srv, 'GET', '/health')).status, 200);
});

test('security: every endpoint but /health needs the key, and a refused request changes nothing', async () => {
  await client.completions.create({ model, prompt: LONG, max_tokens: 2 });
  const rowsBefore = (await call(srv, 'GET', '/v1/cache/rows?limit=1000', { key: KEY })).body;
  assert.ok(rowsBefore.total > 0);
  const some = rowsBefore.rows[0].key;
  const endpoints = [
    ['GET', '/v1/models'], ['GET', '/v1/cache/stats'], ['GET', '/v1/cache/rows'], ['GET', '/metrics'],
    ['POST', '/v1/completions', { prompt: 'x', max_tokens: 1 }],
    ['POST', '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], max_tokens: 1 }],
    ['POST', '/v1/cache/gc', {}], ['POST', '/v1/cache/evict', { bytes: '1G' }],
    ['POST', '/v1/cache/pin', { key: some }], ['POST', '/v1/cache/unpin', { key: some }],
    ['GET', '/v1/no-such-endpoint'],
  ];
  for (const [method, p, body] of endpoints) {
    const what = `${method} ${p}`;
    for (const headers of [{}, { Authorization: 'Bearer nope' }, { Authorization: `Basic ${KEY}` },
      { Authorization: `Bearer ${KEY}x` }, { 'X-Api-Key': `${KEY}x` }, { 'X-Api-Key': 'nope' }]) {
      const r = await call(srv, method, p, { body, headers });
      assert.equal(r.status, 401, `${what} ${JSON.stringify(headers)} → ${r.status}`);
      assert.equal(r.body.error.type, 'authentication_error', what);
    }
    const q = await call(srv, method, `${p}?api_key=${KEY}`, { body });  // never from the query string
    assert.equal(q.status, 401, `${what}?api_key`);
  }
  // llama-server's other spellings of the key: 'X-Api-Key: KEY', and the key without "Bearer ".
  for (const headers of [{ 'X-Api-Key': KEY }, { Authorization: KEY }, { 'X-Api-Key': `Bearer ${KEY}` }]) {
    const r = await call(srv, 'GET', '/v1/models', { headers });
    assert.equal(r.status, 200, `${JSON.stringify(headers)} → ${r.text}`);
  }
  // The refused gc, evict and unpin did nothing.
  const rowsAfter = (await call(srv, 'GET', '/v1/cache/rows?limit=1000', { key: KEY })).body;
  assert.deepEqual(rowsAfter.rows.map((r) => r.key).sort(), rowsBefore.rows.map((r) => r.key).sort());
  assert.equal((await call(srv, 'GET', '/health')).status, 200);
});

test('security: no request value becomes a path; row files are hex-named and 0600', async () => {
  const sentinel = path.join(TMP, 'outside-sentinel');
  fs.writeFileSync(sentinel, 'untouched');
  const hex = 'ab'.repeat(32);
  const hostile = ['../../../../etc/passwd', '/etc/passwd', sentinel, `../${hex.slice(3)}`, `${hex.slice(2)}/.`,
    `${hex}/`, `${hex}.kvc`, `./${hex.slice(2)}`, '%2e%2e%2f%2e%2e%2f', `${hex.slice(1)}\u0000`, ` ${hex.slice(1)}`,
    `${hex.slice(0, 62)}..`, 'g'.repeat(64)];
  for (const k of hostile) {
    const what = JSON.stringify(k);
    const c = await call(srv, 'POST', '/v1/completions', { key: KEY, body: { prompt: 'x', max_tokens: 1, parent_key: k } });
    assert.equal(c.status, 400, `parent_key ${what}: ${c.text}`);
    assert.equal(c.body.error.param, 'parent_key', what);
    for (const p of ['/v1/cache/pin', '/v1/cache/unpin']) {
      const r = await call(srv, 'POST', p, { key: KEY, body: { key: k } });
      assert.equal(r.status, 400, `${p} ${what}: ${r.text}`);
      assert.equal(r.body.error.param, 'key', what);
    }
  }
  for (const m of ['../../etc/passwd', sentinel, path.basename(MODEL).replace('.gguf', '/../x')]) {
    const r = await call(srv, 'POST', '/v1/completions', { key: KEY, body: { prompt: 'x', model: m, max_tokens: 1 } });
    assert.equal(r.status, 200, m);  // any name is served; it names nothing on disk
  }
  for (const t of ['../disk', '/tmp', 'disk/..']) {
    const r = await call(srv, 'GET', `/v1/cache/rows?tier=${encodeURIComponent(t)}`, { key: KEY });
    assert.equal(r.status, 400, t);
  }
  assert.equal(fs.readFileSync(sentinel, 'utf8'), 'untouched');
  // Every file the server wrote is named by a key and readable by its owner only.
  await client.completions.create({ model, prompt: `${LONG} security`, max_tokens: 2 });
  await waitRows(1);
  const names = fs.readdirSync(dir('rows'));
  assert.ok(names.length > 0);
  for (const n of names) {
    assert.match(n, /^[0-9a-f]{64}\.kvc(\.\d+-\d+-[0-9A-Za-z]+\.tmp)?$/, n);
    if (!n.endsWith('.kvc')) continue;  // a temp file of an in-flight save (renamed by now, maybe)
    const st = fs.lstatSync(path.join(dir('rows'), n));
    assert.ok(st.isFile(), n);
    assert.equal(st.mode & 0o777, 0o600, `${n} mode ${(st.mode & 0o777).toString(8)}`);
  }
  assert.equal(fs.statSync(dir('rows')).mode & 0o777, 0o700);
});

test('security: request bodies are bounded, chunked ones too; token counts are bounded', async () => {
  // Content-Length over --max-body-bytes (65536).
  const big = await call(srv, 'POST', '/v1/completions', { key: KEY, raw: JSON.stringify({ prompt: 'a '.repeat(40000) }) });
  assert.equal(big.status, 413);
  // The same without a Content-Length: a chunked stream of 256 KiB.
  const chunk = new TextEncoder().encode('a'.repeat(16384));
  let sent = 0;
  const stream = new ReadableStream({
    pull(ctl) {
      if (sent === 0) ctl.enqueue(new TextEncoder().encode('{"prompt": "'));
      if (sent >= 16) { ctl.enqueue(new TextEncoder().encode('"}')); ctl.close(); return; }
      ctl.enqueue(chunk); sent += 1;
    },
  });
  let status;
  try {
    const r = await fetch(`${srv.base}/v1/completions`, {
      method: 'POST', body: stream, duplex: 'half',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}` },
    });
    status = r.status;
    await r.text();
  } catch (e) {
    status = `connection closed: ${e.message}`;  // acceptable only if the server cut the upload
  }
  assert.ok(status === 413 || String(status).startsWith('connection closed'), `chunked oversize → ${status}`);
  // Token counts: max_tokens over --max-tokens-limit, a prompt over the context, and a
  // token-id prompt with ids outside the vocabulary.
  const cases = [
    [{ prompt: 'x', max_tokens: 65 }, 'max_tokens'],
    [{ prompt: 'x', max_tokens: -2 }, 'max_tokens'],  // -1 is llama-server's "until the context is full"
    [{ prompt: 'x', max_tokens: 1e12 }, 'max_tokens'],
    [{ prompt: words(2000, 4) }, 'prompt'],
    [{ prompt: Array.from({ length: 5000 }, (_, i) => 1 + (i % 100)) }, 'prompt'],
    [{ prompt: [1, -5] }, 'prompt'],
    [{ prompt: [1, 2 ** 40] }, 'prompt'],
  ];
  for (const [body, param] of cases) {
    const r = await call(srv, 'POST', '/v1/completions', { key: KEY, body });
    assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 80)} → ${r.status} ${r.text.slice(0, 200)}`);
    assert.equal(r.body.error.param, param);
  }
  assert.equal((await call(srv, 'GET', '/health')).status, 200);
});

test('security: without --host the server listens on loopback only', async () => {
  const local = await startServer('loopback', ['--parallel', '1', '--ctx-size', '256', '--ram-quota', '16M',
    '--disk-dir', 'none'], { host: null });
  const { port } = local;
  try {
    assert.match(local.log, new RegExp(`listening on http://127\\.0\\.0\\.1:${port}`));
    // The kernel's view: every listening socket on the port is bound to 127.0.0.1.
    const portHex = port.toString(16).toUpperCase().padStart(4, '0');
    const listening = [];
    for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
      if (!fs.existsSync(f)) continue;
      for (const line of fs.readFileSync(f, 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length > 3 && cols[1].endsWith(`:${portHex}`) && cols[3] === '0A') listening.push(`${f} ${cols[1]}`);
      }
    }
    assert.deepEqual(listening, [`/proc/net/tcp 0100007F:${portHex}`]);
    // And a non-loopback address of this machine, if it has one, refuses the connection.
    const external = Object.values(os.networkInterfaces()).flat().find((a) => a.family === 'IPv4' && !a.internal);
    if (external) {
      await assert.rejects(fetch(`http://${external.address}:${port}/health`), `reachable on ${external.address}`);
    }
  } finally {
    await stopServer(local, 'SIGKILL');
  }
});

test('admin: stats, paged rows, pin, gc, evict', async () => {
  const st = await stats();
  assert.deepEqual(st.tiers.map((t) => t.name), ['ram', 'disk']);
  assert.equal(st.leases, 0);
  assert.ok(st.counters.saves_cold + st.counters.saves_finish > 0);
  assert.ok(st.counters.hits_exact + st.counters.hits_longest_prefix + st.counters.hits_any_prefix + st.counters.hits_resume > 0);
  const all = (await call(srv, 'GET', '/v1/cache/rows?limit=1000', { key: KEY })).body;
  assert.ok(all.total >= 3);
  assert.equal(all.rows.length, all.total);
  const page = (await call(srv, 'GET', '/v1/cache/rows?offset=1&limit=2', { key: KEY })).body;
  assert.equal(page.rows.length, 2);
  assert.equal(page.rows[0].key, all.rows[1].key);
  const beyond = (await call(srv, 'GET', `/v1/cache/rows?offset=${all.total}`, { key: KEY })).body;
  assert.equal(beyond.rows.length, 0);
  const disk = (await call(srv, 'GET', '/v1/cache/rows?tier=disk&limit=1000', { key: KEY })).body;
  assert.ok(disk.rows.every((r) => r.tier === 'disk' && r.tiers.includes('disk')));
  const ram = (await call(srv, 'GET', '/v1/cache/rows?tier=ram&limit=1000', { key: KEY })).body;
  assert.ok(ram.rows.every((r) => r.tier === 'ram' && r.tiers.includes('ram')));
  // The hierarchy: a row may have a copy in both tiers; every row has one somewhere.
  const union = new Set([...ram.rows, ...disk.rows].map((r) => r.key));
  assert.deepEqual([...union].sort(), all.rows.map((r) => r.key).sort());
  assert.ok(all.rows.every((r) => r.tiers.length >= 1 && r.tier === r.tiers[0]));

  const keep = all.rows[0].key;
  const pin = await call(srv, 'POST', '/v1/cache/pin', { key: KEY, body: { key: keep } });
  assert.equal(pin.status, 200, pin.text);
  const gc = await call(srv, 'POST', '/v1/cache/gc', { key: KEY, body: {} });
  assert.equal(gc.status, 200);
  assert.ok(gc.body.freed_bytes > 0);
  const left = (await call(srv, 'GET', '/v1/cache/rows', { key: KEY })).body;
  assert.deepEqual(left.rows.map((r) => r.key), [keep]);
  assert.equal(left.rows[0].pinned, true);
  const ev = await call(srv, 'POST', '/v1/cache/evict', { key: KEY, body: { bytes: 1 << 30, tiers: ['disk', 'ram'] } });
  assert.equal(ev.status, 200);
  assert.equal(ev.body.freed_bytes, 0, 'a pinned row is not evicted');
  assert.equal((await call(srv, 'POST', '/v1/cache/unpin', { key: KEY, body: { key: keep } })).status, 200);
  const ev2 = await call(srv, 'POST', '/v1/cache/evict', { key: KEY, body: { bytes: '1G' } });
  assert.equal(ev2.status, 200);
  assert.ok(ev2.body.freed_bytes > 0);
  assert.equal((await call(srv, 'GET', '/v1/cache/rows', { key: KEY })).body.total, 0);
});

test('/metrics: Prometheus text that promtool accepts', async (t) => {
  await client.completions.create({ model, prompt: LONG, max_tokens: 2 });
  const m = await call(srv, 'GET', '/metrics', { key: KEY });
  assert.equal(m.status, 200);
  for (const name of ['kvc_hits_exact_total', 'kvc_misses_total', 'kvc_saves_cold_total', 'kvc_tier_used_bytes',
    'kvc_tier_quota_bytes', 'kvc_tier_rows', 'kvc_server_requests_total{endpoint="/v1/completions",code="200"}',
    'kvc_server_time_to_first_token_seconds_bucket', 'kvc_server_restore_seconds_count',
    'kvc_server_requests_waiting']) {
    assert.ok(m.text.includes(name), name);
  }
  const which = spawnSync('sh', ['-c', 'command -v promtool']);
  if (which.status !== 0) {
    t.skip('promtool not installed (Debian package prometheus; scripts/deps installs it)');
    return;
  }
  // kvc's own families: no errors and no lint.
  const own = m.text.split('\n').filter((l) => !l.includes('llamacpp:')).join('\n');
  const r = spawnSync('promtool', ['check', 'metrics'], { input: own, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  // llama-server's (llamacpp:*, its names kept for its dashboards): valid; the
  // only lint is about those names (':' and a counter without _total).
  assert.ok(m.text.includes('llamacpp:prompt_tokens_total'));
  const all = spawnSync('promtool', ['check', 'metrics'], { input: m.text, encoding: 'utf8' });
  const lines = `${all.stdout}${all.stderr}`.split('\n').filter((l) => l.trim() !== '');
  for (const l of lines) assert.ok(l.startsWith('llamacpp:'), l);
});

test('load: 8 clients x 50 requests sharing prefixes, some disconnecting mid-stream', async () => {
  const prefixes = [words(90, 11), words(90, 12), words(90, 13)];
  const statuses = {};
  let aborted = 0;
  const clientLoop = async (c) => {
    for (let i = 0; i < 50; i++) {
      const prompt = `${prefixes[(c + i) % prefixes.length]} ${words(4 + (i % 5), 100 * c + i)}`;
      const stream = i % 4 === 0;
      const disconnect = stream && i % 8 === 0;
      const ac = new AbortController();
      try {
        const r = await fetch(`${srv.base}/v1/completions`, {
          method: 'POST', signal: ac.signal,
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}` },
          body: JSON.stringify({ prompt, max_tokens: disconnect ? 64 : 3, stream }),
        });
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        if (disconnect && r.status === 200) {
          const reader = r.body.getReader();
          await reader.read();  // the first event, then hang up
          ac.abort();
          aborted++;
        } else {
          const text = await r.text();
          if (r.status === 200 && stream) assert.ok(text.endsWith('data: [DONE]\n\n'));
        }
      } catch (e) {
        if (e.name !== 'AbortError') throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, c) => clientLoop(c)));
  for (const s of Object.keys(statuses)) assert.ok(s === '200' || s === '503', JSON.stringify(statuses));
  assert.ok(statuses['200'] > 0);
  assert.ok(aborted > 0);
  // Cancelled streams free their sequence and lease: the server goes idle.
  let st;
  for (let i = 0; i < 400; i++) {
    st = await stats();
    if (st.leases === 0 && st.requests.running === 0 && st.requests.waiting === 0) break;
    await sleep(50);
  }
  assert.equal(st.leases, 0, JSON.stringify(st));
  assert.equal(st.requests.running, 0);
  assert.ok(st.counters.hits_longest_prefix + st.counters.hits_any_prefix + st.counters.hits_exact > 0);
  const m = await call(srv, 'GET', '/metrics', { key: KEY });
  assert.ok(!/kvc_server_requests_total\{[^}]*code="5(?!03)\d\d"\}/.test(m.text), 'no 5xx other than 503');
});

test('queue: one sequence, one waiter, then 503; a disconnect frees the sequence', async () => {
  const q = await startServer('queue', ['--parallel', '1', '--queue-size', '1', '--ctx-size', '4096',
    '--max-tokens-limit', '4000', '--disk-dir', 'none', ...POLICY]);
  try {
    const ac = new AbortController();
    const long = await fetch(`${q.base}/v1/completions`, {
      method: 'POST', signal: ac.signal, headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt: [1, 500, 600], max_tokens: 4000, stream: true }),
    });
    assert.equal(long.status, 200);
    const reader = long.body.getReader();
    await reader.read();  // generating: holds the only sequence
    const waiter = call(q, 'POST', '/v1/completions', { body: { prompt: 'short one', max_tokens: 2 } });
    for (let i = 0; i < 400 && (await stats(q)).requests.waiting !== 1; i++) await sleep(25);
    assert.equal((await stats(q)).requests.waiting, 1);
    const refused = await call(q, 'POST', '/v1/completions', { body: { prompt: 'x', max_tokens: 2 } });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'queue_full');
    ac.abort();  // the client goes away: the long request is cancelled
    const w = await waiter;
    assert.equal(w.status, 200, w.text);
    const st = await stats(q);
    assert.equal(st.leases, 0);
  } finally {
    await stopServer(q, 'SIGKILL');
  }
});

test('SIGTERM: in-flight streams end, shutdown saves run, exit 0; rows are found after a restart', async () => {
  const ac = new AbortController();
  const inflight = fetch(`${srv.base}/v1/completions`, {
    method: 'POST', signal: ac.signal, headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ prompt: LONG, max_tokens: 64, stream: true }),
  }).then((r) => r.text()).catch((e) => `client error: ${e.message}`);
  await sleep(20);
  const done = await stopServer(srv, 'SIGTERM');
  assert.equal(done.code, 0, srv.log);
  const text = await inflight;
  assert.equal(typeof text, 'string');
  assert.match(srv.log, /tier disk: dir .*rows \d+, bytes \d+, quota 1073741824/);
  assert.match(srv.log, /listening on http:\/\/127\.0\.0\.1:\d+/);

  srv = await startServer('main-restarted', MAIN_ARGS);
  client = new OpenAI({ apiKey: KEY, baseURL: `${srv.base}/v1`, maxRetries: 0 });
  assert.match(srv.log, /tier disk: dir .*rows [1-9]\d*, bytes [1-9]\d*/, srv.log);
  const again = await client.completions.create({ model, prompt: LONG, max_tokens: 2 });
  assert.ok(again.usage.prompt_tokens_details.cached_tokens > 0, JSON.stringify(again.kvc));
  assert.equal(again.kvc.tier, 'disk');
  const done2 = await stopServer(srv, 'SIGINT');
  assert.equal(done2.code, 0, srv.log);
});
