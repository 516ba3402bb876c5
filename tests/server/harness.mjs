// Starting and stopping kvc-server for the end-to-end tests, and small HTTP helpers.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

export const SERVER = process.env.KVC_SERVER;
export const MODEL = process.env.KVC_MODEL;
export const TMP = process.env.KVC_TMP;

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts kvc-server with the tiny model and `args`; resolves once /health answers
// on 127.0.0.1. Options: `host` (null: no --host flag, the server's default);
// `wrap`, a command the server is run under (it must exec the server in place, so
// srv.child.pid is the server's).
export async function startServer(name, args = [], { host = '127.0.0.1', wrap = [] } = {}) {
  const port = await freePort();
  // --temp 0: the tests compare outputs (warm vs cold, restart vs reference); a
  // request that names no temperature gets llama-server's 0.8 and a random seed.
  const argv = [SERVER, '--model', MODEL, ...(host === null ? [] : ['--host', host]), '--port', String(port),
    '--threads', '1', '--temp', '0', ...args];
  const [cmd, ...rest] = [...wrap, ...argv];
  const child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  const srv = { name, port, child, log: '', base: `http://127.0.0.1:${port}`, exited: null };
  child.stdout.on('data', (d) => { srv.log += d; });
  child.stderr.on('data', (d) => { srv.log += d; });
  srv.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited early:\n${srv.log}`);
    try {
      const r = await fetch(`${srv.base}/health`);
      if (r.status === 200) return srv;
    } catch { /* not up yet */ }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`${name} did not answer /health:\n${srv.log}`);
}

// Sends `signal` and waits for the exit; returns {code, signal}.
export async function stopServer(srv, signal = 'SIGTERM') {
  if (srv.child.exitCode !== null) return srv.exited;
  srv.child.kill(signal);
  return srv.exited;
}

export function dir(name) { return path.join(TMP, name); }

// fetch + JSON; returns {status, body, text, headers}.
export async function call(srv, method, p, { body, key, headers = {}, raw } = {}) {
  const h = { ...headers };
  if (key) h.Authorization = `Bearer ${key}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined && !h['Content-Type']) h['Content-Type'] = 'application/json';
  const r = await fetch(`${srv.base}${p}`, { method, headers: h, body: payload });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, body: json, text, headers: r.headers };
}

// A prompt of roughly `words` words, deterministic per seed.
export function words(n, seed = 1) {
  const vocab = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet',
    'kilo', 'lima', 'mike', 'november', 'oscar', 'papa', 'quebec', 'romeo', 'sierra', 'tango'];
  let x = seed * 7919 + 17;
  const out = [];
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.push(vocab[x % vocab.length]);
  }
  return out.join(' ');
}
