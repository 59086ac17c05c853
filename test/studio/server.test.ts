import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { isLoopbackHost, tokenMatches } from '../../main/server/auth.ts';
import { reachableHosts } from '../../main/server/serve-settings.ts';
import { resolveStatic } from '../../main/api/static-files.ts';
import { startServer, type StudioServer } from '../../main/server/server.ts';
import { tinyAlpacaFile, tinyModel } from '../helpers/synthetic.ts';
import { workFolder } from '../helpers/work-folder.ts';

// A model and rows written by the test: the calls need files of the right kind, not trained weights.
const MODEL_DIR = await tinyModel();

const tmp = workFolder('studio-server');
const rendererDir = path.join(tmp, 'renderer');
mkdirSync(path.join(rendererDir, 'assets'), { recursive: true });
writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>studio</title>');
writeFileSync(path.join(rendererDir, 'assets', 'app.js'), 'console.log(1)');
writeFileSync(path.join(tmp, 'secret.txt'), 'secret');

let s: StudioServer;
beforeAll(async () => {
  s = await startServer({ port: 0, runsDir: path.join(tmp, 'runs'), rendererDir, log: () => {} });
});
afterAll(() => s?.close());

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- replies are checked field by field below
const body = async (r: Response | Promise<Response>): Promise<any> => (await r).json();

const post = (call: string, body: unknown, token: string | null = s.token, extra: Record<string, string> = {}) =>
  fetch(`${s.url}/api/${call}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { 'x-studio-token': token }), ...extra },
    body: JSON.stringify(body),
  });

describe('browser-mode server', () => {
  it('requires the token on every call', async () => {
    expect((await post('app.info', {}, null)).status).toBe(401);
    expect((await post('app.info', {}, s.token.slice(0, -1) + (s.token.endsWith('A') ? 'B' : 'A'))).status).toBe(401);
    expect((await post('app.info', {}, '')).status).toBe(401);
    const ok = await post('app.info', {});
    expect(ok.status).toBe(200);
    expect(await body(ok)).toMatchObject({ name: 'lora-studio', mode: 'server', jobKinds: expect.arrayContaining(['selftest']) });
    // Query parameter and bearer header work too.
    const q = await fetch(`${s.url}/api/jobs.list?token=${s.token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(q.status).toBe(200);
    expect((await post('jobs.list', {}, null, { authorization: `Bearer ${s.token}` })).status).toBe(200);
  });

  it('rejects schema-invalid requests with 400 and a message, unknown calls with 404', async () => {
    const bad = await post('model.inspect', { dir: 42 });
    expect(bad.status).toBe(400);
    expect((await body(bad)).error.message).toMatch(/model\.inspect: invalid request: dir: .*string/i);
    const notJson = await fetch(`${s.url}/api/app.info`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-studio-token': s.token },
      body: '{',
    });
    expect(notJson.status).toBe(400);
    const form = await fetch(`${s.url}/api/app.info`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-studio-token': s.token },
      body: 'a=1',
    });
    expect(form.status).toBe(415);
    expect((await post('shell.exec', {})).status).toBe(404);
  });

  it('serves the renderer with a CSP, never a file outside it', async () => {
    const page = await fetch(`${s.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect((await fetch(`${s.url}/assets/app.js`)).headers.get('content-type')).toMatch(/javascript/);
    expect(await (await fetch(`${s.url}/wizard/model`)).text()).toContain('<title>studio</title>');
    expect((await fetch(`${s.url}/%2e%2e/secret.txt`)).status).toBe(404);
    expect(resolveStatic(rendererDir, '/../secret.txt')).toBeUndefined();
    expect(resolveStatic(rendererDir, '/..%2fsecret.txt')).toBeUndefined();
  });

  it('streams job events over the WebSocket, only with the token', async () => {
    const refused = new WebSocket(`${s.url.replace('http', 'ws')}/events?token=wrong`);
    const refusal = await new Promise<string>((r) => {
      refused.on('error', (e) => r(String(e.message)));
      refused.on('open', () => r('opened'));
    });
    expect(refusal).toMatch(/401/);

    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/events?token=${s.token}`);
    await new Promise((r) => ws.on('open', r));
    const got: { type: string; jobId: string }[] = [];
    const done = new Promise<void>((r) =>
      ws.on('message', (m) => {
        const e = JSON.parse(String(m));
        got.push(e);
        if (e.type === 'done') r();
      }),
    );
    const started = await body(post('jobs.start', { kind: 'selftest', config: { steps: 2, intervalMs: 5 } }));
    await done;
    ws.close();
    expect(got.map((e) => e.type)).toEqual(['started', 'progress', 'progress', 'done']);
    expect(got.every((e) => e.jobId === started.id)).toBe(true);
  });

  it('answers system.gpu with GPU readings or the plain "no NVIDIA GPU" line, plus process memory', async () => {
    const r = await body(post('system.gpu', {}));
    expect(r.process.rssBytes).toBeGreaterThan(0);
    if (!r.available) expect(r.message).toMatch(/^No NVIDIA GPU/);
  });

  it("jobs.start checks each kind's settings with its own strict schema: unknown keys are refused by name, nothing starts", async () => {
    const before = (await body(post('jobs.list', {}))).jobs.length;
    const r = await post('jobs.start', { kind: 'finetune', config: { base_model: '/m', data_path: '/d.json', lora_rr: 4 } });
    expect(r.status).toBe(400);
    expect((await body(r)).error.message).toMatch(/jobs\.start: invalid request: .*lora_rr/);
    const wrongKind = await post('jobs.start', {
      kind: 'merge',
      config: { base_model: '/m', lora_weights: '/a', output_dir: 'o', lora_r: 8 },
    });
    expect((await body(wrongKind)).error.message).toMatch(/lora_r/);
    expect((await post('jobs.start', { kind: 'nope', config: {} })).status).toBe(400);
    expect((await body(post('jobs.list', {}))).jobs.length).toBe(before);
  });

  it('answers a body over 1 MiB with 413 and a JSON error, not a reset (with and without Content-Length)', async () => {
    const big = JSON.stringify({ dir: 'x'.repeat(2 << 20) });
    const r = await post('model.inspect', JSON.parse(big));
    expect(r.status).toBe(413);
    expect((await body(r)).error).toEqual({ message: 'request body over 1048576 bytes (1 MiB); send less', code: 'api/too-large' });
    // Chunked: the size is only known while reading.
    const chunked = await new Promise<{ status?: number; text: string }>((resolve, reject) => {
      const req = request(
        `${s.url}/api/model.inspect`,
        { method: 'POST', headers: { 'content-type': 'application/json', 'x-studio-token': s.token } },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode, text }));
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 32; i++) req.write('x'.repeat(64 << 10));
      req.end();
    });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.text).error.code).toBe('api/too-large');
    expect((await post('app.info', {})).status).toBe(200); // the server carries on
  });

  it('with allow_remote on 0.0.0.0 prints addresses a browser can use and warns that the token travels in plain HTTP', async () => {
    const lines: string[] = [];
    const remote = await startServer({
      host: '0.0.0.0',
      allowRemote: true,
      port: 0,
      runsDir: path.join(tmp, 'runs'),
      rendererDir,
      log: (l) => lines.push(l),
    });
    try {
      const text = lines.join('\n');
      expect(text).not.toContain('0.0.0.0');
      expect(text).toContain(`http://127.0.0.1:${remote.port}/?token=${remote.token}`);
      expect(text).toMatch(/warning: .*plain HTTP.*token/);
      for (const u of text.match(/http:\/\/\S+/g)!) {
        const url = new URL(u);
        const r = await fetch(new URL('/api/app.info', url), {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-studio-token': url.searchParams.get('token')! },
          body: '{}',
        });
        expect(r.status, u).toBe(200);
      }
    } finally {
      await remote.close();
    }
    const fake = {
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
      eth0: [
        { address: '10.1.2.3', family: 'IPv4', internal: false },
        { address: 'fe80::1', family: 'IPv6', internal: false },
        { address: '2001:db8::5', family: 'IPv6', internal: false },
      ],
    };
    expect(reachableHosts('0.0.0.0', fake as never)).toEqual(['127.0.0.1', '10.1.2.3']);
    expect(reachableHosts('::', fake as never)).toEqual(['127.0.0.1', '10.1.2.3', '2001:db8::5']);
    expect(reachableHosts('192.168.1.9', fake as never)).toEqual(['192.168.1.9']);
  });

  it('refuses to listen on a non-loopback address unless asked, naming the real flag', async () => {
    await expect(startServer({ host: '0.0.0.0', runsDir: tmp, log: () => {} })).rejects.toThrow(
      /refusing to listen on 0\.0\.0\.0: .*pass --allow_remote /,
    );
    expect(isLoopbackHost('127.0.0.1') && isLoopbackHost('::1') && isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('192.168.1.2') || isLoopbackHost('example.com') || isLoopbackHost('::')).toBe(false);
    expect(tokenMatches('abc', 'abc')).toBe(true);
    expect(tokenMatches('abc', 'abcd')).toBe(false);
    expect(tokenMatches('abc', undefined)).toBe(false);
  });
});

describe('bad input over HTTP: 400 with one message naming the file or field, never a 500 or a stack', () => {
  const bad = path.join(tmp, 'bad-input');
  const model = path.join(bad, 'model');
  beforeAll(async () => {
    cpSync(MODEL_DIR, model, { recursive: true });
    const garbageModel = path.join(bad, 'garbage-model');
    cpSync(model, garbageModel, { recursive: true });
    writeFileSync(path.join(garbageModel, 'config.json'), '{"hidden_size": 9');
    writeFileSync(path.join(bad, 'truncated.json'), '[{"instruction": "a", "out');
    writeFileSync(path.join(bad, 'garbage.json'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3]));
  });
  const estimate = { micro_batch_size: 1, cutoff_len: 16, lora_r: 8, lora_target_modules: ['q_proj'] };
  const cases: [string, string, () => unknown, RegExp | string][] = [
    ['inspect a missing folder', 'model.inspect', () => ({ dir: path.join(bad, 'nowhere') }), path.join(bad, 'nowhere')],
    ['check a missing data file', 'data.check', () => ({ path: path.join(bad, 'no.json') }), path.join(bad, 'no.json')],
    [
      'check a truncated data file',
      'data.check',
      () => ({ path: path.join(bad, 'truncated.json') }),
      `${path.join(bad, 'truncated.json')}: not valid JSON`,
    ],
    ['check a garbage data file', 'data.check', () => ({ path: path.join(bad, 'garbage.json') }), path.join(bad, 'garbage.json')],
    ['check a folder as data', 'data.check', () => ({ path: bad }), `${bad}: cannot read data file (is a folder, not a regular file`],
    [
      'estimate on a missing model',
      'finetune.estimate',
      () => ({ base_model: path.join(bad, 'nowhere'), ...estimate }),
      path.join(bad, 'nowhere'),
    ],
    [
      'estimate on a garbage config.json',
      'finetune.estimate',
      () => ({ base_model: path.join(bad, 'garbage-model'), ...estimate }),
      path.join(bad, 'garbage-model', 'config.json'),
    ],
    [
      'estimate with an unknown module',
      'finetune.estimate',
      () => ({ base_model: model, ...estimate, lora_target_modules: ['qkv'] }),
      'qkv',
    ],
    ['list a missing folder', 'files.list', () => ({ dir: path.join(bad, 'nowhere') }), path.join(bad, 'nowhere')],
    [
      'start a job with a non-number',
      'jobs.start',
      () => ({ kind: 'generate', config: { base_model: model, instruction: 'x', max_new_tokens: 'abc' } }),
      'max_new_tokens',
    ],
    [
      'start a job with top_p 5',
      'jobs.start',
      () => ({ kind: 'generate', config: { base_model: model, instruction: 'x', top_p: 5 } }),
      'top_p',
    ],
    ['set an unknown language', 'settings.set', () => ({ language: 'fr' }), 'language'],
  ];
  it.each(cases)('%s', async (_what, call, request, names) => {
    const r = await post(call, request());
    const text = await r.text();
    expect(r.status, text).toBe(400);
    const { error } = JSON.parse(text);
    if (typeof names === 'string') expect(error.message).toContain(names);
    else expect(error.message).toMatch(names);
    expect(error.message).not.toMatch(/\n\s+at |unexpected/i);
    expect(error.code).not.toBe('internal');
  });
});

describe('engine calls over HTTP (files on disk)', () => {
  it('inspects a model folder', async () => {
    const r = await body(post('model.inspect', { dir: MODEL_DIR }));
    expect(r.architecture).toMatchObject({ modelType: 'llama', layers: 5, hiddenSize: 64, heads: 8, kvHeads: 4, vocabSize: 512 });
    expect(r.problems).toEqual([]);
  });

  it('names the broken file of a broken model folder', async () => {
    const broken = path.join(tmp, 'broken-model');
    mkdirSync(broken, { recursive: true });
    writeFileSync(path.join(broken, 'config.json'), '{"model_type": "llama", ');
    const r = await body(post('model.inspect', { dir: broken }));
    expect(r.problems.join('\n')).toContain(path.join(broken, 'config.json'));
    const missing = await post('model.inspect', { dir: path.join(tmp, 'nowhere') });
    expect(missing.status).toBe(400);
    expect((await body(missing)).error.message).toContain(path.join(tmp, 'nowhere'));
  });

  it('checks a data file with token statistics and a masked/trained preview', async () => {
    const r = await body(
      post('data.check', { path: tinyAlpacaFile(40, 'zh'), baseModel: MODEL_DIR, cutoffLen: 256, trainOnInputs: false }),
    );
    expect(r.total).toBeGreaterThan(0);
    expect(r.stats.rows).toBe(Math.min(r.kept, 5000));
    expect(r.stats.histogram.at(-1).to).toBeNull();
    const segs = r.preview[0].segments;
    expect(segs.some((x: { trained: boolean }) => x.trained)).toBe(true);
    expect(segs.some((x: { trained: boolean }) => !x.trained)).toBe(true);
    expect(segs[0].trained).toBe(false); // the prompt is masked when train_on_inputs is off
  });
});

describe('settings form fields', () => {
  it('come from the engine config schema with defaults and help', async () => {
    const r = await body(post('finetune.fields', {}));
    const lr = r.fields.find((f: { name: string }) => f.name === 'learning_rate');
    expect(lr).toMatchObject({ type: 'number', default: 3e-4 });
    expect(lr.help).toMatch(/learning rate/i);
    expect(r.fields.find((f: { name: string }) => f.name === 'lora_target_modules').choices).toContain('q_proj');
  });
});

describe('memory estimate and file picking', () => {
  it('estimates training memory from the model config and the settings, growing with the micro batch', async () => {
    const req = { base_model: MODEL_DIR, micro_batch_size: 4, cutoff_len: 256, lora_r: 8, lora_target_modules: ['q_proj', 'v_proj'] };
    const small = await body(post('finetune.estimate', req));
    const big = await body(post('finetune.estimate', { ...req, micro_batch_size: 16 }));
    expect(small.totalBytes).toBe(
      small.weightsBytes + small.loraBytes + small.optimizerBytes + small.activationsBytes + small.transientBytes + small.runtimeBytes,
    );
    expect(small.runtimeBytes).toBeGreaterThan(0); // the CPU path's estimate counts the process itself
    expect(small.loraBytes).toBe(4 * 5 * 8 * (64 + 64 + (32 + 64))); // f32 × 5 layers × r 8 × (q: 64×64, v: 32×64 with 4 KV heads)
    expect(big.activationsBytes).toBeGreaterThan(3 * small.activationsBytes);
    expect(big.weightsBytes).toBe(small.weightsBytes);
    const bad = await post('finetune.estimate', { ...req, lora_target_modules: ['qkv'] });
    expect(bad.status).toBe(400);
    expect((await body(bad)).error.message).toMatch(/unknown target module\(s\): qkv/);
    const missing = await post('finetune.estimate', { ...req, base_model: path.join(tmp, 'no-model') });
    expect(missing.status).toBe(400);
    expect((await body(missing)).error.message).toContain(path.join(tmp, 'no-model'));
  });

  it('lists a folder for the in-page picker (folders first, hidden entries left out) and has no native dialog', async () => {
    const dir = path.join(tmp, 'pick');
    mkdirSync(path.join(dir, 'b-folder'), { recursive: true });
    writeFileSync(path.join(dir, 'a.json'), '[]');
    writeFileSync(path.join(dir, '.hidden'), '');
    const r = await body(post('files.list', { dir }));
    expect(r).toMatchObject({ dir, parent: tmp });
    expect(r.entries).toEqual([
      { name: 'b-folder', path: path.join(dir, 'b-folder'), kind: 'folder' },
      { name: 'a.json', path: path.join(dir, 'a.json'), kind: 'file', bytes: 2 },
    ]);
    const missing = await post('files.list', { dir: path.join(tmp, 'nowhere') });
    expect(missing.status).toBe(400);
    expect((await body(missing)).error.message).toContain(path.join(tmp, 'nowhere'));
    const pick = await post('files.pick', { kind: 'folder' });
    expect(pick.status).toBe(400);
    expect((await body(pick)).error.message).toMatch(/only in the desktop app/);
  });
});
