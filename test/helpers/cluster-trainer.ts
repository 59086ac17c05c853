import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { openSafetensors } from '../../main/engine/formats/safetensors.ts';
import { PYTHON } from './torch.ts';

/**
 * Running cluster-trainer/train.py (PyTorch) from the tests: one process, torchrun with the README's launch line, or
 * plain-srun style (one process per rank, SLURM_* variables) without SLURM. Everything runs on the CPU over gloo.
 */
export const CLUSTER_TRAINER = path.resolve('cluster-trainer/train.py');

/**
 * cluster-trainer/README.md's launch line (srun + one torchrun per node), for one node: Debian's torchrun 1.13 on
 * Python 3.11 cannot parse --redirects/--tee 0 or 3, so a mapping naming only local rank 9 stands for "no redirect"
 * (ranks 0–8 keep the console); USR1 is ignored by the launcher (a trap before exec) so the signal reaches the
 * trainers without killing torchrun.
 */
export function torchrunLine(nproc: number, port: number, trainerArgs: string[]): string[] {
  const quoted = [CLUSTER_TRAINER, ...trainerArgs].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return [
    '-c',
    `trap "" USR1; exec torchrun --nnodes=1 --node_rank=0 --nproc_per_node=${nproc} --master_addr=127.0.0.1 --master_port=${port} --redirects=9:1 --tee=9:1 ${quoted}`,
  ];
}

export interface TrainerResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** CPU threads per trainer process: the machine's cores are shared, and one thread keeps runs comparable. */
const ENV = { OMP_NUM_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1' };

export function startTrainer(
  args: string[],
  opts: { env?: Record<string, string>; command?: string[] } = {},
): { child: ChildProcess; done: Promise<TrainerResult> } {
  const [cmd, ...cmdArgs] = opts.command ?? [PYTHON, CLUSTER_TRAINER, ...args];
  // A process group of its own, so a signal can reach torchrun and every trainer under it.
  const child = spawn(cmd, cmdArgs, { env: { ...process.env, ...ENV, ...opts.env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<TrainerResult>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

export function runTrainer(args: string[], opts: { env?: Record<string, string>; command?: string[] } = {}): Promise<TrainerResult> {
  return startTrainer(args, opts).done;
}

/** `bash -c '<torchrun line>'`, run to the end. */
export function runTorchrun(nproc: number, port: number, args: string[]): Promise<TrainerResult> {
  return runTrainer([], { command: ['bash', ...torchrunLine(nproc, port, args)] });
}

/** Plain srun's way: one process per rank, each told its place by SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID. */
export async function runSrunStyle(ntasks: number, port: number, args: string[]): Promise<TrainerResult[]> {
  return Promise.all(
    Array.from({ length: ntasks }, (_, rank) =>
      runTrainer(args, {
        env: {
          SLURM_PROCID: String(rank),
          SLURM_NTASKS: String(ntasks),
          SLURM_LOCALID: String(rank),
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: String(port),
        },
      }),
    ),
  );
}

export function trainerArgs(bundle: string, runDir: string, baseModel: string, extra: string[] = []): string[] {
  return ['--bundle', bundle, '--run_dir', runDir, '--base_model', baseModel, ...extra];
}

/** A TCP port nobody listens on now (torchrun's default 29500 may be another test's, or another engineer's). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export type MetricLine = { type: string; step?: number; loss?: number; evalLoss?: number; dir?: string; [k: string]: unknown };

export function metricLines(runDir: string): MetricLine[] {
  const file = path.join(runDir, 'metrics.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as MetricLine];
      } catch {
        return []; // a line being written
      }
    });
}

/** step → loss and step → validation loss, from metrics.jsonl (the last value of a step a resume logged again). */
export function lossCurve(runDir: string): { loss: Map<number, number>; evalLoss: Map<number, number> } {
  const loss = new Map<number, number>();
  const evalLoss = new Map<number, number>();
  for (const e of metricLines(runDir)) {
    if (e.type === 'step') loss.set(e.step!, e.loss!);
    if (e.type === 'eval') evalLoss.set(e.step!, e.evalLoss!);
  }
  return { loss, evalLoss };
}

/** Every tensor of a safetensors file as f32 (the adapters and gradient dumps the trainers write). */
export async function readTensors(file: string): Promise<Map<string, Float32Array>> {
  const f = await openSafetensors(file);
  try {
    const out = new Map<string, Float32Array>();
    for (const t of f.list()) out.set(t.name, await f.readF32(t.name));
    return out;
  } finally {
    await f.close();
  }
}

/** ‖a − b‖ / ‖b‖ over every tensor of b (Frobenius), or over the tensors `only` picks. */
export function relativeFrobenius(a: Map<string, Float32Array>, b: Map<string, Float32Array>, only = (_: string) => true): number {
  let diff = 0;
  let ref = 0;
  for (const [name, y] of b) {
    if (!only(name)) continue;
    const x = a.get(name);
    if (!x || x.length !== y.length) throw new Error(`tensor ${name} missing or of another size`);
    for (let i = 0; i < y.length; i++) {
      diff += (x[i] - y[i]) ** 2;
      ref += y[i] ** 2;
    }
  }
  return Math.sqrt(diff) / Math.sqrt(ref);
}

/** The largest |a − b| / |b| over the entries of two maps with the same keys. */
export function maxRelative(a: Map<number, number>, b: Map<number, number>): number {
  if (a.size !== b.size) throw new Error(`${a.size} values against ${b.size}`);
  let worst = 0;
  for (const [k, y] of b) {
    const x = a.get(k);
    if (x === undefined) throw new Error(`no value at ${k}`);
    worst = Math.max(worst, Math.abs(x - y) / Math.abs(y));
  }
  return worst;
}

/** Wait until `check` holds (polling files a child process writes); fails after timeoutMs. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The trainer's `error:` lines (its contract: a failure ends with exactly one, on stderr). */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('error:'));
}
