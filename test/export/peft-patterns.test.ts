import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { Prng } from '../../main/engine/data/prng.ts';
import { peftKey, readPeftAdapter, writePeftAdapter, type AdapterTensor } from '../../main/engine/formats/peft-adapter.ts';
import { planAdapter, adapterConfigSchema } from '../../main/engine/formats/peft-config.ts';
import { openSafetensors } from '../../main/engine/formats/safetensors.ts';
import { loadLlamaConfig, type LlamaConfig } from '../../main/engine/llama/config.ts';
import { projectionShape } from '../../main/engine/llama/projections.ts';
import { loadModel, type LoadedModel } from '../../main/engine/model/load.ts';
import { writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { runCli } from '../helpers/cli-process.ts';
import { PYTHON } from '../helpers/torch.ts';
import { TINY_ALPHABET, TINY_SHAPE } from '../helpers/synthetic.ts';

/**
 * adapter_config.json's alpha_pattern, rank_pattern, layers_to_transform, layers_pattern, exclude_modules and regex
 * target_modules, applied as PEFT applies them: each case writes an adapter (random weights, each module's rank as
 * the config gives it), merges it with the real `merge` command, and compares the result with a NumPy merge
 * (test/reference/peft_merge.py) that works out from the config alone, with Python's own regexes, which modules carry
 * LoRA and with what rank and scale. Generation (the adapter as a projection, not merged) is held to the same merge.
 */

const work = mkdtempSync(path.join(tmpdir(), 'peft-patterns-'));
const BASE = path.join(work, 'base');
let base: LlamaConfig;

beforeAll(async () => {
  await writeSyntheticModel(BASE, TINY_SHAPE, { alphabet: TINY_ALPHABET }, { seed: 11 });
  base = await loadLlamaConfig(BASE);
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Write an adapter for `config`: the modules and ranks our reader plans (the NumPy side checks they are PEFT's). */
async function writeAdapter(dir: string, config: Record<string, unknown>, seed: number): Promise<void> {
  const full = { peft_type: 'LORA', task_type: 'CAUSAL_LM', lora_dropout: 0, bias: 'none', ...config };
  const plan = planAdapter(full, adapterConfigSchema.parse(full), base, 'adapter_config.json');
  const prng = new Prng(seed);
  const uniform = (n: number, bound: number) => Float32Array.from({ length: n }, () => (2 * prng.next() - 1) * bound);
  const tensors: AdapterTensor[] = [...plan.modules.values()].map((m) => {
    const [out, inF] = projectionShape(base, m.name);
    return {
      key: peftKey(m.layer, m.name),
      a: uniform(m.r * inF, 1 / Math.sqrt(inF)),
      b: uniform(out * m.r, 0.1),
      aShape: [m.r, inF],
      bShape: [out, m.r],
    };
  });
  await writePeftAdapter(dir, full as never, tensors);
}

function run(cmd: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

interface Case {
  what: string;
  config: Record<string, unknown>;
  /** Scales the NumPy side must find (module name → alpha / r), proving the pattern took effect. */
  scales: Record<string, number>;
  /** Modules NumPy must find adapted (all of them, sorted), when the case restricts them. */
  adapted?: string[];
}

const L = (layer: number, proj: string) =>
  `model.layers.${layer}.${proj.endsWith('proj') && /^[qkvo]/.test(proj) ? 'self_attn' : 'mlp'}.${proj}`;

const CASES: Case[] = [
  {
    // The reproduction: alpha_pattern {"v_proj": 64} merged as if it were absent.
    what: 'alpha_pattern on v_proj',
    config: { r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'], alpha_pattern: { v_proj: 64 } },
    scales: { [L(0, 'q_proj')]: 2, [L(0, 'v_proj')]: 8, [L(4, 'v_proj')]: 8 },
  },
  {
    // rank and alpha looked up separately (peft >= 0.14); a full-name key beats nothing, a suffix key matches at a dot.
    what: 'rank_pattern and alpha_pattern with suffix and full-name keys',
    config: {
      r: 4,
      lora_alpha: 8,
      target_modules: ['q_proj', 'v_proj', 'down_proj'],
      rank_pattern: { q_proj: 2, 'model.layers.1.self_attn.v_proj': 6 },
      alpha_pattern: { 'layers.0.self_attn.q_proj': 3, 'mlp\\.down_proj': 1 },
    },
    scales: { [L(0, 'q_proj')]: 1.5, [L(1, 'q_proj')]: 4, [L(1, 'v_proj')]: 8 / 6, [L(2, 'v_proj')]: 2, [L(3, 'down_proj')]: 0.25 },
  },
  {
    what: 'layers_to_transform with layers_pattern',
    config: { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'up_proj'], layers_to_transform: [0, 3], layers_pattern: 'layers' },
    scales: { [L(0, 'q_proj')]: 2 },
    adapted: [L(0, 'q_proj'), L(0, 'up_proj'), L(3, 'q_proj'), L(3, 'up_proj')],
  },
  {
    what: 'layers_to_transform as one index, no layers_pattern',
    config: { r: 2, lora_alpha: 4, target_modules: ['o_proj', 'gate_proj'], layers_to_transform: 2 },
    scales: { [L(2, 'o_proj')]: 2 },
    adapted: [L(2, 'gate_proj'), L(2, 'o_proj')],
  },
  {
    what: 'a regex target_modules with exclude_modules, rsLoRA with alpha_pattern',
    config: {
      r: 4,
      lora_alpha: 8,
      use_rslora: true,
      target_modules: '.*\\.(q|v)_proj',
      exclude_modules: ['model.layers.0.self_attn.v_proj', 'k_proj'],
      alpha_pattern: { 'layers\\.[34]\\.self_attn\\.q_proj': 2 },
    },
    scales: { [L(0, 'q_proj')]: 4, [L(3, 'q_proj')]: 1, [L(4, 'q_proj')]: 1 },
  },
];

describe('PEFT adapter_config patterns, merged as PEFT merges them (checked against NumPy)', () => {
  it.each(CASES.map((c, i) => [c.what, c, i] as const))(
    '%s',
    async (_what, c, i) => {
      const adapter = path.join(work, `adapter-${i}`);
      await writeAdapter(adapter, c.config, 100 + i);
      const ours = path.join(work, `merged-${i}`);
      const cli = await runCli(['merge', '--base_model', BASE, '--lora_weights', adapter, '--output_dir', ours, '--dtype', 'f32']);
      expect(cli.code, cli.stderr).toBe(0);
      const reference = path.join(work, `reference-${i}.safetensors`);
      const py = await run(PYTHON, ['test/reference/peft_merge.py', BASE, adapter, reference]);
      expect(py.status, py.stderr).toBe(0);
      const figures = JSON.parse(py.stdout) as { adapted: string[]; scales: Record<string, number> };
      for (const [name, scale] of Object.entries(c.scales)) expect(figures.scales[name], name).toBeCloseTo(scale, 12);
      if (c.adapted) expect([...figures.adapted].sort()).toEqual([...c.adapted].sort());

      const mine = await openSafetensors(path.join(ours, 'model.safetensors'));
      const theirs = await openSafetensors(reference);
      try {
        let worst = 0;
        for (const t of theirs.list()) {
          if (t.name === 'lm_head.weight' && !mine.has(t.name)) continue; // tied: not written
          const a = await mine.readF32(t.name);
          const b = await theirs.readF32(t.name);
          for (let j = 0; j < a.length; j++) worst = Math.max(worst, Math.abs(a[j] - b[j]) / Math.max(1, Math.abs(b[j])));
        }
        // Ours sums B·A in f64 and rounds once, as NumPy's f64 merge does: the same f32 up to a rounding tie.
        expect(worst).toBeLessThan(1e-6);
      } finally {
        await Promise.all([mine.close(), theirs.close()]);
      }
    },
    300_000,
  );

  it('generation applies the same patterns: base + adapter gives the logits of the NumPy-merged model', async () => {
    await initBackend('cpu');
    const c = CASES[1];
    const adapter = path.join(work, 'adapter-1');
    const mergedDir = path.join(work, 'numpy-merged');
    cpSync(BASE, mergedDir, { recursive: true });
    const py = await run(PYTHON, ['test/reference/peft_merge.py', BASE, adapter, path.join(mergedDir, 'model.safetensors')]);
    expect(py.status, `${c.what}: ${py.stderr}`).toBe(0);
    const withAdapter = await loadModel(BASE, { loraWeights: adapter });
    const merged = await loadModel(mergedDir);
    const plain = await loadModel(BASE);
    const logits = (m: LoadedModel, projection = m.adapter?.projection()) =>
      tf.tidy(() => m.model.forward(tf.tensor2d([[1, 40, 41, 42, 43, 44]], [1, 6], 'int32'), { projection }));
    const a = logits(withAdapter);
    const b = logits(merged);
    const p = logits(plain);
    const scale = tf.max(tf.abs(b)).dataSync()[0];
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / scale).toBeLessThan(1e-5);
    expect(tf.max(tf.abs(tf.sub(p, b))).dataSync()[0]).toBeGreaterThan(1e-3); // the adapter matters
    withAdapter.adapter?.dispose();
  }, 120_000);
});

describe('adapter_config fields that change the math and cannot be applied are refused by name', () => {
  const TABLE: [string, Record<string, unknown>, RegExp][] = [
    ['use_dora', { use_dora: true }, /use_dora is set: DoRA/],
    ['lora_bias', { lora_bias: true }, /lora_bias is set/],
    ['modules_to_save', { modules_to_save: ['lm_head'] }, /modules_to_save is set/],
    ['trainable_token_indices', { trainable_token_indices: [5] }, /trainable_token_indices is set/],
    ['layer_replication', { layer_replication: [[0, 2]] }, /layer_replication is set/],
    ['alora_invocation_tokens', { alora_invocation_tokens: [3, 4] }, /alora_invocation_tokens is set/],
    [
      'a PiSSA init (the base was changed)',
      { init_lora_weights: 'pissa_niter_4' },
      /init_lora_weights "pissa_niter_4" changed the base weights/,
    ],
    ['an unknown field that holds a value', { lora_magic: { boost: 2 } }, /unknown field lora_magic .*refuses rather than ignore it/],
    ['a layers_pattern that names no layer', { layers_to_transform: [0], layers_pattern: 'h' }, /adapts no module of this model/],
    [
      'layers_to_transform with a regex target',
      { target_modules: '.*q_proj', layers_to_transform: [0] },
      /layers_to_transform cannot be used when target_modules is a regex/,
    ],
    [
      'a plain name as a string target (a regex PEFT matches against the whole name)',
      { target_modules: 'q_proj' },
      /write a list \(\["q_proj"\]\)/,
    ],
    ['an absurd lora_alpha', { lora_alpha: 1e39 }, /lora_alpha 1e\+39 \/ r 4 = 2\.50e\+38 is outside the range/],
    [
      'an absurd alpha_pattern',
      { alpha_pattern: { q_proj: 1e-9 } },
      /model\.layers\.0\.self_attn\.q_proj: the LoRA scale lora_alpha 1e-9 \/ r 4/,
    ],
  ];
  it.each(TABLE)('%s', async (_what, patch, error) => {
    const dir = path.join(work, `refused-${_what.replace(/\W+/g, '-')}`);
    await writeAdapter(dir, { r: 4, lora_alpha: 8, target_modules: ['q_proj'] }, 7);
    const file = path.join(dir, 'adapter_config.json');
    const config = { peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj'], ...patch };
    writeFileSync(file, JSON.stringify(config));
    await expect(readPeftAdapter(dir, base)).rejects.toThrow(error);
  });

  it('fields that change nothing at inference are dropped with a warning, or kept quietly', async () => {
    const dir = path.join(work, 'inert');
    await writeAdapter(dir, { r: 4, lora_alpha: 8, target_modules: ['q_proj'] }, 8);
    const file = path.join(dir, 'adapter_config.json');
    const config = {
      peft_type: 'LORA',
      r: 4,
      lora_alpha: 8,
      target_modules: ['q_proj'],
      peft_version: '0.17.0',
      revision: null,
      eva_config: { rho: 2 },
      use_dora: false,
      layer_replication: null,
      some_future_flag: null,
    };
    writeFileSync(file, JSON.stringify(config));
    const loaded = await readPeftAdapter(dir, base);
    expect(loaded.warnings).toEqual([
      `${file}: eva_config only matters while an adapter is created or trained; dropped`,
      `${file}: unknown field some_future_flag holds no value; dropped`,
    ]);
    expect(loaded.modules.size).toBe(base.numLayers);
  });
});
