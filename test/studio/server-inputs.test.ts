import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startCli } from '../helpers/cli-process.ts';
import { tinyModel } from '../helpers/synthetic.ts';

/**
 * The real `lora-studio serve` process, fed inputs that used to stall or kill it: a FIFO as config.json, tokenizer.json
 * or data file (synchronous reads blocked the whole event loop until it was fed), a 200 MB one-row data file (the data
 * check read it whole: V8 out of memory), a template that is not JSON (its error quoted the file's first bytes over the
 * WebSocket), and 30,000 half-open connections (every fd used: the page refused until the headers timeout). Each case
 * checks that another request answers meanwhile, and what the server process held (its fds, its peak RSS from /proc).
 */

const tmp = mkdtempSync(path.join(tmpdir(), 'server-inputs-'));
const at = (...p: string[]) => path.join(tmp, ...p);
const GIB = 2 ** 30;
let server: ChildProcess;
let url = '';
let token = '';

function post(call: string, body: unknown): Promise<Response> {
  return fetch(`${url}/api/${call}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-studio-token': token },
    body: JSON.stringify(body),
  });
}

/** The server process's peak RSS (VmHWM) and open file descriptors, from /proc. */
function serverUsage(): { peakRss: number; fds: number } {
  const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
  return { peakRss: Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024, fds: readdirSync(`/proc/${server.pid}/fd`).length };
}

beforeAll(async () => {
  const model = await tinyModel();
  for (const name of ['config.json', 'tokenizer.json']) {
    const dir = at(`fifo-${name}`);
    cpSync(model, dir, { recursive: true });
    rmSync(path.join(dir, name));
    execFileSync('mkfifo', [path.join(dir, name)]);
  }
  execFileSync('mkfifo', [at('data.fifo')]);
  // A 200 MB data file of one row (its output is 200 MB of text), written here and removed after.
  const big = 'a b c '.repeat(Math.ceil((200 * 2 ** 20) / 6));
  writeFileSync(at('one-row-200mb.json'), `[{"instruction": "repeat", "input": "", "output": "${big}"}]`);
  // A 20 MB row among short ones: cut to cutoff_len 32, tokenized only as far as it needs.
  const rows = [
    { instruction: 'repeat', input: '', output: 'ab '.repeat(Math.ceil((20 * 2 ** 20) / 3)) },
    ...Array.from({ length: 7 }, (_, i) => ({ instruction: `say ${i}`, input: '', output: 'abc' })),
  ];
  writeFileSync(at('row-20mb.json'), JSON.stringify(rows));
  writeFileSync(at('secret.txt'), 'root:$y$j9T$not-json-at-all:19000:0:99999:7:::\n');
  mkdirSync(at('runs'));

  const serve = startCli(['serve', '--port', '0', '--runs_dir', at('runs')]);
  server = serve.child;
  const address = /serving at (http:\/\/[^/\s]+)\/\?token=(\S+)/;
  if (!(await serve.waitFor(address))) throw new Error(`serve exited: ${serve.output()}`);
  [, url, token] = address.exec(serve.output())!;
}, 120_000);

afterAll(() => {
  server?.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});

describe('no input stalls or kills the server', () => {
  it.each(['config.json', 'tokenizer.json'])(
    'a FIFO as %s: model.inspect names it (by type, never opened for a read) while another call answers',
    async (name) => {
      const [inspect, info] = await Promise.all([post('model.inspect', { dir: at(`fifo-${name}`) }), post('app.info', {})]);
      expect(info.status).toBe(200);
      expect(inspect.status).toBe(200);
      const report = (await inspect.json()) as { problems: string[] };
      expect(report.problems).toContainEqual(
        expect.stringContaining(`${at(`fifo-${name}`, name)}: is a FIFO (named pipe), not a regular file`),
      );
    },
  );

  it('a FIFO or a device as the data file: data.check refuses it by type', async () => {
    for (const [file, kind] of [
      [at('data.fifo'), 'a FIFO (named pipe)'],
      ['/dev/zero', 'a character device'],
    ]) {
      const [check, info] = await Promise.all([post('data.check', { path: file }), post('app.info', {})]);
      expect(info.status).toBe(200);
      expect(check.status).toBe(400);
      expect(((await check.json()) as { error: { message: string } }).error.message).toContain(
        `${file}: cannot read data file (is ${kind}`,
      );
    }
  });

  it('a 200 MB one-row file: the data check streams it and refuses the row by number, the server stays under 1 GiB', async () => {
    const [check, info] = await Promise.all([post('data.check', { path: at('one-row-200mb.json') }), post('app.info', {})]);
    expect(info.status).toBe(200);
    const text = await check.text();
    expect(check.status, text).toBe(400);
    expect(JSON.parse(text).error.message).toMatch(/no usable rows \(1 bad; first: row 1: 200\.0 MiB, over the 32\.0 MiB a row may be/);
    const { peakRss } = serverUsage();
    console.log(`server peak RSS after the 200 MB data check: ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
    expect(peakRss).toBeLessThan(GIB);
  }, 120_000);

  it('a 20 MB row at cutoff_len 32: statistics come back, the long row cut after tokenizing only its head', async () => {
    const started = performance.now();
    const r = await post('data.check', { path: at('row-20mb.json'), baseModel: await tinyModel(), cutoffLen: 32 });
    const reply = (await r.json()) as { stats: { truncated: number; rows: number }; note?: string; kept: number };
    console.log(`data check of a 20 MB row at cutoff_len 32: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    expect(r.status).toBe(200);
    expect(reply.kept).toBe(8);
    expect(reply.stats.rows).toBe(8);
    expect(reply.stats.truncated).toBeGreaterThanOrEqual(1);
    expect(reply.note).toMatch(/tokenized only as far as cutoff_len needs/);
    expect(serverUsage().peakRss).toBeLessThan(GIB);
  }, 120_000);

  it("a job whose template is not JSON fails over the WebSocket without quoting the file's bytes", async () => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/events?token=${token}`);
    await new Promise((r) => ws.on('open', r));
    const events: { type: string; error?: string; message?: string }[] = [];
    const failed = new Promise<void>((resolve) =>
      ws.on('message', (m) => {
        const e = JSON.parse(String(m));
        events.push(e);
        if (e.type === 'failed' || e.type === 'done') resolve();
      }),
    );
    const start = await post('jobs.start', {
      kind: 'generate',
      config: { base_model: await tinyModel(), instruction: 'hi', prompt_template: at('secret.txt'), max_new_tokens: 2, backend: 'cpu' },
    });
    expect(start.status).toBe(200);
    await failed;
    ws.close();
    const all = JSON.stringify(events);
    expect(events.at(-1)).toMatchObject({
      type: 'failed',
      error: expect.stringContaining(`${at('secret.txt')}: not valid JSON (an invalid character)`),
    });
    expect(all).not.toMatch(/root|j9T|not-json-at-all/);
  }, 120_000);

  it('30,000 half-open connections: the oldest idle ones are closed, the fds stay few and a call answers meanwhile', async () => {
    // Two processes of 15,000 connections each (a process may hold 20,000 fds here), each sending part of a request.
    const port = new URL(url).port;
    const flood = `
      const net = require('node:net');
      let open = 0;
      (async () => {
        for (let i = 0; i < 15000; i++) {
          const s = net.connect(${port}, '127.0.0.1');
          s.on('connect', () => { open++; s.write('GET / HTTP/1.1\\r\\nHost: x\\r\\n'); });
          s.on('error', () => {});
          if (i % 500 === 499) await new Promise((r) => setTimeout(r, 5));
        }
        const wait = setInterval(() => { if (open >= 15000) { clearInterval(wait); process.stdout.write('connected\\n'); } }, 50);
      })();`;
    const floods = [0, 1].map(() => spawn(process.execPath, ['-e', flood], { stdio: ['ignore', 'pipe', 'inherit'] }));
    try {
      let maxFds = 0;
      const watch = setInterval(() => (maxFds = Math.max(maxFds, serverUsage().fds)), 100);
      await Promise.all(
        floods.map((f) => new Promise<void>((resolve) => f.stdout!.on('data', (d) => String(d).includes('connected') && resolve()))),
      );
      clearInterval(watch);
      const before = performance.now();
      const info = await post('app.info', {});
      console.log(
        `app.info after 30,000 half-open connections: ${(performance.now() - before).toFixed(0)} ms; the server held at most ${maxFds} fds`,
      );
      expect(info.status).toBe(200);
      // Without the cap every one of them would be an fd (up to the process's limit, where new connections are refused).
      expect(maxFds).toBeLessThan(2000);
    } finally {
      for (const f of floods) f.kill('SIGKILL');
    }
  }, 180_000);
});
