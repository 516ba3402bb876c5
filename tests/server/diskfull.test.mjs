// kvc-server on a full disk (issue 5): the disk tier lives on a 3 MiB tmpfs that
// the server's own private mount namespace mounts (`unshare --mount`), with a quota
// far above it, so the filesystem runs out long before the quota. Every request
// still completes with the same output as on a server with no cache; failed saves
// are dropped and counted; the directory holds only valid files and no temp file;
// once space is freed through the admin API, saves succeed again.
// Run by tests/server/run.sh (ctest `server_disk_full`); skipped where mount
// namespaces are not permitted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, stopServer, call, dir, words, sleep } from './harness.mjs';

const CLI = process.env.KVC_CLI;
const FS_BYTES = 3 << 20;
const LIMITS = ['--ctx-size', '2048', '--max-tokens-limit', '16', '--default-max-tokens', '6'];
const POLICY = ['--min-tokens', '64', '--align', '64', '--trim', '0'];
const PROMPTS = Array.from({ length: 24 }, (_, i) => words(150, 900 + i));

function namespacesAllowed() {
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
    'd=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs "$d" && umount "$d" && rmdir "$d"'], { encoding: 'utf8' });
  return r.status === 0 ? null : `unshare --mount / mount -t tmpfs not permitted: ${(r.stderr || r.error || '').toString().trim()}`;
}

// kvc-server in its own mount namespace with a tmpfs of FS_BYTES over `mnt`. The
// files are visible from here through /proc/<pid>/root (the server execs in place
// of the shell, so the pid is the server's).
async function startOnTmpfs(mnt, args) {
  fs.mkdirSync(mnt, { recursive: true });
  const srv = await startServer('disk-full', args, { wrap: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
    'mount -t tmpfs -o size="$1",mode=0700 tmpfs "$2" && shift 2 && exec "$@"', 'sh', String(FS_BYTES), mnt] });
  srv.view = `/proc/${srv.child.pid}/root${mnt}`;
  return srv;
}

async function complete(srv, prompt) {
  const r = await call(srv, 'POST', '/v1/completions', { body: { prompt, max_tokens: 6, temperature: 0 } });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

async function quiesce(srv) {
  for (let i = 0; i < 200; i++) {
    const rows = (await call(srv, 'GET', '/v1/cache/rows?limit=1000')).body.rows;
    if (rows.every((r) => r.status === 'available')) return rows;
    await sleep(50);
  }
  assert.fail('saves still in flight');
}

function verify(view) {
  const r = spawnSync(CLI, ['verify', view, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `kvc verify ${view}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('a full disk drops saves, never requests; freeing space lets saves resume', async (t) => {
  const why = namespacesAllowed();
  if (why) {
    t.skip(why);
    return;
  }
  assert.ok(CLI, 'KVC_CLI is not set (run.sh passes it)');
  // The truth: the same prompts on a server with no file tier. Same save policy, so
  // its cold prefills are split at the same aligned length (K/V, hence near-tie
  // outcomes, depend on the chunking); the prompts share no 64-token prefix, so it
  // never hits its own RAM rows.
  const ref = await startServer('reference', [...LIMITS, ...POLICY, '--parallel', '1', '--disk-dir', 'none',
    '--ram-quota', '256M']);
  const want = [];
  try {
    for (const p of PROMPTS) want.push((await complete(ref, p)).kvc.completion_token_ids);
  } finally {
    await stopServer(ref, 'SIGKILL');
  }

  const mnt = dir('disk-full-mnt');
  const srv = await startOnTmpfs(mnt, [...LIMITS, '--parallel', '1', '--ram-quota', '0', '--disk-dir', mnt,
    '--disk-quota', '1G', ...POLICY]);
  try {
    for (let i = 0; i < PROMPTS.length; i++) {
      const body = await complete(srv, PROMPTS[i]);
      assert.deepEqual(body.kvc.completion_token_ids, want[i], `prompt ${i}`);
    }
    let rows = await quiesce(srv);
    const stats = (await call(srv, 'GET', '/v1/cache/stats')).body;
    assert.ok(stats.counters.saves_dropped > 0, `the 3 MiB filesystem never filled: ${JSON.stringify(stats.counters)}`);
    assert.ok(rows.length > 0, 'nothing was saved at all');
    assert.match(srv.log, /save failed \(row [0-9a-f]+…, the request itself is unaffected\): no_space: .*No space left on device/,
      `the failure is logged with its cause:\n${srv.log}`);
    // Only whole, valid files; no temp file; the index and the directory agree.
    let names = fs.readdirSync(srv.view);
    assert.deepEqual(names.filter((n) => n.endsWith('.tmp')), []);
    let v = verify(srv.view);
    assert.equal(v.bad, 0);
    assert.equal(v.valid, rows.length);
    const savedBefore = rows.length;
    console.log(`SUMMARY disk-full: ${PROMPTS.length} requests all 200 and equal to the reference; ` +
      `${savedBefore} rows fit in ${FS_BYTES} bytes; saves_dropped=${stats.counters.saves_dropped}`);

    // The rows that fit still hit and give the same output.
    const first = rows.map((r) => r.key);
    const again = await complete(srv, PROMPTS[0]);
    assert.deepEqual(again.kvc.completion_token_ids, want[0]);

    // Free space through the admin API: saves resume.
    const gc = await call(srv, 'POST', '/v1/cache/gc', { body: {} });
    assert.equal(gc.status, 200);
    assert.ok(gc.body.freed_bytes > 0);
    assert.deepEqual(fs.readdirSync(srv.view).filter((n) => n.endsWith('.kvc')), []);
    const fresh = words(150, 1999);
    await complete(srv, fresh);
    rows = await quiesce(srv);
    assert.ok(rows.length > 0, 'no save after space was freed');
    // (The parked sequence of the last request is saved again when it is given
    // away, so an old key may come back; the fresh prompt's rows are new.)
    assert.ok(rows.some((r) => !first.includes(r.key)), 'the fresh prompt was not saved');
    names = fs.readdirSync(srv.view);
    assert.deepEqual(names.filter((n) => n.endsWith('.tmp')), []);
    v = verify(srv.view);
    assert.equal(v.bad, 0);
    assert.equal(v.valid, rows.length);
    assert.equal((await call(srv, 'GET', '/health')).status, 200);
  } finally {
    const done = await stopServer(srv, 'SIGTERM');
    assert.equal(done.code, 0, srv.log);
  }
  assert.ok(!fs.readdirSync(mnt).length, 'the tmpfs was visible outside the server namespace');
  fs.rmSync(path.join(mnt), { recursive: true, force: true });
});
