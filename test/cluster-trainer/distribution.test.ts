import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { PROJECTIONS } from '../../main/engine/llama/projections.ts';
import { prepareRunBundle } from '../../main/engine/train/prepared-run.ts';
import {
  freePort,
  lossCurve,
  metricLines,
  maxRelative,
  readTensors,
  relativeFrobenius,
  runSrunStyle,
  runTorchrun,
  runTrainer,
  trainerArgs,
} from '../helpers/cluster-trainer.ts';
import { TINY_ALPHABET, TINY_SHAPE, tinyAlpacaRows } from '../helpers/synthetic.ts';
import { missingTorch } from '../helpers/torch.ts';
import { workFolder } from '../helpers/work-folder.ts';

// The global batch is the same whatever the world size: ranks take disjoint slices of it and accumulation makes up
// the rest. Two gloo processes (torchrun, with the README's launch line for Debian's torchrun on Python 3.11, and
// plain-srun style) against one process, on CPUs.
const tmp = (name: string) => workFolder(`cluster-dist-${name}`);
let model: string;
let data: string;

async function bundle(microBatchSize: number, trainOnInputs: boolean): Promise<string> {
  const dir = path.join(tmp('bundle'), 'bundle');
  await prepareRunBundle(
    {
      base_model: model,
      data_path: data,
      prompt_template_name: 'alpaca_short',
      batch_size: 8,
      micro_batch_size: microBatchSize,
      cutoff_len: 128, // the rows are 70–100 tokens: every micro-batch is left-padded
      train_on_inputs: trainOnInputs,
      val_set_size: 8,
      lora_r: 4,
      lora_dropout: 0,
      lora_target_modules: [...PROJECTIONS],
      learning_rate: 3e-3,
      warmup_steps: 1,
      max_steps: 6,
      logging_steps: 1,
      eval_steps: 3,
      save_steps: 0,
    },
    dir,
  );
  return dir;
}

async function compare(a: string, b: string) {
  const [ca, cb] = [lossCurve(a), lossCurve(b)];
  expect(ca.loss.size).toBe(6);
  const [ta, tb] = await Promise.all([
    readTensors(`${a}/adapter/adapter_model.safetensors`),
    readTensors(`${b}/adapter/adapter_model.safetensors`),
  ]);
  return { loss: maxRelative(ca.loss, cb.loss), evalLoss: maxRelative(ca.evalLoss, cb.evalLoss), adapter: relativeFrobenius(ta, tb) };
}

const fmt = (f: { loss: number; evalLoss: number; adapter: number }) =>
  `loss ${f.loss.toExponential(2)}, validation loss ${f.evalLoss.toExponential(2)}, adapter ${f.adapter.toExponential(2)}`;

describe.skipIf(missingTorch())('the cluster trainer over several processes', () => {
  beforeAll(async () => {
    model = path.join(tmp('model'), 'gqa-bias');
    await writeSyntheticModel(model, { ...TINY_SHAPE, attention_bias: true }, { alphabet: TINY_ALPHABET });
    data = path.join(tmp('data'), 'alpaca.json');
    writeFileSync(data, JSON.stringify(tinyAlpacaRows(40)));
  });

  it(
    'torchrun --nproc_per_node 2 with micro-batches of 2 trains as one process with micro-batches of 4',
    { timeout: 300_000 },
    async () => {
      const [two, four] = [await bundle(2, false), await bundle(4, false)];
      const single = path.join(tmp('run'), 'one');
      const spread = path.join(tmp('run'), 'two');
      const r1 = await runTrainer(trainerArgs(four, single, model));
      expect(r1.code, r1.stderr).toBe(0);
      const r2 = await runTorchrun(2, await freePort(), trainerArgs(two, spread, model));
      expect(r2.code, r2.stderr).toBe(0);
      expect(r2.stdout).toContain('2 processes over gloo (torchrun)');
      expect(r2.stdout).toContain('global batch 8 = 2 processes × micro-batch 2 × 2 accumulated');
      const f = await compare(spread, single);
      // The micro-batches are padded differently (2 rows against 4); positions are 0..T-1 from the left edge, so a row
      // sits at other absolute positions, and RoPE only sees their differences: rounding is all that may differ.
      console.log(`2 ranks × micro 2 against 1 × micro 4 (prompts masked): ${fmt(f)}`);
      expect(f.loss).toBeLessThan(1e-5);
      expect(f.evalLoss).toBeLessThan(1e-5);
      expect(f.adapter).toBeLessThan(1e-4);
    },
  );

  it(
    "bf16 autocast (PyTorch's CPU autocast here: the code path GPUs take) trains to the f32 curve within bf16's rounding",
    { timeout: 300_000 },
    async () => {
      const b = await bundle(4, true);
      const [f32, bf16] = [path.join(tmp('run'), 'f32'), path.join(tmp('run'), 'bf16')];
      expect((await runTrainer(trainerArgs(b, f32, model))).code).toBe(0);
      const r = await runTrainer(trainerArgs(b, bf16, model, ['--precision', 'bf16']));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('bf16 autocast');
      const f = await compare(bf16, f32);
      console.log(`bf16 autocast against f32: ${fmt(f)}`);
      expect(f.loss).toBeLessThan(2e-2); // bf16 keeps 8 bits of mantissa: ~4e-3 per rounding
      expect(f.loss).toBeGreaterThan(0); // it did compute in bf16
    },
  );

  it(
    'rows that keep no token: 2 ranks over the sharded base skip what one process skips, and end with its adapter',
    { timeout: 300_000 },
    async () => {
      // Every other row's prompt fills cutoff_len and prompts are masked: micro-batches of one such row have nothing to
      // train on. A rank whose share of a step is all skipped still joins every layer's gathers (an empty micro-batch).
      const rows = tinyAlpacaRows(48).map((r, i) =>
        i % 2 ? r : { ...r, instruction: `${'Say nothing yet. '.repeat(12)}${r.instruction}` },
      );
      const lost = path.join(tmp('data'), 'half-lost.json');
      writeFileSync(lost, JSON.stringify(rows));
      const dir = path.join(tmp('bundle'), 'bundle');
      await prepareRunBundle(
        {
          base_model: model,
          data_path: lost,
          prompt_template_name: 'alpaca_short',
          train_on_inputs: false,
          batch_size: 4,
          micro_batch_size: 1,
          cutoff_len: 128,
          val_set_size: 8,
          lora_dropout: 0,
          learning_rate: 3e-3,
          warmup_steps: 0,
          max_steps: 6,
          logging_steps: 1,
          eval_steps: 0,
          save_steps: 0,
        },
        dir,
      );
      const [one, two] = [path.join(tmp('run'), 'one'), path.join(tmp('run'), 'two')];
      expect((await runTrainer(trainerArgs(dir, one, model))).code).toBe(0);
      const r = await runTorchrun(2, await freePort(), trainerArgs(dir, two, model, ['--parallel', 'fsdp']));
      expect(r.code, r.stderr).toBe(0);
      const skips = (run: string) => metricLines(run).flatMap((e) => (e.type === 'step' ? [e.skippedMicroBatches ?? 0] : []));
      expect(skips(two)).toEqual(skips(one));
      expect(skips(one).reduce((a, b) => (a as number) + (b as number), 0)).toBeGreaterThan(0);
      const f = await compare(two, one);
      console.log(`rows that keep no token, 2 ranks (sharded base) against 1: ${fmt(f)}`);
      expect(f.loss).toBeLessThan(1e-5);
      expect(f.adapter).toBeLessThan(1e-4);
    },
  );

  it(
    'with the prompts trained on: 2 ranks equal 1 process at the same micro-batch; DDP equals the sharded base with checkpointing',
    { timeout: 300_000 },
    async () => {
      const two = await bundle(2, true);
      const single = path.join(tmp('run'), 'one');
      const ddp = path.join(tmp('run'), 'ddp');
      const fsdp = path.join(tmp('run'), 'fsdp');
      expect((await runTrainer(trainerArgs(two, single, model))).code).toBe(0);
      const r = await runTorchrun(2, await freePort(), trainerArgs(two, ddp, model));
      expect(r.code, r.stderr).toBe(0);
      // srun's way (no torchrun): SLURM_PROCID / SLURM_NTASKS, MASTER_ADDR / MASTER_PORT from the batch script.
      // With gradient checkpointing too: each layer recomputed in the backward, gathers and all.
      const ranks = await runSrunStyle(
        2,
        await freePort(),
        trainerArgs(two, fsdp, model, ['--parallel', 'fsdp', '--gradient_checkpointing', 'on']),
      );
      for (const x of ranks) expect(x.code, x.stderr).toBe(0);
      expect(ranks[0].stdout).toContain('2 processes over gloo (srun), FSDP');
      expect(ranks[0].stdout).toContain('gradient checkpointing on');
      const f = await compare(ddp, single);
      console.log(`2 ranks × micro 2 against 1 × micro 2 accumulating 4: ${fmt(f)}`);
      expect(f.loss).toBeLessThan(1e-5);
      expect(f.adapter).toBeLessThan(1e-4);
      // The sharded base gathers the very same weights, and a recomputed layer repeats its forward: the same
      // arithmetic, bit for bit here.
      const g = await compare(fsdp, ddp);
      console.log(`sharded base + gradient checkpointing (srun) against DDP (torchrun): ${fmt(g)}`);
      expect(g).toEqual({ loss: 0, evalLoss: 0, adapter: 0 });

      // What left padding does when the prompts are trained on (not asserted: it is the local trainer's behaviour too).
      // A padded row's last padding position predicts the row's first token (HF's shift over DataCollatorForSeq2Seq's
      // left padding, as in Alpaca-LoRA), from a position that attends uniformly to every key, padding included: that
      // target exists only in padded rows and its loss depends on the amount of padding, i.e. on the micro-batch size.
      const four = await bundle(4, true);
      const quad = path.join(tmp('run'), 'four');
      expect((await runTrainer(trainerArgs(four, quad, model))).code).toBe(0);
      console.log(`2 ranks × micro 2 against 1 × micro 4, prompts trained on: ${fmt(await compare(ddp, quad))}`);
    },
  );
});
