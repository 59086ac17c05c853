import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeSyntheticAdapter } from '../../main/engine/synthetic/synthetic-adapter.ts';
import { DEMO_SHAPE, writeSyntheticModel, type SyntheticShape } from '../../main/engine/synthetic/synthetic-model.ts';
import { workFolder } from './work-folder.ts';

/**
 * What the folder-ownership tests (races, interrupts, overwrite) work on, written by the tests themselves: the demo's
 * tiny model with an adapter and rows, and a wider model whose merge takes long enough (a second or two) for a
 * second writer, a user's file or a signal to land in the middle of it.
 */
export interface OwnershipFixtures {
  at: (...p: string[]) => string;
  model: string;
  adapter: string;
  data: string;
  wideModel: string;
  wideAdapter: string;
}

/** 4 layers of width 1024 in bf16 (~120 MB): a merge streams for a second or two. */
const WIDE_SHAPE: SyntheticShape = {
  hidden_size: 1024,
  intermediate_size: 2816,
  num_hidden_layers: 4,
  num_attention_heads: 16,
  num_key_value_heads: 4,
  vocab_size: 8000,
  tie_word_embeddings: false,
  max_position_embeddings: 512,
};

export async function ownershipFixtures(name: string): Promise<OwnershipFixtures> {
  const work = workFolder(name);
  const at = (...p: string[]) => path.join(work, ...p);
  const alphabet = { alphabet: 'abcdefghijklmnopqrstuvwxyz ' };
  await writeSyntheticModel(at('model'), DEMO_SHAPE, alphabet);
  await writeSyntheticAdapter(at('adapter'), at('model'), { r: 2, targetModules: ['q_proj', 'v_proj'], seed: 3 });
  await writeSyntheticModel(at('wide-model'), WIDE_SHAPE, alphabet, { dtype: 'BF16' });
  await writeSyntheticAdapter(at('wide-adapter'), at('wide-model'), { r: 4, targetModules: ['q_proj', 'v_proj'], seed: 3 });
  const rows = Array.from({ length: 16 }, (_, i) => ({ instruction: `say ${i % 7}`, input: '', output: 'abc' }));
  writeFileSync(at('data.json'), JSON.stringify(rows));
  return {
    at,
    model: at('model'),
    adapter: at('adapter'),
    data: at('data.json'),
    wideModel: at('wide-model'),
    wideAdapter: at('wide-adapter'),
  };
}

/** Every file under `dir` (relative path → SHA-256), to prove a folder untouched or two outputs the same. */
export function treeHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = path.join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else out[path.relative(dir, full)] = createHash('sha256').update(readFileSync(full)).digest('hex');
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** The hidden entries beside or inside an output: temp folders, locks, trash (what an interrupt may leave). */
export function hiddenIn(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('.')) : [];
}

/** finetune flags for a short run of the tiny model on the CPU. */
export function finetuneArgs(f: OwnershipFixtures, out: string, ...more: string[]): string[] {
  return [
    'finetune',
    '--base_model',
    f.model,
    '--data_path',
    f.data,
    '--output_dir',
    out,
    '--val_set_size',
    '0',
    '--batch_size',
    '4',
    '--micro_batch_size',
    '4',
    '--cutoff_len',
    '32',
    '--warmup_steps',
    '0',
    '--logging_steps',
    '1',
    '--save_steps',
    '2',
    '--save_total_limit',
    '0',
    '--backend',
    'cpu',
    ...more,
  ];
}

/** The lines of a run's metrics.jsonl, parsed. */
export function metricLines(runDir: string): { type: string; step?: number }[] {
  const file = path.join(runDir, 'metrics.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}
