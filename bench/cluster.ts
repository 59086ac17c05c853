// `npm run bench -- cluster`: the cluster trainer (cluster-trainer/, PyTorch) on a ~20M synthetic LLaMA, on this
// machine's CPUs. Three figures, each the median of `repeats` runs with the smallest and largest:
// - its single-process step time against the PyTorch reference the training bench already uses (bench/torch_train.py:
//   the same model, micro-batch, sequence, LoRA targets and rank, in plain PyTorch): ≈ 1.0× is the goal, it is PyTorch;
// - tokens/s of a global batch of 8 at 1 rank (micro-batch 4, accumulating 2) and at 2 ranks (torchrun, gloo, one
//   micro-batch of 4 each), all cores shared out between the ranks.
// The trainer reads a bundle like any run's; its examples are random tokens of exactly `seq` (as the reference's
// batches), so both sides train on the same shapes with no padding.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { Prng } from '../main/engine/data/prng.ts';
import { writeSyntheticModel, type SyntheticShape } from '../main/engine/synthetic/synthetic-model.ts';
import { loadLlamaConfig } from '../main/engine/llama/config.ts';
import { parseFinetuneConfig } from '../main/engine/train/config.ts';
import { writeRunBundle } from '../main/engine/train/prepared-run.ts';
import { trainingPlan } from '../main/engine/train/training-data.ts';
import { formatRatio, pairedRatios, spreadOf, type Spread } from './spread.ts';

/** The training bench's ~20M model: 10 layers of hidden 384, tied embeddings over 8192 ids. */
export const SYNTHETIC_20M_SHAPE: SyntheticShape = {
  hidden_size: 384,
  intermediate_size: 1024,
  num_hidden_layers: 10,
  num_attention_heads: 6,
  num_key_value_heads: 6,
  vocab_size: 8192,
  tie_word_embeddings: true,
};

const PYTHON = '/usr/bin/python3';
const TARGETS = ['q_proj', 'v_proj'] as const;
const RANK = 8;

export interface ClusterResults {
  config: string;
  /** Step time of the cluster trainer (one process) / the reference's, per run pair. */
  stepTimeRatio: Spread;
  oursTokensPerSecond: number;
  torchTokensPerSecond: number;
  oneRank: Spread;
  twoRanks: Spread;
  threads: number;
  markdown: string[];
}

export async function benchCluster(root: string, work: string, threads: number, repeats: number, quick: boolean): Promise<ClusterResults> {
  const [micro, seq, steps] = quick ? [2, 64, 4] : [4, 128, 8];
  const dir = path.join(work, 'cluster-20M');
  mkdirSync(dir, { recursive: true });
  const model = path.join(dir, 'model');
  await writeSyntheticModel(model, SYNTHETIC_20M_SHAPE, { alphabet: 'abcdefghijklmnopqrstuvwxyz ' });
  const single = await randomTokenBundle(path.join(dir, 'bundle-b4'), model, micro, micro, seq, steps);
  const global = await randomTokenBundle(path.join(dir, 'bundle-b8'), model, 2 * micro, micro, seq, steps);

  const trainer = path.join(root, 'cluster-trainer/train.py');
  const env = (t: number) => ({ ...process.env, OMP_NUM_THREADS: String(t), OMP_WAIT_POLICY: 'PASSIVE', PYTHONDONTWRITEBYTECODE: '1' });
  const args = (bundle: string, run: string) => [
    trainer,
    '--bundle',
    bundle,
    '--run_dir',
    run,
    '--base_model',
    model,
    '--resume',
    'no',
    '--overwrite',
  ];
  const run = (label: string, cmd: string, argv: string[], t: number, runDir: string) => {
    rmSync(runDir, { recursive: true, force: true });
    const r = spawnSync(cmd, argv, { encoding: 'utf8', env: env(t), maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`cluster bench: ${label} failed (${r.status}): ${r.stderr.slice(-2000)}`);
    return tokensPerSecondAfterWarmup(runDir, 2);
  };
  const reference = () => {
    const r = spawnSync(
      PYTHON,
      [path.join(root, 'bench/torch_train.py'), model, TARGETS.join(','), String(micro), String(seq), String(steps - 2), String(RANK)],
      {
        encoding: 'utf8',
        env: env(threads),
      },
    );
    if (r.status !== 0) throw new Error(`cluster bench: torch_train.py failed (${r.status}): ${r.stderr.slice(-2000)}`);
    return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { tokens_per_second: number }).tokens_per_second;
  };

  const ours: number[] = [];
  const torch: number[] = [];
  const one: number[] = [];
  const two: number[] = [];
  for (let i = 0; i < repeats; i++) {
    torch.push(reference());
    ours.push(run('one process', PYTHON, args(single, path.join(dir, 'run-single')), threads, path.join(dir, 'run-single')));
    one.push(run('1 rank', PYTHON, args(global, path.join(dir, 'run-1')), threads, path.join(dir, 'run-1')));
    const perRank = Math.max(1, Math.floor(threads / 2));
    const line = [
      '-c',
      `trap '' USR1; exec torchrun --nnodes 1 --node_rank 0 --nproc_per_node 2 --master_addr 127.0.0.1 --master_port ${await freePort()} --redirects 9:1 --tee 9:1 ${args(global, path.join(dir, 'run-2')).join(' ')}`,
    ];
    two.push(run('2 ranks (torchrun)', 'bash', line, perRank, path.join(dir, 'run-2')));
  }
  // Step time ratio: ours / the reference's = the reference's tokens/s over ours.
  const stepTimeRatio = pairedRatios(torch, ours);
  const config = `synthetic-20M (${SYNTHETIC_20M_SHAPE.num_hidden_layers} layers, hidden ${SYNTHETIC_20M_SHAPE.hidden_size}), micro-batch ${micro} × ${seq} tokens, LoRA r ${RANK} on ${TARGETS.join(',')}, f32, ${threads} threads`;
  const results = {
    config,
    stepTimeRatio,
    oursTokensPerSecond: spreadOf(ours).median,
    torchTokensPerSecond: spreadOf(torch).median,
    oneRank: spreadOf(one),
    twoRanks: spreadOf(two),
    threads,
  };
  const tps = (s: Spread) => `${s.median.toFixed(0)} tok/s (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;
  return {
    ...results,
    markdown: [
      '| cluster trainer (PyTorch, CPU) | config | one process | bench/torch_train.py | step time ratio (min–max) | global batch 8: 1 rank | 2 ranks (torchrun, gloo) |',
      '|---|---|---|---|---|---|---|',
      `| ${new Date().toISOString().slice(0, 10)} | ${config} | ${results.oursTokensPerSecond.toFixed(0)} tok/s | ${results.torchTokensPerSecond.toFixed(0)} tok/s | ${formatRatio(stepTimeRatio)} | ${tps(results.oneRank)} | ${tps(results.twoRanks)} |`,
      '',
    ],
  };
}

/** A bundle of `steps` global batches of random rows of exactly `seq` tokens, every token trained on. */
async function randomTokenBundle(dir: string, model: string, batch: number, micro: number, seq: number, steps: number): Promise<string> {
  const modelConfig = loadLlamaConfig(model);
  const rows = batch * steps;
  const prng = new Prng(1);
  const train = Array.from({ length: rows }, () => {
    const ids = Array.from({ length: seq }, () => 3 + prng.nextInt(modelConfig.vocabSize - 3));
    return { inputIds: ids, labels: [...ids] };
  });
  const config = parseFinetuneConfig({
    base_model: model,
    data_path: '(random tokens)',
    batch_size: batch,
    micro_batch_size: micro,
    cutoff_len: seq,
    num_epochs: 1,
    val_set_size: 0,
    lora_r: RANK,
    lora_alpha: 16,
    lora_dropout: 0, // the reference has none
    lora_target_modules: [...TARGETS],
    learning_rate: 1e-4,
    warmup_steps: 0,
    logging_steps: 1,
    eval_steps: 0,
    save_steps: 0,
    max_grad_norm: 0, // the reference does not clip
  });
  const plan = trainingPlan(config, rows);
  await writeRunBundle(dir, {
    config,
    base: { path: model, config: modelConfig, checkpointDtype: 'f32' },
    train,
    validation: [],
    epochOrders: [Array.from({ length: rows }, (_, i) => i)],
    plan,
    dataSha256: 'random',
  });
  return dir;
}

/** Tokens per second over the steps after the first `warmup` (as the reference times its steps after two warm-up steps). */
function tokensPerSecondAfterWarmup(runDir: string, warmup: number): number {
  const steps = readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"type": "step"'))
    .map((l) => JSON.parse(l) as { step: number; elapsedMs: number; tokensPerSecond: number });
  const from = steps.find((s) => s.step === warmup)!;
  const to = steps[steps.length - 1];
  // tokensPerSecond × elapsed = tokens seen since the start; the difference is the tokens of the timed steps.
  const tokens = (to.tokensPerSecond * to.elapsedMs - from.tokensPerSecond * from.elapsedMs) / 1000;
  return tokens / ((to.elapsedMs - from.elapsedMs) / 1000);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
