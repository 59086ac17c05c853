import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticAdapter } from '../../main/engine/synthetic/synthetic-adapter.ts';
import { DEMO_SHAPE, writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { Prng } from '../../main/engine/data/prng.ts';
import { poisonedCopy } from '../helpers/poison.ts';
import { mountTmpfs, noMount, type TestMount } from '../helpers/tmpfs.ts';
import { runCli, type CliRun } from '../helpers/cli-process.ts';

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
/** The tiny model's embedding rows (config.json vocab_size). */
let vocab = 0;

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
/** A copy of a folder with one of its files replaced by a real FIFO (named pipe). */
function withFifo(from: string, name: string, file: string): string {
  const dir = at(name);
  cpSync(from, dir, { recursive: true });
  rmSync(path.join(dir, file));
  execFileSync('mkfifo', [path.join(dir, file)]);
  return dir;
}
/** A copy of a folder with a JSON file changed. */
function withJson(from: string, name: string, file: string, edit: (json: Record<string, unknown>) => void): string {
  const dir = at(name);
  cpSync(from, dir, { recursive: true });
  const json = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  edit(json);
  writeFileSync(path.join(dir, file), JSON.stringify(json));
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

  // Inputs that stall or kill (issue 23): FIFOs where files belong, NaN and Inf weights, values past a target's range,
  // a scale that is a typo, a window the engine does not apply, a token the embedding has no row for.
  withFifo(M, 'model-fifo-config', 'config.json');
  withFifo(M, 'model-fifo-tokenizer', 'tokenizer.json');
  withFifo(A, 'adapter-fifo-config', 'adapter_config.json');
  withFifo(A, 'adapter-fifo-weights', 'adapter_model.safetensors');
  for (const f of ['data.fifo', 'template.fifo', 'settings.fifo']) execFileSync('mkfifo', [at(f)]);
  writeFileSync(at('secret.txt'), 'root:$y$j9T$not-json-at-all:19000:0:99999:7:::\n');
  await poisonedCopy(M, at('model-nan'), 'model.safetensors', 'model.layers.1.mlp.up_proj.weight', [
    [5, NaN],
    [7, NaN],
  ]);
  await poisonedCopy(M, at('model-inf'), 'model.safetensors', 'model.embed_tokens.weight', [[96 * 3 + 2, -Infinity]]);
  await poisonedCopy(M, at('model-1e6'), 'model.safetensors', 'model.layers.0.self_attn.o_proj.weight', [[96 * 2 + 1, 1e6]]);
  await poisonedCopy(M, at('model-1e10'), 'model.safetensors', 'model.layers.0.mlp.down_proj.weight', [[40, 1e10]]);
  await poisonedCopy(A, at('adapter-inf'), 'adapter_model.safetensors', 'base_model.model.model.layers.2.self_attn.v_proj.lora_B.weight', [
    [3, Infinity],
  ]);
  withJson(A, 'adapter-alpha', 'adapter_config.json', (c) => (c.lora_alpha = 1e39));
  withJson(A, 'adapter-unknown', 'adapter_config.json', (c) => (c.lora_magic = { boost: 2 }));
  withJson(M, 'model-mistral', 'config.json', (c) => Object.assign(c, { model_type: 'mistral', sliding_window: 16 }));
  // An added token past the embedding's rows, and a row of data that uses it.
  vocab = (JSON.parse(readFileSync(path.join(M, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size;
  withJson(M, 'model-extra-token', 'tokenizer.json', (t) =>
    (t.added_tokens as object[]).push({
      id: vocab,
      content: '<extra>',
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: false,
    }),
  );
  writeFileSync(
    at('extra-token.json'),
    JSON.stringify([
      ...rows(3),
      { instruction: 'say <extra>', input: '', output: 'abc' },
      ...rows(4).map((r) => ({ ...r, output: 'abd' })),
    ]),
  );
  if (!noMount()) {
    mounts.push(mountTmpfs(64), mountTmpfs(64, true));
  }
});
afterAll(() => mounts.forEach((m) => m.unmount()));

/** `args` are built when the case runs (the mounts exist by then); `names` must appear in the one error line. */
interface Case {
  what: string;
  args: () => string[];
  names: () => string | RegExp;
  /** Needs the tmpfs mounts. */
  mount?: 'full' | 'ro';
  /** What must not appear anywhere in the output (a file's contents). */
  hides?: RegExp;
}

const cpu = ['--backend', 'cpu'];
/** Each finetune case writes a run folder of its own: cases run two at a time, and a run folder has one writer. */
let runFolders = 0;
const ft = (...more: string[]) => [
  'finetune',
  '--base_model',
  M,
  '--data_path',
  DATA,
  '--output_dir',
  at('runs', `r${++runFolders}`),
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

  // Class 3 of issue 23: special files are refused by type, never opened for a blocking read.
  {
    what: 'finetune: the data file is a FIFO',
    args: () => ft('--data_path', at('data.fifo')),
    names: () => `${at('data.fifo')}: cannot read data file (is a FIFO (named pipe)`,
  },
  {
    what: 'finetune: the data file is /dev/zero',
    args: () => ft('--data_path', '/dev/zero'),
    names: () => '/dev/zero: cannot read data file (is a character device',
  },
  {
    what: 'finetune: config.json is a FIFO',
    args: () => ft('--base_model', at('model-fifo-config')),
    names: () => `${at('model-fifo-config', 'config.json')}: is a FIFO`,
  },
  {
    what: 'finetune: tokenizer.json is a FIFO',
    args: () => ft('--base_model', at('model-fifo-tokenizer')),
    names: () => `${at('model-fifo-tokenizer', 'tokenizer.json')}: is a FIFO`,
  },
  {
    what: 'finetune --config a FIFO',
    args: () => ['finetune', '--config', at('settings.fifo')],
    names: () => `${at('settings.fifo')}: cannot read config file (is a FIFO`,
  },
  {
    what: 'generate --prompt_template a FIFO',
    args: () => gen('--prompt_template', at('template.fifo')),
    names: () => `${at('template.fifo')}: is a FIFO`,
  },
  {
    what: 'merge: adapter_config.json is a FIFO',
    args: () => merge(M, at('adapter-fifo-config'), at('m6')),
    names: () => `${at('adapter-fifo-config', 'adapter_config.json')}: is a FIFO`,
  },
  {
    what: 'merge: adapter_model.safetensors is a FIFO',
    args: () => merge(M, at('adapter-fifo-weights'), at('m7')),
    names: () => `${at('adapter-fifo-weights', 'adapter_model.safetensors')}: is a FIFO`,
  },
  {
    what: 'generate --prompt_template a file that is not JSON: named, never quoted',
    args: () => gen('--prompt_template', at('secret.txt')),
    names: () => `${at('secret.txt')}: not valid JSON (an invalid character)`,
    hides: /root|j9T|not-json-at-all/,
  },

  // Class 4: non-finite weights are refused by name wherever they are read; values past a target's range too.
  ...(
    [
      ['finetune', () => ft('--base_model', at('model-nan'))],
      ['generate', () => gen('--base_model', at('model-nan'))],
      ['merge', () => merge(at('model-nan'), A, at('m8'))],
      ['export-state-dict', () => ['export-state-dict', '--base_model', at('model-nan'), '--output_dir', at('s4')]],
      ['quantize gguf-q8_0', () => ['quantize', '--model', at('model-nan'), '--output', at('q5.gguf')]],
      ['quantize int8', () => ['quantize', '--model', at('model-nan'), '--format', 'int8', '--output', at('q6')]],
    ] as const
  ).map(([command, args]) => ({
    what: `${command}: a base with NaN weights`,
    args,
    names: () =>
      `${at('model-nan', 'model.safetensors')}: tensor model.layers.1.mlp.up_proj.weight holds 2 non-finite values (2 NaN, 0 ±Inf; the first at [0, 5])`,
  })),
  {
    what: 'quantize gguf-f16: a base with -Inf in the embedding',
    args: () => ['quantize', '--model', at('model-inf'), '--format', 'gguf-f16', '--output', at('q7.gguf')],
    names: () => 'tensor model.embed_tokens.weight holds 1 non-finite value (0 NaN, 1 ±Inf; the first at [3, 2])',
  },
  {
    what: 'merge: an adapter with Inf in lora_B',
    args: () => merge(M, at('adapter-inf'), at('m9')),
    names: () =>
      `${at('adapter-inf', 'adapter_model.safetensors')}: tensor base_model.model.model.layers.2.self_attn.v_proj.lora_B.weight holds 1 non-finite value`,
  },
  {
    what: 'merge --dtype f16: a finite value past f16 becomes Inf, refused',
    args: () => [...merge(at('model-1e6'), A, at('m10')), '--dtype', 'f16'],
    names: () =>
      /tensor model\.layers\.0\.self_attn\.o_proj\.weight: the value 1000000 at \[2, 1\] becomes Inf in this export: F16 cannot hold it/,
  },
  {
    what: 'quantize gguf-q8_0: a block whose scale overflows f16',
    args: () => ['quantize', '--model', at('model-1e10'), '--output', at('q8.gguf')],
    names: () =>
      /tensor model\.layers\.0\.mlp\.down_proj\.weight: the value 10000000000 at \[0, 40\] becomes Inf in this export: its Q8_0 block scale/,
  },
  {
    what: 'finetune --lora_alpha 1e39',
    args: () => ft('--lora_alpha', '1e39'),
    names: () => 'lora_alpha 1e+39 / r 8 = 1.25e+38 is outside the range',
  },
  {
    what: 'merge: an adapter with lora_alpha 1e39',
    args: () => merge(M, at('adapter-alpha'), at('m11')),
    names: () => 'model.layers.0.self_attn.q_proj: the LoRA scale lora_alpha 1e+39 / r 2 = 5.00e+38 is outside the range',
  },

  // Class 5: an adapter_config field that changes the math and cannot be applied is refused by name.
  {
    what: 'merge: an unknown adapter_config field with a value',
    args: () => merge(M, at('adapter-unknown'), at('m12')),
    names: () => 'unknown field lora_magic',
  },

  // Class 6 and the weak items.
  {
    what: 'finetune: a token past the embedding, used in the data',
    args: () => ft('--base_model', at('model-extra-token'), '--data_path', at('extra-token.json')),
    names: () => `${at('extra-token.json')}: row 4: token "<extra>" (id ${vocab}) has no row in the model's embedding, which has ${vocab}`,
  },
  {
    what: 'generate: a token past the embedding in the prompt',
    args: () => gen('--base_model', at('model-extra-token'), '--instruction', 'say <extra>'),
    names: () => `the prompt holds token id ${vocab}, which has no row in the model's embedding (${vocab} rows`,
  },
  {
    what: "finetune: cutoff_len past a Mistral model's sliding_window",
    args: () => ft('--base_model', at('model-mistral'), '--cutoff_len', '32'),
    names: () => "cutoff_len 32 is above the model's sliding_window of 16 tokens",
  },
  {
    what: 'quantize: neither model nor base_model',
    args: () => ['quantize', '--output', at('q4.gguf')],
    names: () => 'quantize needs model, or base_model with lora_weights',
  },
];

/** Run the cases two at a time: each is a process of its own, and the machine has few cores. */
async function runAll(cases: Case[], concurrency = 2): Promise<Map<Case, CliRun>> {
  const results = new Map<Case, CliRun>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < cases.length) {
        const c = cases[next++];
        results.set(c, await runCli(c.args()));
      }
    }),
  );
  return results;
}

describe('every command answers bad input with one clear line', () => {
  const runnable = CASES.filter((c) => !c.mount || !noMount());
  let results: Map<Case, CliRun>;
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
    expect(r.code, all).toBe(1);
    expect(all).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m); // a stack frame
    expect(all).not.toMatch(/unexpected error/i);
    if (c.hides) expect(all).not.toMatch(c.hides);
  });

  it('a refused export leaves no output behind', () => {
    for (const out of ['m8', 's4', 'q5.gguf', 'q6', 'q7.gguf', 'm9', 'm10', 'q8.gguf', 'm11', 'm12'])
      expect(existsSync(at(out)), out).toBe(false);
  });

  it.each(['config.json', 'tokenizer.json'])('inspect: a FIFO as %s is named by type, never read (exit 2, its report)', async (file) => {
    const dir = at(`model-fifo-${file === 'config.json' ? 'config' : 'tokenizer'}`);
    const r = await runCli(['inspect', dir]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain(`${path.join(dir, file)}: is a FIFO (named pipe), not a regular file`);
  });

  it('inspect warns of a tokenizer with fewer tokens than the embedding has rows', async () => {
    // Embeddings padded past the tokenizer, as many released checkpoints have them (rows for no token).
    const wide = at('model-wide');
    await writeSyntheticModel(wide, { ...DEMO_SHAPE, vocab_size: vocab + 64 }, { copyFrom: M });
    const r = await runCli(['inspect', wide]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain(
      `warning: ${path.join(wide, 'tokenizer.json')}: ${vocab} tokens, fewer than the ${vocab + 64} rows of the embedding`,
    );
  });

  it('inspect lists the problems of a broken model folder by file (its report, exit 2), without a stack', async () => {
    const r = await runCli(['inspect', at('model-trunc-weights')]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain(at('model-trunc-weights', 'model.safetensors'));
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/unexpected error/i);
  });
});
