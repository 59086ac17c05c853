import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slurmJobSchema } from '../../main/cluster/cluster-settings.ts';
import { isTerminal, type JobStatus } from '../../main/cluster/job-state.ts';
import { localTransport } from '../../main/cluster/local-transport.ts';
import { syncMirrors, type MirroredFile } from '../../main/cluster/mirror.ts';
import { jobLogFiles, remoteLayout } from '../../main/cluster/remote-layout.ts';
import { renderSbatchScript } from '../../main/cluster/sbatch-script.ts';
import { cancelJob, preflight, queryJob, submitBatch } from '../../main/cluster/slurm.ts';
import type { Transport } from '../../main/cluster/transport.ts';
import { missingCluster, startTestCluster, type TestCluster } from '../helpers/slurm-cluster.ts';
import { missingTorch, PYTHON } from '../helpers/torch.ts';

/**
 * SLURM's side of the control code on a real cluster (two slurmd nodes on this machine, MinJobAge 2 s so finished jobs
 * leave squeue within seconds): the states as squeue, sacct and `sacct -c` give them, scancel, the copies that follow
 * a growing file, and the batch script's launch line delivering SLURM's USR1 to the trainer processes past torchrun
 * (cluster-e2e.test.ts runs the real trainer through the same line across 2 nodes and 2 processes).
 */
const skip = missingCluster() ?? missingTorch();
let cluster: TestCluster;
let t: Transport;
let tmp: string;

/** sbatch's options for a test job that writes its output in the test's folder (not SLURM's default: the cwd). */
const inTmp = () => ['--parsable', `--chdir=${tmp}`, `--output=${tmp}/job-%j.out`];

async function until(jobId: string, done: (s: JobStatus | undefined) => boolean, ms = 60_000): Promise<JobStatus | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const s = await queryJob(t, jobId);
    if (done(s)) return s;
    if (Date.now() > end) throw new Error(`job ${jobId}: still ${JSON.stringify(s)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

beforeAll(async () => {
  if (skip) return;
  tmp = mkdtempSync(path.join(tmpdir(), 'slurm-jobs-'));
  cluster = await startTestCluster({ nodes: 2, minJobAge: 2 });
  t = localTransport(cluster.env);
});
afterAll(async () => {
  await cluster?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(skip)('SLURM on a real test cluster', () => {
  it('reads the cluster before anything is staged: tools, partitions, and a partition that does not exist', async () => {
    const facts = await preflight(t, { partition: 'debug' });
    expect(facts.partitions).toEqual(['debug']);
    expect(facts.defaultPartition).toBe('debug');
    expect(facts.tools.sbatch).toMatch(/sbatch$/);
    await expect(preflight(t, { partition: 'gpu-h100' })).rejects.toThrow(
      /^local: partition "gpu-h100" does not exist \(partitions there: debug\)$/,
    );
    // A login node without SLURM's commands on its PATH.
    await expect(preflight(localTransport({ ...cluster.env, PATH: path.join(tmp, 'empty-path') }), {})).rejects.toThrow(
      /^local: no sbatch, squeue, scancel, scontrol, sinfo on the PATH there/,
    );
  });

  it('tells PENDING with its reason, RUNNING, CANCELLED, and FAILED with the exit code from squeue, then from sacct -c', async () => {
    const held = cluster.slurm('sbatch', [...inTmp(), '--hold', '--wrap', 'true']).trim();
    expect(await queryJob(t, held)).toMatchObject({ state: 'PENDING', reason: 'JobHeldUser', source: 'squeue' });
    await cancelJob(t, held);
    expect(await until(held, (s) => s?.state === 'CANCELLED')).toMatchObject({ state: 'CANCELLED' });

    const sleeper = cluster.slurm('sbatch', [...inTmp(), '--wrap', 'sleep 60']).trim();
    expect(await until(sleeper, (s) => s?.state === 'RUNNING')).toMatchObject({ state: 'RUNNING', nodes: expect.stringMatching(/^n\d$/) });
    await cancelJob(t, sleeper);
    expect(await until(sleeper, (s) => !!s && isTerminal(s.state))).toMatchObject({ state: 'CANCELLED' });

    const failing = cluster.slurm('sbatch', [...inTmp(), '--wrap', 'exit 3']).trim();
    // While squeue still holds it, the exit code comes from the accounting record (no database here: sacct -c).
    expect(await until(failing, (s) => !!s && isTerminal(s.state))).toMatchObject({ state: 'FAILED', exitCode: '3:0', source: 'sacct -c' });
    // After MinJobAge squeue forgets the job; the job-completion file still knows it.
    const end = Date.now() + 60_000;
    while (cluster.slurm('squeue', ['-h', '-t', 'all', '-o', '%i']).split('\n').includes(failing) && Date.now() < end)
      await new Promise((r) => setTimeout(r, 500));
    expect(await queryJob(t, failing)).toMatchObject({ state: 'FAILED', exitCode: '3:0', source: 'sacct -c' });
    expect(await queryJob(t, '999999')).toBeUndefined();
    await expect(queryJob(t, '1; touch /tmp/x')).rejects.toThrow(/not a SLURM job id/);
  });

  it('copies a growing file from where the copy stopped: whole lines only, and again from the start if it was replaced', async () => {
    const remote = path.join(tmp, 'growing.jsonl');
    const local = path.join(tmp, 'copy', 'metrics.jsonl');
    const file: MirroredFile = { name: 'metrics', remote, local, wholeLines: true };
    expect(await syncMirrors(t, [file])).toEqual([]); // not there yet
    writeFileSync(remote, '{"a":1}\n{"b":');
    expect((await syncMirrors(t, [file]))[0].text).toBe('{"a":1}\n');
    appendFileSync(remote, '2}\n{"c":3}\n');
    expect((await syncMirrors(t, [file]))[0].text).toBe('{"b":2}\n{"c":3}\n');
    expect(readFileSync(local, 'utf8')).toBe(readFileSync(remote, 'utf8'));
    expect(await syncMirrors(t, [file])).toEqual([]);
    writeFileSync(remote, '{"new":1}\n');
    expect((await syncMirrors(t, [file]))[0]).toMatchObject({ restarted: true });
    await syncMirrors(t, [file]);
    expect(readFileSync(local, 'utf8')).toBe('{"new":1}\n');
  });

  /** Submit the real batch script with `entry` as the trainer; returns the job's final state and its run folder. */
  async function launch(name: string, entry: string, job: Record<string, unknown>, whileRunning?: (jobId: string) => Promise<void>) {
    const layout = remoteLayout(path.join(tmp, name));
    mkdirSync(path.dirname(layout.trainerEntry), { recursive: true });
    mkdirSync(layout.logs, { recursive: true });
    mkdirSync(layout.run, { recursive: true });
    writeFileSync(layout.trainerEntry, entry);
    const script = renderSbatchScript({
      runName: name,
      jobName: name,
      layout,
      job: slurmJobSchema.parse({ python: PYTHON, ...job }),
      baseModel: tmp,
      created: new Date(),
    });
    writeFileSync(layout.script, script);
    const jobId = await submitBatch(t, layout.script);
    if (whileRunning) await whileRunning(jobId);
    const status = await until(jobId, (s) => !!s && isTerminal(s.state), 120_000);
    const logs = jobLogFiles(layout, jobId);
    return { status, layout, stdout: readFileSync(logs.stdout, 'utf8'), stderr: readFileSync(logs.stderr, 'utf8') };
  }

  it("delivers SLURM's USR1 to the trainer processes, not to torchrun's agent, and the job goes on", async () => {
    const entry = String.raw`
import argparse, os, signal, time
p = argparse.ArgumentParser(); [p.add_argument(a) for a in ("--bundle", "--run_dir", "--base_model", "--resume")]
a = p.parse_args()
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
open(os.path.join(a.run_dir, f"ready-{os.environ['RANK']}"), "w").close()
for _ in range(1200):  # up to 120 s: on a loaded machine the other rank can start many seconds later
    if got: break
    time.sleep(0.1)
print(f"rank {os.environ['RANK']}: USR1 {'received' if got else 'never came'}", flush=True)
`;
    const { status, stdout, stderr } = await launch('usr1', entry, { nproc_per_node: 2 }, async (jobId) => {
      const ready = (r: number) => existsSync(path.join(tmp, 'usr1', 'run', `ready-${r}`));
      const end = Date.now() + 110_000;
      while (!(ready(0) && ready(1)) && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
      cluster.slurm('scancel', ['--signal=USR1', jobId]); // what --signal=USR1@120 sends before the time limit
    });
    expect(status, stderr).toMatchObject({ state: 'COMPLETED' });
    expect(stdout).toMatch(/rank 0: USR1 received/);
    expect(stdout).toMatch(/rank 1: USR1 received/);
  }, 300_000);
});
