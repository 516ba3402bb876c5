// Real Redis servers for the end-to-end tests: redis-server (Debian) on a free
// loopback port in a temporary directory, and a Redis Cluster of N masters made
// with `redis-cli --cluster create`. Every server is stopped by stopAll() (the
// tests call it in an after() hook), also when a test fails.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, sleep, TMP } from './harness.mjs';

const started = new Set();

function cli(port, args, { timeout = 10000 } = {}) {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout });
  return { status: r.status, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() };
}

// Starts redis-server; resolves once it answers PING. `extra`: more config
// arguments (e.g. ['--maxmemory', '2mb', '--maxmemory-policy', 'allkeys-lru']).
export async function startRedis(name, { cluster = false, extra = [] } = {}) {
  const which = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (which.status !== 0) throw new Error('redis-server is not installed: run scripts/deps');
  const port = await freePort();
  const dir = path.join(TMP, `redis-${name}-${port}`);
  fs.mkdirSync(dir, { recursive: true });
  const r = { name, port, dir, cluster, extra, child: null, url: `redis://127.0.0.1:${port}` };
  r.start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
      '--protected-mode', 'no', '--logfile', path.join(dir, 'redis.log'),
      ...(cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'),
        '--cluster-node-timeout', '2000'] : []), ...extra];
    r.child = spawn('redis-server', args, { stdio: 'ignore' });
    r.exited = new Promise((resolve) => r.child.on('exit', resolve));
    started.add(r);
    for (let i = 0; i < 200; i++) {
      if (cli(port, ['PING']).out === 'PONG') return;
      await sleep(50);
    }
    throw new Error(`redis ${name} on port ${port} did not start (log: ${path.join(dir, 'redis.log')})`);
  };
  r.cli = (...args) => cli(port, args);
  // SIGKILL: a crash; everything held in memory is lost.
  r.kill = async () => {
    if (r.child && r.child.exitCode === null && r.child.signalCode === null) {
      r.child.kill('SIGKILL');
      await r.exited;
    }
  };
  r.stop = async () => {
    if (r.child && r.child.exitCode === null && r.child.signalCode === null) {
      r.child.kill('SIGTERM');
      const t = setTimeout(() => r.child.kill('SIGKILL'), 5000);
      await r.exited;
      clearTimeout(t);
    }
    started.delete(r);
  };
  await r.start();
  return r;
}

// A cluster of `masters` nodes, no replicas, every slot assigned; resolves when
// every node reports cluster_state:ok. `seeds` is "127.0.0.1:p1,127.0.0.1:p2,…".
export async function startCluster(name, masters = 3) {
  const nodes = [];
  for (let i = 0; i < masters; i++) nodes.push(await startRedis(`${name}-${i}`, { cluster: true }));
  const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
  const r = spawnSync('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes'],
    { encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) throw new Error(`redis-cli --cluster create failed: ${r.stdout}\n${r.stderr}`);
  for (let i = 0; i < 200; i++) {
    if (nodes.every((n) => n.cli('CLUSTER', 'INFO').out.includes('cluster_state:ok'))) break;
    await sleep(100);
  }
  const cluster = { nodes, seeds: addrs.join(','), addrs };
  // Moves `slots` slots from node `from` to node `to` (redis-cli --cluster
  // reshard), asynchronously: requests keep running while keys migrate.
  cluster.reshard = (from, to, slots) => new Promise((resolve, reject) => {
    const id = (n) => n.cli('CLUSTER', 'MYID').out;
    const child = spawn('redis-cli', ['--cluster', 'reshard', addrs[0], '--cluster-from', id(nodes[from]),
      '--cluster-to', id(nodes[to]), '--cluster-slots', String(slots), '--cluster-yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`reshard failed (${code}): ${out}`))));
  });
  return cluster;
}

export async function stopAll() {
  for (const r of [...started]) await r.stop();
}
