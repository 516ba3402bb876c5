// Two kvc-server processes with their own local tiers share one Redis (and, in a
// separate test, a Redis Cluster): issue 9. A prompt served cold by one is served
// warm by the other from the remote tier ("kvc.tier": "remote") with the same
// greedy output, and the next request there is served from RAM (promoted). Faults:
// Redis killed mid-run (every request still succeeds, errors are counted) and
// restarted (sharing resumes); a value corrupted in Redis is rejected, deleted and
// counted; Redis at maxmemory with allkeys-lru evicts rows that then miss with
// nothing wrong restored; a resharding under load is followed (MOVED/ASK).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, stopServer, call, dir, words, sleep } from './harness.mjs';
import { startRedis, startCluster, stopAll } from './redis.mjs';

const POLICY = ['--min-tokens', '16', '--align', '16', '--trim', '0', '--continued-interval', '64',
  '--parallel', '2', '--ctx-size', '2048', '--ram-quota', '64M', '--disk-quota', '1G'];
const servers = [];

after(async () => {
  for (const s of servers) await stopServer(s).catch(() => {});
  await stopAll();
});

async function server(name, remoteArgs) {
  const s = await startServer(name, [...POLICY, '--disk-dir', dir(`${name}-rows`), ...remoteArgs]);
  servers.push(s);
  return s;
}

async function complete(srv, prompt, max = 8) {
  const r = await call(srv, 'POST', '/v1/completions', { body: { prompt, max_tokens: max, temperature: 0 } });
  assert.equal(r.status, 200, r.text);
  return { text: r.body.choices[0].text, ids: r.body.kvc.completion_token_ids, kvc: r.body.kvc,
    cached: r.body.usage.prompt_tokens_details.cached_tokens };
}

async function stats(srv) {
  const r = await call(srv, 'GET', '/v1/cache/stats');
  assert.equal(r.status, 200, r.text);
  return r.body;
}

const remoteOf = (st) => st.tiers.find((t) => t.name === 'remote');

// Waits until `cond(stats)` holds on `srv` (saves and discovery are asynchronous).
async function until(srv, cond, what, ms = 20000) {
  const end = Date.now() + ms;
  let st;
  while (Date.now() < end) {
    st = await stats(srv);
    if (cond(st)) return st;
    await sleep(100);
  }
  assert.fail(`${srv.name}: ${what} (stats: ${JSON.stringify(remoteOf(st))})`);
}

// Waits until `srv` knows the row `key` has a remote copy (learnt from the
// publication stream).
async function untilRemoteRow(srv, key, ms = 20000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    for (let off = 0; ; off += 1000) {
      const r = await call(srv, 'GET', `/v1/cache/rows?offset=${off}&limit=1000`);
      assert.equal(r.status, 200, r.text);
      if (r.body.rows.some((row) => row.key === key && row.tiers.includes('remote'))) return;
      if (r.body.rows.length === 0 || off + r.body.rows.length >= r.body.total) break;
    }
    await sleep(100);
  }
  assert.fail(`${srv.name} never learnt the remote row ${key}`);
}

// The keys of remote rows in Redis (`kvc:{K}:row`), through redis-cli.
function rowKeys(redis) {
  return redis.cli('--scan', '--pattern', 'kvc:*:row').out.split('\n').filter(Boolean);
}

test('two servers share warm prompts through one Redis; faults degrade to misses', async () => {
  const redis = await startRedis('single');
  const a = await server('a', ['--redis', redis.url]);
  const b = await server('b', ['--redis', redis.url]);

  // Served cold by a, warm by b from the remote tier, with the same greedy output.
  const p = words(300, 91);
  const cold = await complete(a, p);
  assert.equal(cold.kvc.path, 'miss');
  await untilRemoteRow(b, cold.kvc.finish_key);
  const warm = await complete(b, p);
  assert.equal(warm.kvc.tier, 'remote', JSON.stringify(warm.kvc));
  assert.ok(warm.cached > 0);
  assert.deepEqual(warm.ids, cold.ids, 'the remote restore changed the greedy output');
  // The next request on b is served from RAM: the remote hit was promoted.
  const again = await complete(b, p);
  assert.equal(again.kvc.tier, 'ram', JSON.stringify(again.kvc));
  assert.deepEqual(again.ids, cold.ids);
  const bst = await stats(b);
  assert.ok(remoteOf(bst).counters.hits >= 1);
  assert.ok(bst.tiers.find((t) => t.name === 'ram').counters.promotions >= 1);

  // Any-token prefix across servers: a prompt that shares p's first 300 words.
  const q = `${p} ${words(40, 92)}`;
  const prefix = await complete(b, q);
  assert.notEqual(prefix.kvc.path, 'miss', JSON.stringify(prefix.kvc));
  assert.ok(prefix.cached >= 100, JSON.stringify(prefix.kvc));

  // A value corrupted in Redis is rejected, deleted and counted; the request goes
  // on cold and gives the cold output.
  const r = words(280, 93);
  const rCold = await complete(a, r);
  await untilRemoteRow(b, rCold.kvc.finish_key);
  const before = rowKeys(redis);
  // The payload is the file's tail (format.md: header, TLVs, then the payload);
  // the optional TLVs before it are not covered by the CRC, by design.
  for (const k of before) {
    const len = Number(redis.cli('STRLEN', k).out.trim());
    assert.ok(len > 4096, `${k}: ${len} bytes`);
    redis.cli('SETRANGE', k, String(len - 2048), 'CORRUPTED-BYTES');
  }
  const rWarm = await complete(b, r);
  assert.deepEqual(rWarm.ids, rCold.ids, 'a corrupt remote value changed the output');
  const afterCorrupt = await stats(b);
  assert.ok(afterCorrupt.counters.corrupt_files >= 1 || rWarm.kvc.tier !== 'remote', JSON.stringify(rWarm.kvc));
  assert.notEqual(rWarm.kvc.tier, 'remote', 'a corrupt value was restored');

  // Redis killed mid-run: every request still succeeds, the errors are counted.
  await redis.kill();
  for (let i = 0; i < 6; i++) {
    const x = words(120, 200 + i);
    const ra = await complete(a, x);
    const rb = await complete(b, x);
    assert.deepEqual(rb.ids, ra.ids);
  }
  await until(a, (st) => remoteOf(st).counters.errors + remoteOf(st).counters.timeouts > 0,
    'a counted no remote error with Redis down');
  // Restarted (empty): the servers reconnect in the background and sharing resumes.
  await redis.start();
  const s = words(260, 94);
  const deadline = Date.now() + 20000;
  let shared = null;
  for (let n = 0; Date.now() < deadline && !shared; n++) {
    const fresh = `${s} ${n}`;
    const c = await complete(a, fresh);
    await sleep(300);
    const w = await complete(b, fresh);
    if (w.kvc.tier === 'remote') {
      assert.deepEqual(w.ids, c.ids);
      shared = w;
    }
  }
  assert.ok(shared, 'sharing did not resume after Redis came back');
});

test('Redis at maxmemory with allkeys-lru: evicted rows miss, nothing wrong is restored', async () => {
  const redis = await startRedis('lru', { extra: ['--maxmemory', '3mb', '--maxmemory-policy', 'allkeys-lru'] });
  const a = await server('lru-a', ['--redis', redis.url]);
  const b = await server('lru-b', ['--redis', redis.url]);
  const prompts = [];
  for (let i = 0; i < 12; i++) prompts.push(words(200, 300 + i));
  const outA = [];
  for (const p of prompts) outA.push(await complete(a, p));
  await sleep(1000);
  let remote = 0;
  for (let i = 0; i < prompts.length; i++) {
    const w = await complete(b, prompts[i]);
    assert.deepEqual(w.ids, outA[i].ids, `prompt ${i}: ${JSON.stringify(w.kvc)}`);
    if (w.kvc.tier === 'remote') remote++;
  }
  const info = redis.cli('INFO', 'stats').out;
  const evicted = Number(/evicted_keys:(\d+)/.exec(info)?.[1] ?? 0);
  assert.ok(evicted > 0, 'Redis evicted nothing: the test did not reach maxmemory');
  assert.ok(remote < prompts.length, 'every row was still there');
  console.log(`maxmemory: ${evicted} keys evicted by Redis, ${remote}/${prompts.length} prompts warm from remote`);
});

test('two servers share through a Redis Cluster; a resharding under load is followed', async () => {
  const cluster = await startCluster('cluster', 3);
  const a = await server('ca', ['--redis-cluster', cluster.seeds]);
  const b = await server('cb', ['--redis-cluster', cluster.seeds]);
  const p = words(300, 95);
  const cold = await complete(a, p);
  await untilRemoteRow(b, cold.kvc.finish_key);
  const warm = await complete(b, p);
  assert.equal(warm.kvc.tier, 'remote', JSON.stringify(warm.kvc));
  assert.deepEqual(warm.ids, cold.ids);

  // Load on both servers while 2000 slots move from node 0 to node 1.
  let stop = false;
  const failures = [];
  const load = async (srv, seed) => {
    for (let i = 0; !stop; i++) {
      const r = await call(srv, 'POST', '/v1/completions',
        { body: { prompt: words(150, seed * 1000 + (i % 7)), max_tokens: 4, temperature: 0 } });
      if (r.status !== 200) failures.push(`${srv.name}: ${r.status} ${r.text}`);
    }
  };
  const loads = [load(a, 1), load(b, 2)];
  await cluster.reshard(0, 1, 2000);
  await sleep(500);
  stop = true;
  await Promise.all(loads);
  assert.deepEqual(failures, []);
  // Rows published before and after the move are still shared.
  const t = words(260, 96);
  const tCold = await complete(a, t);
  await untilRemoteRow(b, tCold.kvc.finish_key);
  const tWarm = await complete(b, t);
  assert.equal(tWarm.kvc.tier, 'remote', JSON.stringify(tWarm.kvc));
  assert.deepEqual(tWarm.ids, tCold.ids);
  const st = await stats(a);
  console.log(`cluster: remote counters of a after the resharding ${JSON.stringify(remoteOf(st).counters)}`);
});
