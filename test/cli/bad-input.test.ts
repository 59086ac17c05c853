import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticAdapter } from '../../main/engine/synthetic/synthetic-adapter.ts';
import { DEMO_SHAPE, writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { Prng } from '../../main/engine/data/prng.ts';
import { mountTmpfs, noMount, type TestMount } from '../helpers/tmpfs.ts';

/**
 * Every command, fed what a careless user (or an attacker) gives it: missing, truncated and garbage files, flags that
 * are not numbers, values the studio refuses, outputs that cannot be written. Each must answer with exactly one
 * `error:` line naming the file or the flag, exit code 1, no stack trace and never "(an unexpected error…)".
 * Tiny models written here, no ../shared.
 */

const tmp = mkdtempSync(path.join(tmpdir(), 'cli-bad-input-'));
const at = (...p: string[]) => path.join(tmp, ...p);
const M = at('model');
const A = at('adapter');
const DATA = at('data.json');
const mounts: TestMount[] = [];

/** A copy of the tiny model with one file replaced (truncated to half, or garbage). */
function brokenModel(name: string, file: string, how: 'truncate' | 'garbage'): string {
  const dir = at(name);
  cpSync(M, dir, { recursive: true });
  const bytes = readFileSync(path.join(M, file));
  writeFileSync(path.join(dir, file), how === 'truncate' ? bytes.subarray(0, bytes.length >> 1) : garbage(bytes.length));
  return dir;
}
function brokenAdapter(name: string, file: string, how: 'truncate' | 'garbage'): string {
  const dir = at(name);
  cpSync(A, dir, { recursive: true });
  const bytes = readFileSync(path.join(A, file));
  writeFileSync(path.join(dir, file), how === 'truncate' ? bytes.subarray(0, bytes.length >> 1) : garbage(bytes.length));
  return dir;
}
function garbage(n: number): Uint8Array {
  const prng = new Prng(n);
  return Uint8Array.from({ length: Math.min(n, 4096) }, () => prng.nextInt(256));
}

beforeAll(async () => {
  await writeSyntheticModel(M, DEMO_SHAPE, { alphabet: 'abcdefghijklmnopqrstuvwxyz ' });
  // A real PEFT adapter (r 2 on q_proj and v_proj) with non-zero weights, so merge and quantize accept it.
  await writeSyntheticAdapter(A, M, { r: 2, targetModules: ['q_proj', 'v_proj'], seed: 3 });
  const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ instruction: `say ${i % 7}`, input: '', output: 'abc' }));
  writeFileSync(DATA, JSON.stringify(rows(8)));
  writeFileSync(at('rows999.json'), JSON.stringify(rows(999)));
  writeFileSync(at('truncated.json'), JSON.stringify(rows(8)).slice(0, 50));
  writeFileSync(at('garbage.json'), garbage(300));
  writeFileSync(at('a-file'), 'not a folder');
  writeFileSync(at('settings.json'), JSON.stringify({ base_model: M, data_path: DATA, lora_rr: 4 }));
  writeFileSync(at('garbage-config.json'), '{"lora_r": 8,');
  brokenModel('model-trunc-weights', 'model.safetensors', 'truncate');
  brokenModel('model-garbage-weights', 'model.safetensors', 'garbage');
  brokenModel('model-trunc-config', 'config.json', 'truncate');
  brokenModel('model-garbage-config', 'config.json', 'garbage');
  brokenModel('model-garbage-tokenizer', 'tokenizer.json', 'garbage');
  brokenAdapter('adapter-trunc-weights', 'adapter_model.safetensors', 'truncate');
  brokenAdapter('adapter-garbage-config', 'adapter_config.json', 'garbage');
  mkdirSync(at('empty'));
  if (!noMount()) {
    mounts.push(mountTmpfs(64), mountTmpfs(64, true));
  }
});
afterAll(() => mounts.forEach((m) => m.unmount()));

function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/lora-studio.mjs', ...args],
      { encoding: 'utf8', timeout: 120_000, maxBuffer: 1 << 24 },
      (err, stdout, stderr) => {
        resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** `args` are built when the case runs (the mounts exist by then); `names` must appear in the one error line. */
interface Case {
  what: string;
  args: () => string[];
  names: () => string | RegExp;
  /** Needs the tmpfs mounts. */
  mount?: 'full' | 'ro';
}

const cpu = ['--backend', 'cpu'];
const ft = (...more: string[]) => [
  'finetune',
  '--base_model',
  M,
  '--data_path',
  DATA,
  '--output_dir',
  at('runs', 'r'),
  '--val_set_size',
  '0',
  '--batch_size',
  '4',
  '--micro_batch_size',
  '4',
  ...cpu,
  ...more,
];
const gen = (...more: string[]) => ['generate', '--base_model', M, '--instruction', 'hi', '--max_new_tokens', '2', ...cpu, ...more];
const merge = (base: string, adapter: string, out: string) => [
  'merge',
  '--base_model',
  base,
  '--lora_weights',
  adapter,
  '--output_dir',
  out,
];
const full = () => mounts[0]?.dir ?? '/nonexistent-mount';
const ro = () => mounts[1]?.dir ?? '/nonexistent-mount';

const CASES: Case[] = [
  // Flags that are not what they say (issue 12 item 9).
  {
    what: 'finetune --learning_rate NaN',
    args: () => ft('--learning_rate', 'NaN'),
    names: () => "'--learning_rate <value>' argument 'NaN'",
  },
  { what: 'finetune --learning_rate abc', args: () => ft('--learning_rate', 'abc'), names: () => '--learning_rate' },
  { what: 'finetune --cutoff_len 1e3x', args: () => ft('--cutoff_len', '1e3x'), names: () => '--cutoff_len' },
  { what: 'finetune --lora_r 2.5', args: () => ft('--lora_r', '2.5'), names: () => '--lora_r' },
  { what: 'finetune --backend tpu', args: () => ft('--backend', 'tpu'), names: () => '--backend' },
  { what: 'generate --max_new_tokens abc', args: () => gen('--max_new_tokens', 'abc'), names: () => '--max_new_tokens' },
  { what: 'generate --top_p 5 (the studio refuses it too)', args: () => gen('--top_p', '5'), names: () => '--top_p' },
  { what: 'generate --threads x', args: () => gen('--threads', 'x'), names: () => '--threads' },
  {
    what: 'merge without --lora_weights',
    args: () => ['merge', '--base_model', M, '--output_dir', at('m0')],
    names: () => '--lora_weights',
  },
  { what: 'merge --dtype f8', args: () => [...merge(M, A, at('m1')), '--dtype', 'f8'], names: () => '--dtype' },
  {
    what: 'quantize --format gguf-q4_0',
    args: () => ['quantize', '--model', M, '--format', 'gguf-q4_0', '--output', at('q.gguf')],
    names: () => '--format',
  },
  {
    what: 'export-state-dict --dtype x',
    args: () => ['export-state-dict', '--base_model', M, '--output_dir', at('s1'), '--dtype', 'x'],
    names: () => '--dtype',
  },
  { what: 'inspect --jsn (misspelt)', args: () => ['inspect', M, '--jsn'], names: () => "unknown option '--jsn'" },
  { what: 'serve --port 99999', args: () => ['serve', '--port', '99999'], names: () => '--port' },
  { what: 'serve --port http', args: () => ['serve', '--port', 'http'], names: () => '--port' },
  {
    what: 'finetune --config with an unknown key',
    args: () => ['finetune', '--config', at('settings.json')],
    names: () => /settings\.json: .*lora_rr/,
  },
  {
    what: 'finetune --config garbage',
    args: () => ['finetune', '--config', at('garbage-config.json')],
    names: () => at('garbage-config.json'),
  },
  { what: 'finetune --config missing', args: () => ['finetune', '--config', at('no-config.json')], names: () => at('no-config.json') },

  // Settings the model or the data cannot take (item 8).
  {
    what: 'finetune: default val_set_size 2000 on 999 rows',
    args: () => ['finetune', '--base_model', M, '--data_path', at('rows999.json'), '--output_dir', at('runs', 'v'), ...cpu],
    names: () => `${at('rows999.json')}: val_set_size (2000)`,
  },
  { what: 'finetune --lora_r 100000', args: () => ft('--lora_r', '100000'), names: () => /lora_r 100000 .* use lora_r ≤ 48/ },

  // Outputs that cannot be written (item 8).
  { what: 'finetune --output_dir is a file', args: () => ft('--output_dir', at('a-file')), names: () => at('a-file') },
  {
    what: 'finetune on a read-only file system',
    args: () => ft('--output_dir', path.join(ro(), 'runs', 'r')),
    names: () => /read-only.*\[EROFS\]/,
    mount: 'ro',
  },
  {
    what: 'merge onto a full disk',
    args: () => merge(M, A, path.join(full(), 'merged')),
    names: () => new RegExp(`${full()}/merged.*disk is full.*\\[ENOSPC\\]`),
    mount: 'full',
  },
  {
    what: 'export-state-dict --output_dir is a file',
    args: () => ['export-state-dict', '--base_model', M, '--output_dir', at('a-file')],
    names: () => `${at('a-file')}: --output_dir is a file, not a folder`,
  },
  { what: 'merge --output_dir /proc/x', args: () => merge(M, A, '/proc/x'), names: () => '/proc/x' },

  // Missing, truncated and garbage files, for every command.
  { what: 'finetune: missing model', args: () => ft('--base_model', at('nowhere')), names: () => at('nowhere') },
  {
    what: 'finetune: truncated weights',
    args: () => ft('--base_model', at('model-trunc-weights')),
    names: () => at('model-trunc-weights', 'model.safetensors'),
  },
  {
    what: 'finetune: garbage config.json',
    args: () => ft('--base_model', at('model-garbage-config')),
    names: () => at('model-garbage-config', 'config.json'),
  },
  { what: 'finetune: missing data', args: () => ft('--data_path', at('no-data.json')), names: () => at('no-data.json') },
  { what: 'finetune: truncated data', args: () => ft('--data_path', at('truncated.json')), names: () => at('truncated.json') },
  { what: 'finetune: garbage data', args: () => ft('--data_path', at('garbage.json')), names: () => at('garbage.json') },
  { what: 'generate: missing model', args: () => gen('--base_model', at('nowhere')), names: () => at('nowhere') },
  {
    what: 'generate: garbage weights',
    args: () => gen('--base_model', at('model-garbage-weights')),
    names: () => at('model-garbage-weights', 'model.safetensors'),
  },
  {
    what: 'generate: truncated config.json',
    args: () => gen('--base_model', at('model-trunc-config')),
    names: () => at('model-trunc-config', 'config.json'),
  },
  {
    what: 'generate: garbage tokenizer.json',
    args: () => gen('--base_model', at('model-garbage-tokenizer')),
    names: () => at('model-garbage-tokenizer', 'tokenizer.json'),
  },
  { what: 'generate: missing adapter', args: () => gen('--lora_weights', at('no-adapter')), names: () => at('no-adapter') },
  {
    what: 'generate: garbage adapter_config.json',
    args: () => gen('--lora_weights', at('adapter-garbage-config')),
    names: () => at('adapter-garbage-config', 'adapter_config.json'),
  },
  { what: 'inspect: missing folder', args: () => ['inspect', at('nowhere')], names: () => at('nowhere') },
  { what: 'merge: missing model', args: () => merge(at('nowhere'), A, at('m2')), names: () => at('nowhere') },
  {
    what: 'merge: truncated adapter weights',
    args: () => merge(M, at('adapter-trunc-weights'), at('m3')),
    names: () => at('adapter-trunc-weights', 'adapter_model.safetensors'),
  },
  {
    what: 'merge: garbage adapter_config.json',
    args: () => merge(M, at('adapter-garbage-config'), at('m4')),
    names: () => at('adapter-garbage-config', 'adapter_config.json'),
  },
  { what: 'merge: an empty folder as the adapter', args: () => merge(M, at('empty'), at('m5')), names: () => at('empty') },
  {
    what: 'export-state-dict: truncated weights',
    args: () => ['export-state-dict', '--base_model', at('model-trunc-weights'), '--output_dir', at('s2')],
    names: () => at('model-trunc-weights', 'model.safetensors'),
  },
  {
    what: 'export-state-dict: garbage config.json',
    args: () => ['export-state-dict', '--base_model', at('model-garbage-config'), '--output_dir', at('s3')],
    names: () => at('model-garbage-config', 'config.json'),
  },
  {
    what: 'quantize: missing model',
    args: () => ['quantize', '--model', at('nowhere'), '--output', at('q1.gguf')],
    names: () => at('nowhere'),
  },
  {
    what: 'quantize: garbage weights',
    args: () => ['quantize', '--model', at('model-garbage-weights'), '--output', at('q2.gguf')],
    names: () => at('model-garbage-weights', 'model.safetensors'),
  },
  {
    what: 'quantize: truncated adapter',
    args: () => ['quantize', '--base_model', M, '--lora_weights', at('adapter-trunc-weights'), '--output', at('q3.gguf')],
    names: () => at('adapter-trunc-weights', 'adapter_model.safetensors'),
  },
  {
    // The demo clears its folder before each run: a folder it did not make is refused, never deleted.
    what: 'demo --output_dir a model folder (other files)',
    args: () => ['demo', '--output_dir', M, ...cpu],
    names: () => `${M}: holds`,
  },
  {
    what: 'quantize: neither model nor base_model',
    args: () => ['quantize', '--output', at('q4.gguf')],
    names: () => 'quantize needs model, or base_model with lora_weights',
  },
];

/** Run the cases two at a time: each is a process of its own, and the machine has few cores. */
async function runAll(cases: Case[], concurrency = 2): Promise<Map<Case, Awaited<ReturnType<typeof cli>>>> {
  const results = new Map<Case, Awaited<ReturnType<typeof cli>>>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < cases.length) {
        const c = cases[next++];
        results.set(c, await cli(c.args()));
      }
    }),
  );
  return results;
}

describe('every command answers bad input with one clear line', () => {
  const runnable = CASES.filter((c) => !c.mount || !noMount());
  let results: Map<Case, Awaited<ReturnType<typeof cli>>>;
  beforeAll(async () => {
    results = await runAll(runnable);
  }, 600_000);

  it.each(runnable.map((c) => [c.what, c] as const))('%s', (_what, c) => {
    const r = results.get(c)!;
    const all = `${r.stdout}\n${r.stderr}`;
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors, all).toHaveLength(1);
    const names = c.names();
    if (typeof names === 'string') expect(errors[0]).toContain(names);
    else expect(errors[0]).toMatch(names);
    expect(r.status, all).toBe(1);
    expect(all).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m); // a stack frame
    expect(all).not.toMatch(/unexpected error/i);
  });

  it('inspect lists the problems of a broken model folder by file (its report, exit 2), without a stack', async () => {
    const r = await cli(['inspect', at('model-trunc-weights')]);
    expect(r.status).toBe(2);
    expect(r.stdout).toContain(at('model-trunc-weights', 'model.safetensors'));
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/unexpected error/i);
  });
});
