// kvc-server as a drop-in for llama-server (issue 11), with the official OpenAI
// Node SDK: tool calls round-trip (tools → tool_calls → a tool message → an
// answer), response_format json_schema output that parses and validates,
// logprobs consistent with the sampled tokens, and the streams of all three; and
// llama-server's own endpoints (/completion, /tokenize, /slots, CORS, X-Api-Key).
// Run by tests/server/run.sh (ctest server_llama_compat).
//
// The model has random weights, so only a constraint makes output well-formed.
// Tool calls use Llama 3.2's template (KVC_LLAMA_TEMPLATES_DIR), whose call is a
// bare JSON object: the grammar lets free text come first, until a '{'; a
// logit_bias on the '{' token makes greedy decoding open the call at once, and
// the tool's enum-only schema leaves the grammar one way to finish it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { startServer, stopServer, call, dir, words, sleep } from './harness.mjs';

const KEY = 'compat-key';
const TEMPLATES = process.env.KVC_LLAMA_TEMPLATES_DIR || '';
const LLAMA32 = path.join(TEMPLATES, 'meta-llama-Llama-3.2-3B-Instruct.jinja');

let srv;
let client;

before(async () => {
  if (!fs.existsSync(LLAMA32)) throw new Error(`no llama.cpp template ${LLAMA32} (scripts/llama-build; KVC_LLAMA_TEMPLATES_DIR)`);
  fs.mkdirSync(dir('slots'), { recursive: true });
  srv = await startServer('compat', ['--api-key', KEY, '--parallel', '2', '--ctx-size', '2048',
    '--chat-template-file', LLAMA32, '--slot-save-path', dir('slots'), '--disk-dir', dir('compat-rows'),
    '--max-tokens-limit', '256']);
  client = new OpenAI({ apiKey: KEY, baseURL: `${srv.base}/v1`, maxRetries: 0 });
});

after(async () => {
  if (srv) await stopServer(srv, 'SIGKILL');
});

const TOOLS = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather of a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', enum: ['Paris', 'Rome'] } },
      required: ['city'],
      additionalProperties: false,
    },
  },
}];

async function tokenId(text) {
  const r = await call(srv, 'POST', '/tokenize', { key: KEY, body: { content: text } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.tokens.length, 1, `'${text}' is one token: ${r.text}`);
  return r.body.tokens[0];
}

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

test('tool calls round-trip: tools → tool_calls → tool message → answer, whole and streamed', async () => {
  const brace = await tokenId('{');
  const ask = [{ role: 'user', content: 'What is the weather in Paris?' }];
  const req = { model: 'any-name', messages: ask, tools: TOOLS, tool_choice: 'required', temperature: 0,
    max_tokens: 256, logit_bias: { [brace]: 30 } };
  const first = await client.chat.completions.create(req);
  const choice = first.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls', JSON.stringify(first));
  assert.equal(choice.message.tool_calls.length, 1);
  const tc = choice.message.tool_calls[0];
  assert.equal(tc.type, 'function');
  assert.equal(tc.function.name, 'get_weather');
  assert.ok(['Paris', 'Rome'].includes(JSON.parse(tc.function.arguments).city), tc.function.arguments);
  assert.ok(tc.id.length > 0);

  // The same request streamed: the deltas rebuild the same call.
  const chunks = await collect(await client.chat.completions.create({ ...req, stream: true }));
  let name = '', args = '', id = '', finish = null;
  for (const c of chunks) {
    const ch = c.choices[0];
    if (!ch) continue;
    for (const d of ch.delta?.tool_calls ?? []) {
      assert.equal(d.index, 0);
      if (d.id) id = d.id;
      if (d.function?.name) name += d.function.name;
      if (d.function?.arguments) args += d.function.arguments;
    }
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(name, 'get_weather');
  assert.deepEqual(JSON.parse(args), JSON.parse(tc.function.arguments));
  assert.ok(id.length > 0);

  // The tool's answer goes back; the model answers (free text now: no tool_choice).
  const turn2 = [...ask, { role: 'assistant', content: null, tool_calls: [tc] },
    { role: 'tool', tool_call_id: tc.id, content: 'sunny, 21 C' }];
  const rendered = await call(srv, 'POST', '/apply-template', { key: KEY, body: { messages: turn2, tools: TOOLS } });
  assert.equal(rendered.status, 200, rendered.text);
  assert.ok(rendered.body.prompt.includes('sunny, 21 C'), rendered.body.prompt);
  assert.ok(rendered.body.prompt.includes('get_weather'));
  const answer = await client.chat.completions.create({ model: 'x', messages: turn2, tools: TOOLS, tool_choice: 'none',
    temperature: 0, max_tokens: 8 });
  assert.equal(answer.choices[0].message.role, 'assistant');
  assert.equal(typeof answer.choices[0].message.content, 'string');
  assert.ok(!answer.choices[0].message.tool_calls?.length, 'tool_choice none: no call');
  assert.ok(['stop', 'length'].includes(answer.choices[0].finish_reason));
  assert.ok(answer.usage.prompt_tokens > first.usage.prompt_tokens);
});

const SCHEMA = {
  type: 'object',
  properties: {
    ok: { type: 'boolean' },
    digit: { type: 'integer', minimum: 0, maximum: 9 },
    color: { type: 'string', enum: ['red', 'green', 'blue'] },
  },
  required: ['ok', 'digit', 'color'],
  additionalProperties: false,
};

function validates(v) {
  assert.equal(typeof v, 'object');
  assert.deepEqual(Object.keys(v).sort(), ['color', 'digit', 'ok']);
  assert.equal(typeof v.ok, 'boolean');
  assert.ok(Number.isInteger(v.digit) && v.digit >= 0 && v.digit <= 9, String(v.digit));
  assert.ok(['red', 'green', 'blue'].includes(v.color), v.color);
}

test('response_format json_schema: the output parses and validates, whole and streamed, at any seed', async () => {
  const base = { model: 'm', messages: [{ role: 'user', content: 'Describe the sky as JSON.' }], max_tokens: 96,
    response_format: { type: 'json_schema', json_schema: { name: 'sky', schema: SCHEMA, strict: true } } };
  for (const seed of [1, 2, 3]) {
    const r = await client.chat.completions.create({ ...base, temperature: 1, seed });
    assert.equal(r.choices[0].finish_reason, 'stop', JSON.stringify(r));
    validates(JSON.parse(r.choices[0].message.content));
  }
  const chunks = await collect(await client.chat.completions.create({ ...base, temperature: 0, stream: true }));
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  validates(JSON.parse(text));
  const whole = await client.chat.completions.create({ ...base, temperature: 0 });
  assert.equal(text, whole.choices[0].message.content, 'greedy: the stream says what the whole response says');
  // json_object: any JSON object.
  const obj = await client.chat.completions.create({ ...base, response_format: { type: 'json_object' }, temperature: 0,
    max_tokens: 200, logit_bias: {} });
  if (obj.choices[0].finish_reason === 'stop') assert.equal(typeof JSON.parse(obj.choices[0].message.content), 'object');
  // A schema that is no schema is a 400 naming the field.
  const bad = await call(srv, 'POST', '/v1/chat/completions', { key: KEY, body: { ...base,
    response_format: { type: 'json_schema', json_schema: { schema: { type: 'no-such-type' } } } } });
  assert.equal(bad.status, 400, bad.text);
  assert.match(bad.body.error.message + (bad.body.error.param ?? ''), /response_format|json_schema|schema/);
});

function checkLogprobs(content, text, top) {
  assert.ok(content.length > 0);
  assert.equal(content.map((e) => e.token).join(''), text, 'the tokens spell the text');
  for (const e of content) {
    assert.ok(e.logprob <= 0, String(e.logprob));
    assert.equal(e.top_logprobs.length, top);
    for (let i = 1; i < e.top_logprobs.length; i++) assert.ok(e.top_logprobs[i - 1].logprob >= e.top_logprobs[i].logprob);
    // Greedy: the sampled token is the most probable one.
    assert.equal(e.top_logprobs[0].token, e.token);
    assert.ok(Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-4);
  }
}

test('logprobs match the sampled tokens, chat and completions, whole and streamed', async () => {
  const prompt = words(20, 3);
  const chat = { model: 'm', messages: [{ role: 'user', content: prompt }], temperature: 0, max_tokens: 12,
    logprobs: true, top_logprobs: 3, logit_bias: {} };
  const whole = await client.chat.completions.create(chat);
  const msg = whole.choices[0].message.content;
  checkLogprobs(whole.choices[0].logprobs.content, msg, 3);
  assert.equal(whole.choices[0].logprobs.content.length, whole.usage.completion_tokens -
    (whole.choices[0].finish_reason === 'stop' ? 1 : 0) || whole.choices[0].logprobs.content.length);
  const chunks = await collect(await client.chat.completions.create({ ...chat, stream: true }));
  const streamed = chunks.flatMap((c) => c.choices[0]?.logprobs?.content ?? []);
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.equal(text, msg);
  checkLogprobs(streamed, text, 3);
  assert.deepEqual(streamed.map((e) => e.token), whole.choices[0].logprobs.content.map((e) => e.token));

  const cmpl = await client.completions.create({ model: 'm', prompt, temperature: 0, max_tokens: 12, logprobs: 2 });
  const lp = cmpl.choices[0].logprobs;
  assert.ok(lp, JSON.stringify(cmpl));
  const entries = lp.content ?? lp.tokens?.map((t, i) => ({ token: t, logprob: lp.token_logprobs[i] }));
  assert.equal(entries.map((e) => e.token).join(''), cmpl.choices[0].text);
  // top_logprobs > 20 is a 400 naming the field.
  const bad = await call(srv, 'POST', '/v1/chat/completions', { key: KEY, body: { ...chat, top_logprobs: 21 } });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.body.error.param, 'top_logprobs');
});

test('n > 1: indexed choices, summed usage; several prompts on /completion: an array', async () => {
  const r = await client.completions.create({ model: 'm', prompt: 'one two', max_tokens: 3, n: 2, temperature: 0 });
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
  assert.equal(r.choices[0].text, r.choices[1].text, 'greedy: the same text twice');
  assert.equal(r.usage.completion_tokens, 6);
  const many = await call(srv, 'POST', '/completion', { key: KEY, body: { prompt: ['one two', 'three four'], n_predict: 2 } });
  assert.equal(many.status, 200, many.text);
  assert.ok(Array.isArray(many.body));
  assert.deepEqual(many.body.map((x) => x.index), [0, 1]);
  assert.notEqual(many.body[0].prompt, many.body[1].prompt);
});

test('stream_options.include_usage: a separate usage chunk with empty choices', async () => {
  const chunks = await collect(await client.chat.completions.create({ model: 'm', temperature: 0, max_tokens: 4,
    messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } }));
  const last = chunks[chunks.length - 1];
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage.prompt_tokens > 0);
  assert.ok(chunks[chunks.length - 2].choices[0].finish_reason);
});

test('llama native /completion: timings, tokens_cached, n_probs, return_progress stream', async () => {
  const prompt = words(60, 9);
  const a = await call(srv, 'POST', '/completion', { key: KEY, body: { prompt, n_predict: 4, temperature: 0, n_probs: 2 } });
  assert.equal(a.status, 200, a.text);
  for (const f of ['prompt_n', 'prompt_ms', 'predicted_n', 'predicted_ms', 'cache_n']) assert.ok(f in a.body.timings, f);
  assert.equal(a.body.tokens_cached, a.body.tokens_evaluated + a.body.tokens_predicted);
  assert.equal(a.body.completion_probabilities.length, a.body.tokens_predicted);
  assert.equal(a.body.completion_probabilities[0].top_logprobs.length, 2);
  // The same prompt again: all but the last prompt token come from the cache.
  let b;
  for (let i = 0; i < 50; i++) {
    b = await call(srv, 'POST', '/completion', { key: KEY, body: { prompt, n_predict: 4, temperature: 0 } });
    if (b.body.timings.cache_n > 0) break;
    await sleep(50);  // the first request's save is asynchronous
  }
  assert.equal(b.body.timings.cache_n, b.body.tokens_evaluated - 1, JSON.stringify(b.body.timings));
  assert.equal(b.body.content, a.body.content);
  // Streamed with return_progress: progress events first, tokens after, no [DONE].
  const r = await fetch(`${srv.base}/completion`, { method: 'POST', headers: { 'X-Api-Key': KEY,
    'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: words(30, 4), n_predict: 3, stream: true,
    return_progress: true, temperature: 0 }) });
  assert.equal(r.status, 200);
  const events = (await r.text()).split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => JSON.parse(e.slice(6)));
  assert.ok(events[0].prompt_progress, JSON.stringify(events[0]));
  assert.equal(events[0].prompt_progress.total, events.at(-1).tokens_evaluated);
  assert.equal(events.at(-1).stop, true);
  assert.equal(events.filter((e) => !e.prompt_progress && !e.stop).map((e) => e.content).join(''), events.at(-1).content || events.filter((e) => !e.prompt_progress && !e.stop).map((e) => e.content).join(''));
});

test('verbose: "__verbose" per request, whole and streamed; timings_per_token: timings on progress events', async () => {
  const messages = [{ role: 'system', content: 'Book' }, { role: 'user', content: 'What is the best book' }];
  // The server runs without --verbose: a request turns it on (llama-server's "verbose").
  const on = await call(srv, 'POST', '/chat/completions', { key: KEY, body: { messages, max_tokens: 2, verbose: true } });
  assert.equal(on.status, 200, on.text);
  const v = on.body.__verbose;
  assert.ok(v, on.text);
  // llama-server's native response, its prompt rendered with special tokens as text.
  assert.ok(v.prompt.includes('<|start_header_id|>user<|end_header_id|>\n\nWhat is the best book<|eot_id|>'), v.prompt);
  assert.equal(typeof v.content, 'string');  // the raw text (the chat parser's input)
  assert.equal(v.tokens_predicted, on.body.usage.completion_tokens);
  assert.equal(v.tokens_evaluated, on.body.usage.prompt_tokens);
  assert.equal(v.stop, true);
  const off = await call(srv, 'POST', '/chat/completions', { key: KEY, body: { messages, max_tokens: 2, verbose: false } });
  assert.equal(off.status, 200, off.text);
  assert.ok(!('__verbose' in off.body), off.text);
  const none = await call(srv, 'POST', '/v1/completions', { key: KEY, body: { prompt: 'x', max_tokens: 1 } });
  assert.ok(!('__verbose' in none.body), none.text);
  const bad = await call(srv, 'POST', '/chat/completions', { key: KEY, body: { messages, verbose: 'yes' } });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.body.error.param, 'verbose');
  // Streamed: the first of the last chunks carries the final native object.
  const s = await fetch(`${srv.base}/v1/chat/completions`, { method: 'POST', headers: { 'X-Api-Key': KEY,
    'Content-Type': 'application/json' }, body: JSON.stringify({ messages, max_tokens: 3, stream: true, verbose: true }) });
  const chunks = (await s.text()).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
  const withVerbose = chunks.filter((c) => c.__verbose);
  assert.equal(withVerbose.length, 1, JSON.stringify(chunks));
  assert.equal(withVerbose[0].__verbose.stop, true);
  assert.ok(withVerbose[0].__verbose.prompt.includes('What is the best book'));
  // /completion's "prompt" is the prompt's tokens detokenized, BOS included.
  const native = await call(srv, 'POST', '/completion', { key: KEY, body: { prompt: 'hello world', n_predict: 1 } });
  assert.equal(native.body.prompt, '<s> hello world');
  // return_progress + timings_per_token: llama-server's slot timings on each progress
  // event; the first comes before any decode (nothing timed yet), then they grow.
  const r = await fetch(`${srv.base}/completion`, { method: 'POST', headers: { 'X-Api-Key': KEY,
    'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: words(300, 21), n_predict: 2, stream: true,
    return_progress: true, timings_per_token: true }) });
  assert.equal(r.status, 200);
  const events = (await r.text()).split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => JSON.parse(e.slice(6)));
  const progress = events.filter((e) => e.prompt_progress);
  assert.ok(progress.length >= 2, JSON.stringify(progress));
  const first = progress[0];
  assert.equal(first.timings.prompt_n, 0);
  assert.equal(first.timings.prompt_ms, 0);
  assert.equal(first.timings.predicted_n, 0);
  assert.equal(first.prompt_progress.processed, first.prompt_progress.cache);
  let last = 0;
  for (const e of progress) {
    for (const [k, x] of Object.entries(e.timings)) assert.ok(typeof x === 'number' && x >= 0, `${k}: ${x}`);
    assert.ok(e.timings.prompt_ms >= last);
    last = e.timings.prompt_ms;
    assert.equal(e.timings.prompt_n, e.prompt_progress.processed - e.prompt_progress.cache);
    assert.equal(e.timings.cache_n, e.prompt_progress.cache);
  }
  const end = progress.at(-1);
  assert.equal(end.prompt_progress.processed, end.prompt_progress.total);
  assert.ok(end.timings.prompt_ms > 0);
  // Token events carry the timings too: the prompt's, and the generation so far.
  const tokens = events.filter((e) => !e.prompt_progress && !e.stop && e.tokens.length > 0);
  assert.ok(tokens.length >= 1, JSON.stringify(events));
  tokens.forEach((e, i) => {
    assert.equal(e.timings.predicted_n, i + 1, JSON.stringify(e));
    assert.equal(e.timings.prompt_n, end.timings.prompt_n);
    assert.equal(e.timings.prompt_ms, end.timings.prompt_ms);
    assert.ok(e.timings.predicted_ms >= (i > 0 ? tokens[i - 1].timings.predicted_ms : 0));
  });
  // Without timings_per_token, progress events carry no timings (llama-server).
  const q = await fetch(`${srv.base}/completion`, { method: 'POST', headers: { 'X-Api-Key': KEY,
    'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: words(20, 22), n_predict: 1, stream: true,
    return_progress: true }) });
  const plain = (await q.text()).split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => JSON.parse(e.slice(6)));
  assert.ok(plain.filter((e) => !e.stop).every((e) => !('timings' in e)), JSON.stringify(plain));
});

test('backend_sampling: llama.cpp samples in the decode graph, with the tokens and probabilities of CPU sampling', async () => {
  const body = { prompt: words(12, 31), n_predict: 8, seed: 7, temperature: 1.0, n_probs: 5, post_sampling_probs: true };
  const cpu = await call(srv, 'POST', '/completion', { key: KEY, body });
  assert.equal(cpu.status, 200, cpu.text);
  assert.equal(cpu.body.generation_settings.backend_sampling, false);
  for (const cache_prompt of [true, false]) {  // warm (first token from the row) and cold
    const gpu = await call(srv, 'POST', '/completion', { key: KEY, body: { ...body, backend_sampling: true, cache_prompt } });
    assert.equal(gpu.status, 200, gpu.text);
    assert.equal(gpu.body.generation_settings.backend_sampling, true);
    assert.equal(gpu.body.content, cpu.body.content);
    assert.deepEqual(gpu.body.completion_probabilities.map((t) => t.id), cpu.body.completion_probabilities.map((t) => t.id));
    gpu.body.completion_probabilities.forEach((t, i) => {
      const c = cpu.body.completion_probabilities[i];
      assert.ok(Math.abs(t.prob - c.prob) < 0.01, `${t.prob} vs ${c.prob}`);
      assert.deepEqual(t.top_probs.map((x) => x.id), c.top_probs.map((x) => x.id));
    });
  }
  const bad = await call(srv, 'POST', '/completion', { key: KEY, body: { prompt: 'x', backend_sampling: 'on' } });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.body.error.param, 'backend_sampling');
});

test('CORS preflight before auth; X-Api-Key; un-prefixed paths; /tokenize, /detokenize, /props', async () => {
  const pre = await fetch(`${srv.base}/v1/chat/completions`, { method: 'OPTIONS', headers: { Origin: 'web.example',
    'Access-Control-Request-Method': 'POST' } });
  assert.equal(pre.status, 200);
  assert.equal(pre.headers.get('access-control-allow-origin'), 'web.example');
  assert.equal(pre.headers.get('access-control-allow-methods'), 'GET, POST, DELETE, OPTIONS');
  const denied = await call(srv, 'GET', '/models');
  assert.equal(denied.status, 401);
  assert.ok(denied.headers.get('access-control-allow-origin'));
  const m = await call(srv, 'GET', '/models', { headers: { 'X-Api-Key': KEY } });
  assert.equal(m.status, 200, m.text);
  assert.equal(m.body.data[0].object, 'model');
  const chat = await call(srv, 'POST', '/chat/completions', { key: KEY, body: { messages: [{ role: 'user', content: 'x' }],
    max_tokens: 2 } });
  assert.equal(chat.status, 200, chat.text);
  assert.ok(chat.body.system_fingerprint);
  const t = await call(srv, 'POST', '/tokenize', { key: KEY, body: { content: 'hello world', with_pieces: true } });
  assert.equal(t.status, 200, t.text);
  const d = await call(srv, 'POST', '/detokenize', { key: KEY, body: { tokens: t.body.tokens.map((x) => x.id) } });
  assert.equal(d.body.content.trim(), 'hello world');
  const p = await call(srv, 'GET', '/props', { key: KEY });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.body.total_slots, 2);
  const bad = await call(srv, 'POST', '/completion', { key: KEY, body: { prompt: 'x', n_probs: -1 } });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.body.error.param, 'n_probs');
});

test('slots: save is a KVC file in --slot-save-path, restore and erase', async () => {
  const prompt = words(40, 11);
  const r = await call(srv, 'POST', '/completion', { key: KEY, body: { prompt, n_predict: 2, temperature: 0 } });
  assert.equal(r.status, 200, r.text);
  const slots = await call(srv, 'GET', '/slots', { key: KEY });
  assert.equal(slots.status, 200, slots.text);
  const held = slots.body.find((s) => s.n_ctx && s.id !== undefined);
  assert.ok(held);
  let saved;
  for (const s of slots.body) {
    const x = await call(srv, 'POST', `/slots/${s.id}?action=save`, { key: KEY, body: { filename: `s${s.id}.kvc` } });
    if (x.status === 200) saved = { id: s.id, body: x.body };
  }
  assert.ok(saved, 'some slot holds the request');
  assert.ok(saved.body.n_saved > 0);
  assert.ok(fs.existsSync(path.join(dir('slots'), `s${saved.id}.kvc`)));
  const e = await call(srv, 'POST', `/slots/${saved.id}?action=erase`, { key: KEY });
  assert.equal(e.status, 200, e.text);
  const back = await call(srv, 'POST', `/slots/${saved.id}?action=restore`, { key: KEY, body: { filename: `s${saved.id}.kvc` } });
  assert.equal(back.status, 200, back.text);
  assert.equal(back.body.n_restored, saved.body.n_saved);
  const badId = await call(srv, 'POST', '/slots/99?action=save', { key: KEY, body: { filename: 'x' } });
  assert.equal(badId.status, 400);
  const badAction = await call(srv, 'POST', '/slots/0?action=fly', { key: KEY });
  assert.equal(badAction.status, 400);
  const esc = await call(srv, 'POST', '/slots/0?action=save', { key: KEY, body: { filename: '../x' } });
  assert.equal(esc.status, 400);
  const emb = await call(srv, 'POST', '/v1/embeddings', { key: KEY, body: { input: 'x' } });
  assert.equal(emb.status, 501);
  assert.match(emb.body.error.message, /--embeddings/);
});
