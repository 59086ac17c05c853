import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { AdamW, ADAMW_DEFAULTS } from '../../main/engine/train/adamw.ts';
import { readPeftAdapter, writePeftAdapter, makeAdapterConfig, peftKey } from '../../main/engine/formats/peft-adapter.ts';
import { loadLlamaConfig } from '../../main/engine/llama/config.ts';
import { projectionShape } from '../../main/engine/llama/projections.ts';
import { LoraAdapter } from '../../main/engine/model/lora.ts';
import { runFinetune } from '../../main/engine/train/finetune.ts';
import type { TrainingEvent } from '../../main/engine/train/reports.ts';
import { restoreCheckpoint, TRAINER_STATE } from '../../main/engine/train/run-state.ts';
import { poisonedCopy } from '../helpers/poison.ts';
import { runCli } from '../helpers/cli-process.ts';
import { tinyRunSetup } from '../helpers/tiny-run.ts';

/**
 * Training fed what used to kill it or mislead: a 200 MB data file of one row (V8 out of memory, exit 134), a 20 MB row
 * at cutoff_len 32 (146 s and 4.3 GB: the whole row was tokenized), thousands of rows tokenized with no word of
 * progress, a base whose activations overflow (the NaN stop blamed the learning rate), and a checkpoint whose
 * adapter_config.json says another scale than the run trains with. Peak RSS is the real process's (VmHWM).
 */

let setup: Awaited<ReturnType<typeof tinyRunSetup>>;
const GIB = 2 ** 30;

const cli = (args: string[]) => runCli(args, { peakRss: true, timeoutMs: 300_000 });

beforeAll(async () => {
  setup = await tinyRunSetup();
  await initBackend('wasm', { threads: 1 });
}, 120_000);
afterAll(() => rmSync(setup.work, { recursive: true, force: true }));

const ft = (data: string, out: string, ...more: string[]) => [
  'finetune',
  '--base_model',
  setup.baseModel,
  '--data_path',
  data,
  '--output_dir',
  out,
  '--val_set_size',
  '0',
  '--backend',
  'wasm',
  '--threads',
  '1',
  ...more,
];

describe('data that used to kill or stall training', () => {
  it('a 200 MB file of one row: refused naming the row, in a process that stays under 1 GiB', async () => {
    const file = path.join(setup.work, 'one-row-200mb.json');
    writeFileSync(file, `[{"instruction": "repeat", "input": "", "output": "${'a b c '.repeat(Math.ceil((200 * 2 ** 20) / 6))}"}]`);
    try {
      const r = await cli(ft(file, path.join(setup.work, 'big')));
      console.log(`finetune on a 200 MB one-row file: peak RSS ${(r.peakRss / 2 ** 20).toFixed(0)} MiB`);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(
        `error: ${file}: no usable rows (1 bad; first: row 1: 200.0 MiB, over the 32.0 MiB a row may be; split or shorten it)`,
      );
      expect(r.peakRss).toBeLessThan(GIB);
    } finally {
      rmSync(file);
    }
  }, 300_000);

  it('a 20 MB row at cutoff_len 32 trains, its head tokenized only, in a process that stays under 1 GiB', async () => {
    const file = path.join(setup.work, 'row-20mb.json');
    const rows = [
      { instruction: 'What is the capital of France?', input: '', output: 'Paris '.repeat(Math.ceil((20 * 2 ** 20) / 6)) },
      ...Array.from({ length: 7 }, (_, i) => ({ instruction: `What is the capital of country ${i}?`, input: '', output: 'Paris' })),
    ];
    writeFileSync(file, JSON.stringify(rows));
    try {
      const started = performance.now();
      const r = await cli(
        ft(
          file,
          path.join(setup.work, 'row20'),
          '--cutoff_len',
          '32',
          '--max_steps',
          '2',
          '--warmup_steps',
          '0',
          '--batch_size',
          '4',
          '--micro_batch_size',
          '4',
        ),
      );
      console.log(
        `finetune with a 20 MB row at cutoff_len 32: ${((performance.now() - started) / 1000).toFixed(1)} s, peak RSS ${(r.peakRss / 2 ** 20).toFixed(0)} MiB`,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toMatch(/row 1: more than \d+ tokens, cut to cutoff_len 32/);
      expect(r.peakRss).toBeLessThan(GIB);
    } finally {
      rmSync(file);
    }
  }, 300_000);

  it("reports tokenization progress through the trainer's events", async () => {
    const file = path.join(setup.work, 'rows-3000.json');
    const rows = Array.from({ length: 3000 }, (_, i) => ({
      instruction: `What is the capital of country ${i}?`,
      input: '',
      output: 'Paris',
    }));
    writeFileSync(file, JSON.stringify(rows));
    const events: TrainingEvent[] = [];
    await runFinetune(
      setup.settings({ output_dir: path.join(setup.work, 'progress'), data_path: file, max_steps: 1 }),
      (e) => events.push(e),
      {
        progressMs: 1,
      },
    );
    const counts = events.flatMap((e) => {
      const m = e.type === 'log' ? /^tokenizing: ([\d,]+) of 3,000 rows \([\d.]+ s\)$/.exec(e.message) : null;
      return m ? [Number(m[1].replace(/,/g, ''))] : [];
    });
    expect(counts.length).toBeGreaterThan(1);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(events.some((e) => e.type === 'log' && /^tokenized 3,000 rows in [\d.]+ s$/.test(e.message))).toBe(true);
  }, 300_000);
});

describe("training's NaN stop says whose fault it is", () => {
  it('blames the base, not the learning rate, when the base alone gives a non-finite loss', async () => {
    // A finite norm weight so large that the activations overflow: loaded (it is finite), NaN on the first forward.
    const base = await poisonedCopy(
      setup.baseModel,
      path.join(setup.work, 'overflowing-base'),
      'model.safetensors',
      'model.layers.0.input_layernorm.weight',
      [
        [0, 3e38],
        [1, -3e38],
      ],
    );
    const run = runFinetune(setup.settings({ base_model: base, output_dir: path.join(setup.work, 'nan-base') }), () => {});
    await expect(run).rejects.toThrow(
      /training loss became NaN at step 1, and the base model alone \(without the adapter\) gives a loss of NaN/,
    );
    await expect(run).rejects.not.toThrow(/learning_rate/);
  }, 120_000);

  it('blames the learning rate when the base alone is finite', async () => {
    const run = runFinetune(setup.settings({ output_dir: path.join(setup.work, 'nan-lr'), learning_rate: 1e38, max_steps: 4 }), () => {});
    await expect(run).rejects.toThrow(
      /The base model alone gives a finite loss on this batch, so the adapter diverged: try a lower learning_rate/,
    );
  }, 120_000);
});

describe('resume refuses a checkpoint its run cannot continue', () => {
  it("an alpha_pattern in the checkpoint's adapter_config.json (another scale than the run's) is refused by name", async () => {
    const config = await loadLlamaConfig(setup.baseModel);
    const dir = path.join(setup.work, 'patterned-checkpoint');
    mkdirSync(dir, { recursive: true });
    const settings = { r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj' as const], useRslora: false };
    const zeros = (l: number, name: 'q_proj') => {
      const [out, inF] = projectionShape(config, name);
      return { key: peftKey(l, name), a: new Float32Array(4 * inF), b: new Float32Array(out * 4), aShape: [4, inF], bShape: [out, 4] };
    };
    await writePeftAdapter(
      dir,
      { ...makeAdapterConfig({ baseModel: setup.baseModel, ...settings }), alpha_pattern: { 'layers.1.self_attn.q_proj': 32 } },
      Array.from({ length: config.numLayers }, (_, l) => zeros(l, 'q_proj')),
    );
    writeFileSync(path.join(dir, TRAINER_STATE), JSON.stringify({ position: {}, optimizerStep: 0 }));
    expect((await readPeftAdapter(dir, config)).modules.get('1.q_proj')?.scale).toBe(8); // the pattern is read (32 / 4)
    const adapter = new LoraAdapter(config, settings, (l, name, inF, outF) => ({
      a: new Float32Array(4 * inF),
      b: new Float32Array(outF * 4),
    }));
    const optimizer = new AdamW(adapter.variables, ADAMW_DEFAULTS);
    await expect(restoreCheckpoint(dir, config, adapter, optimizer)).rejects.toThrow(
      /checkpoint's base_model\.model\.model\.layers\.1\.self_attn\.q_proj has LoRA scale 8 .*this run trains with 2/,
    );
    adapter.dispose();
    optimizer.dispose();
  });
});
