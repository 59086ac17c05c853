import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readClusterRecord } from '../../main/cluster/cluster-run-files.ts';
import { remoteLayout } from '../../main/cluster/remote-layout.ts';
import { writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { PROJECTIONS } from '../../main/engine/llama/projection-names.ts';
import { verifyCheckpoint } from '../../main/engine/train/checkpoint.ts';
import { checkpointNames, readMetrics } from '../../main/engine/train/run-folder.ts';
import { runCli } from '../helpers/cli-process.ts';
import { lossCurve, maxRelative, readTensors, relativeFrobenius } from '../helpers/cluster-trainer.ts';
import { missingCluster, startTestCluster, type TestCluster } from '../helpers/slurm-cluster.ts';
import { TINY_ALPHABET, TINY_SHAPE, tinyAlpacaRows } from '../helpers/synthetic.ts';
import { missingTorch, PYTHON } from '../helpers/torch.ts';

/**
 * `lora-studio cluster ...` with the real cluster trainer (cluster-trainer/, PyTorch) on a real SLURM cluster (two
 * slurmd nodes on this machine), locally and through ssh to a loopback sshd: the run fetched and verified, then merged
 * and quantized; cancel; requeue mid-run ending bit-identical; a wrong base path; the global batch the same whatever
 * the processes and nodes. A tiny synthetic GQA model with q/k/v biases, a few steps each, gloo on the CPU.
 */
const skip = missingCluster() ?? missingTorch();
let cluster: TestCluster;
let tmp: string;
let model: string;
/** The same shape without q/k/v biases: our GGUF writer has no names for bias tensors (Qwen2's), so quantize needs it. */
let plainModel: string;
let data: string;
const at = (...p: string[]) => path.join(tmp, ...p);

const cli = (args: string[]) => runCli(args, { env: { ...cluster.env, OMP_NUM_THREADS: '1' } });

/** The fine-tuning flags of these runs: 8 rows a step, prompts masked, dropout 0, evaluation and checkpoints. */
function runFlags(outputDir: string, o: { steps?: number; micro?: number; saveSteps?: number; base?: string } = {}): string[] {
  const settings: Record<string, string> = {
    base_model: o.base ?? model,
    data_path: data,
    output_dir: outputDir,
    prompt_template_name: 'alpaca_short',
    batch_size: '8',
    micro_batch_size: String(o.micro ?? 4),
    cutoff_len: '96',
    train_on_inputs: 'false',
    val_set_size: '8',
    lora_r: '4',
    lora_dropout: '0',
    lora_target_modules: `[${PROJECTIONS.join(',')}]`,
    learning_rate: '3e-3',
    warmup_steps: '1',
    max_steps: String(o.steps ?? 6),
    logging_steps: '1',
    eval_steps: '3',
    save_steps: String(o.saveSteps ?? 3),
  };
  return Object.entries(settings).flatMap(([k, v]) => [`--${k}`, v]);
}
const local = () => ['--cluster', 'local', '--python', PYTHON, '--remote_dir', at('remote')];
const overSsh = () => [
  '--cluster',
  cluster.ssh!.target,
  '--ssh_config',
  cluster.ssh!.config,
  '--python',
  PYTHON,
  '--remote_dir',
  at('remote-ssh'),
];

/** The remote run folder of a submitted run (cluster.json). */
const remoteRun = (runDir: string) => remoteLayout(readClusterRecord(runDir).remote_dir).runFiles;

async function waitForCheckpoint(runDir: string, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (existsSync(path.join(runDir, 'cluster.json')) && checkpointNames(remoteRun(runDir).checkpoints).length) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no checkpoint on the cluster for ${runDir} after ${ms} ms`);
}

beforeAll(async () => {
  if (skip) return;
  tmp = mkdtempSync(path.join(tmpdir(), 'cluster-e2e-'));
  cluster = await startTestCluster({ nodes: 2, ssh: true });
  model = at('gqa-bias');
  await writeSyntheticModel(model, { ...TINY_SHAPE, attention_bias: true }, { alphabet: TINY_ALPHABET });
  plainModel = at('gqa');
  await writeSyntheticModel(plainModel, TINY_SHAPE, { alphabet: TINY_ALPHABET });
  data = at('alpaca.json');
  writeFileSync(data, JSON.stringify(tinyAlpacaRows(40)));
});
afterAll(async () => {
  await cluster?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(skip)('lora-studio cluster, with the real trainer on a real SLURM cluster', { timeout: 300_000 }, () => {
  it('--dry_run prints the batch script and the staging plan; nothing is staged or submitted', async () => {
    const run = at('dry');
    const r = await cli([
      'cluster',
      'submit',
      ...local(),
      ...runFlags(run),
      '--setup',
      'echo "site setup"; umask 022',
      '--dry_run',
      'true',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^#!\/bin\/bash\n/);
    expect(r.stdout).toContain('echo "site setup"; umask 022');
    expect(r.stdout).toMatch(
      /# The staging plan \(nothing was staged or submitted\):\n# {3}trainer: .*cluster-trainer\/? -> .*\/trainer \(\d+ bytes\)/,
    );
    expect(existsSync(at('remote'))).toBe(false);
    expect(existsSync(run)).toBe(false);
  });

  it('refuses, in one line, a partition holding ; and $(…) before anything is staged', async () => {
    const r = await cli(['cluster', 'submit', ...local(), ...runFlags(at('inject')), '--partition', 'debug;$(touch x)']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('error: --partition: partition names may hold only letters, digits and _ . + -');
  });

  it('--cluster local --wait true: trains on the cluster and ends with the adapter fetched and verified', async () => {
    const run = at(`local run "one" it's`); // spaces and quotes reach the cluster as a name
    const r = await cli(['cluster', 'submit', ...local(), ...runFlags(run), '--wait', 'true']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^job \d+ RUNNING on n1$/m);
    expect(r.stderr).toMatch(/\[#+\] 6\/6 loss \d\.\d{4}/);
    expect(r.stderr).toMatch(/^done: job \d+ COMPLETED exit code 0:0; adapter: .*adapter; checkpoints: step-3, step-6$/m);
    const remote = remoteRun(run);
    expect(readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')).toBe(readFileSync(remote.metrics, 'utf8'));
    for (const f of ['adapter_config.json', 'adapter_model.safetensors'])
      expect(readFileSync(path.join(run, 'adapter', f)).equals(readFileSync(path.join(remote.adapter, f)))).toBe(true);
    for (const c of ['step-3', 'step-6']) expect(await verifyCheckpoint(path.join(run, 'checkpoints', c))).toBeUndefined();
    expect(readMetrics(path.join(run, 'metrics.jsonl'))).toMatchObject({ ended: expect.any(String) });
    const status = await cli(['cluster', 'status', '--output_dir', run]);
    expect(status.stdout.trim()).toMatch(/^job \d+ COMPLETED exit code 0:0 on local; step 6 loss \d\.\d{4}$/);
    const logs = await cli(['cluster', 'logs', '--output_dir', run, '--stream', 'stdout']);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/^lora-studio: job \d+ \(restart 0\) on n1, rendezvous 127\.0\.0\.1:2\d{4}$/m);
    expect(logs.stdout).toContain('1 process (torchrun)');
  });

  it('ssh:// the loopback sshd --wait true: fetched and verified, then merge and quantize work on the run folder', async () => {
    const run = at('ssh run');
    const r = await cli(['cluster', 'submit', ...overSsh(), ...runFlags(run, { base: plainModel }), '--wait', 'true']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^submitted job \d+ to ssh:\/\/root@127\.0\.0\.1:\d+ /m);
    expect(r.stderr).toMatch(/^fetched adapter .*ssh run\/adapter \(SHA-256 and PEFT reader checked\)$/m);
    const merged = at('merged');
    const m = await cli(['merge', '--base_model', plainModel, '--lora_weights', run, '--output_dir', merged, '--dtype', 'f32']);
    expect(m.code, m.stderr).toBe(0);
    expect(readdirSync(merged)).toContain('config.json');
    const q = await cli([
      'quantize',
      '--base_model',
      plainModel,
      '--lora_weights',
      run,
      '--format',
      'gguf-q8_0',
      '--output',
      at('ssh-run.gguf'),
    ]);
    expect(q.code, q.stderr).toBe(0);
    expect(readFileSync(at('ssh-run.gguf')).subarray(0, 4).toString()).toBe('GGUF');
  });

  it('cluster cancel mid-run: CANCELLED, and the checkpoints written so far are kept and fetched', async () => {
    const run = at('cancelled');
    const sub = await cli(['cluster', 'submit', ...local(), ...runFlags(run, { steps: 400, saveSteps: 2 })]);
    expect(sub.code, sub.stderr).toBe(0);
    expect(sub.stderr).toMatch(/^follow it with: lora-studio cluster wait --output_dir /m);
    await waitForCheckpoint(run);
    const c = await cli(['cluster', 'cancel', '--output_dir', run]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toMatch(/^job \d+ CANCELLED.*; its checkpoints stay on the cluster/);
    expect((await cli(['cluster', 'status', '--output_dir', run])).stdout).toMatch(/^job \d+ CANCELLED/);
    const f = await cli(['cluster', 'fetch', '--output_dir', run]);
    expect(f.code, f.stderr).toBe(0);
    const kept = checkpointNames(path.join(run, 'checkpoints'));
    expect(kept.length).toBeGreaterThan(0);
    for (const k of kept) expect(await verifyCheckpoint(path.join(run, 'checkpoints', k))).toBeUndefined();
    // The trainer may also leave the adapter of its last step when stopped; if it did, it came home verified too.
    expect(f.stderr).toMatch(/^adapter: (fetched|absent); checkpoints: step-\d+/m);
  });

  it('scontrol requeue mid-run: the job resumes from its newest checkpoint and ends bit-identical to an uninterrupted run', async () => {
    // Requeued at its first checkpoint (step 2): the other 18 steps leave time for the requeue to land on a fast machine.
    const steps = 20;
    const whole = at('uninterrupted');
    const cut = at('requeued');
    const w = await cli(['cluster', 'submit', ...local(), ...runFlags(whole, { steps, saveSteps: 2 }), '--wait', 'true']);
    expect(w.code, w.stderr).toBe(0);
    const sub = await cli(['cluster', 'submit', ...local(), ...runFlags(cut, { steps, saveSteps: 2 }), '--requeue', 'true']);
    expect(sub.code, sub.stderr).toBe(0);
    await waitForCheckpoint(cut);
    const jobId = readClusterRecord(cut).job_id!;
    cluster.slurm('scontrol', ['requeue', jobId]); // as a preemption does: SIGTERM, then back to the queue
    // SLURM holds a requeued job for two minutes (BeginTime); an administrator's StartTime=now skips the wait.
    const until = Date.now() + 30_000;
    while (!/PENDING/.test(cluster.slurm('squeue', ['-h', '-j', jobId, '-o', '%T'])) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 200));
    cluster.slurm('scontrol', ['update', `JobId=${jobId}`, 'StartTime=now']);
    const r = await cli(['cluster', 'wait', '--output_dir', cut]);
    expect(r.code, r.stderr).toBe(0);
    const log = readFileSync(path.join(cut, 'cluster-logs', `slurm-${jobId}.out`), 'utf8');
    expect(log).toMatch(/job \d+ \(restart 1\)/); // it did run twice
    const starts = readFileSync(path.join(cut, 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"type": "start"') || l.includes('"type":"start"'))
      .map((l) => JSON.parse(l).startStep as number);
    expect(starts[0]).toBe(0);
    expect(starts.at(-1)).toBeGreaterThan(0); // the second start resumed from a checkpoint
    expect(
      readFileSync(path.join(cut, 'adapter', 'adapter_model.safetensors')).equals(
        readFileSync(path.join(whole, 'adapter', 'adapter_model.safetensors')),
      ),
    ).toBe(true);
    const [lc, lw] = [lossCurve(cut), lossCurve(whole)];
    expect([...lc.loss]).toEqual([...lw.loss]);
  });

  it('a base path that does not exist on the cluster ends FAILED with one line: state, exit code, the reason', async () => {
    const r = await cli([
      'cluster',
      'submit',
      ...local(),
      ...runFlags(at('no base')),
      '--cluster_base_model',
      '/nonexistent/llama-7b',
      '--wait',
      'true',
    ]);
    expect(r.code).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toHaveLength(1);
    // torchrun ends with 1 whatever code its trainer process ended with; the trainer's own line says why.
    expect(errors[0]).toMatch(/^error: job \d+ FAILED \(exit code 1:0\) on local: base model \/nonexistent\/llama-7b: no such folder/);
  });

  it('the global batch is the same whatever the processes and nodes: 2 processes × micro 2 and 2 nodes × micro 2 train as 1 × micro 4', async () => {
    const runs = {
      single: [at('dist 1x4'), ['--nproc_per_node', '1'], 4],
      procs: [at('dist 2x2'), ['--nproc_per_node', '2'], 2],
      nodes: [at('dist 2 nodes'), ['--nodes', '2', '--nproc_per_node', '1'], 2],
    } as const;
    // Submitted together, followed one after the other: the cluster runs them side by side.
    for (const [dir, extra, micro] of Object.values(runs)) {
      const s = await cli(['cluster', 'submit', ...local(), ...runFlags(dir, { micro, saveSteps: 0 }), ...extra]);
      expect(s.code, s.stderr).toBe(0);
    }
    for (const [dir] of Object.values(runs)) {
      const w = await cli(['cluster', 'wait', '--output_dir', dir]);
      expect(w.code, w.stderr).toBe(0);
    }
    const out = (dir: string) => readFileSync(path.join(dir, 'cluster-logs', `slurm-${readClusterRecord(dir).job_id}.out`), 'utf8');
    expect(out(runs.procs[0])).toContain('2 processes over gloo (torchrun)');
    expect(out(runs.nodes[0])).toMatch(/on n\[1-2\]/);
    const single = await readTensors(path.join(runs.single[0], 'adapter', 'adapter_model.safetensors'));
    for (const key of ['procs', 'nodes'] as const) {
      const dir = runs[key][0];
      const loss = maxRelative(lossCurve(dir).loss, lossCurve(runs.single[0]).loss);
      const adapter = relativeFrobenius(await readTensors(path.join(dir, 'adapter', 'adapter_model.safetensors')), single);
      console.log(`${key} against 1 process × micro 4: loss ${loss.toExponential(2)}, adapter ${adapter.toExponential(2)}`);
      expect(lossCurve(dir).loss.size).toBe(6);
      expect(loss).toBeLessThan(1e-5);
      expect(adapter).toBeLessThan(1e-4);
    }
  });
});
