import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterEvent } from '../../main/cluster/cluster-events.ts';
import { readClusterRecord } from '../../main/cluster/cluster-run-files.ts';
import { slurmJobSchema } from '../../main/cluster/cluster-settings.ts';
import { openTransport } from '../../main/cluster/connect.ts';
import { clusterRunStatus, fetchClusterRun, followClusterRun } from '../../main/cluster/control.ts';
import { localTransport } from '../../main/cluster/local-transport.ts';
import { remoteLayout } from '../../main/cluster/remote-layout.ts';
import { renderSbatchScript } from '../../main/cluster/sbatch-script.ts';
import { shellLine } from '../../main/cluster/shell-quote.ts';
import { preflight, submitBatch } from '../../main/cluster/slurm.ts';
import { submitRun, type SubmitOptions } from '../../main/cluster/submit.ts';
import { verifyCheckpoint } from '../../main/engine/train/checkpoint.ts';
import { readMetrics } from '../../main/engine/train/run-folder.ts';
import { writeFixture, type Fixture, type Playback } from '../helpers/cluster-fixture.ts';
import { missingCluster, startTestCluster, type TestCluster } from '../helpers/slurm-cluster.ts';
import { missingTorch, PYTHON } from '../helpers/torch.ts';

/**
 * The control side's API on a real SLURM cluster, locally and through ssh to a loopback sshd: submit, follow (states,
 * metric lines into the local metrics.jsonl), fetch with verification, a corrupt file refused, the faults that must end
 * before anything is staged, and values that try to inject commands. The job is a stand-in that plays back a prepared
 * run (test/helpers/cluster-fixture.ts); the real trainer's runs (over ssh, cancel, requeue, a failure) are in
 * cluster-e2e.test.ts.
 */
const skip = missingCluster() ?? missingTorch();
let cluster: TestCluster;
let fx: Fixture;
let tmp: string;
const at = (...p: string[]) => path.join(tmp, ...p);
/**
 * A file in the home folder that exists only if a value was run as a command somewhere: the values below hold
 * `$(cd;touch NAME)`, which needs no slash (a run folder's name cannot hold one).
 */
const MARK_NAME = `lora-studio-injected-${process.pid}`;
const MARK = () => path.join(homedir(), MARK_NAME);
const INJECT = `$(cd;touch ${MARK_NAME})`;

const events: ClusterEvent[] = [];
const onEvent = (e: ClusterEvent) => events.push(e);

function opts(playback: Playback): SubmitOptions {
  return { onEvent, prepareBundle: fx.prepareBundle(playback), trainerDir: fx.trainerDir, env: cluster.env };
}
function settings(runDir: string) {
  return { base_model: fx.base, data_path: fx.data, output_dir: runDir };
}
const job = { python: PYTHON, remote_dir: '' };

beforeAll(async () => {
  if (skip) return;
  tmp = mkdtempSync(path.join(tmpdir(), 'cluster-control-'));
  job.remote_dir = at('remote');
  cluster = await startTestCluster({ nodes: 2, ssh: true });
  fx = await writeFixture(at('fixture'), [2, 4]);
});
afterAll(async () => {
  await cluster?.stop();
  rmSync(MARK(), { force: true });
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(skip)('cluster runs on a real SLURM cluster', () => {
  // A run folder name with spaces, quotes and a command substitution: it must arrive as a name, never run.
  const localRun = () => at(`my run "quoted" it's ${INJECT}`);

  it('--cluster local: submit, follow the states and metric lines into metrics.jsonl, fetch the adapter and checkpoints verified', async () => {
    events.length = 0;
    const run = localRun();
    const sub = await submitRun({ settings: settings(run), cluster: { cluster: 'local', ...job } }, opts({ steps: 4, stepSeconds: 0.3 }));
    expect(sub.record?.job_id).toMatch(/^\d+$/);
    expect(path.basename(sub.record!.remote_dir)).toMatch(/^my-run-quoted-it-s-cd-touch-lora-studio-injected.*-\d{8}-\d{6}-[0-9a-f]{4}$/);
    expect(readFileSync(path.join(run, 'cluster-job.sbatch'), 'utf8')).toBe(sub.script);
    const r = await followClusterRun(run, { onEvent, env: cluster.env, fetch: true, pollMs: 500 });
    expect(r.status).toMatchObject({ state: 'COMPLETED', exitCode: '0:0' });
    expect(r.failure).toBeUndefined();
    expect(r.fetched).toMatchObject({ adapter: 'fetched', checkpoints: { fetched: ['step-2', 'step-4'] }, refused: [] });

    // The states seen, in order, in cluster.json; the metric lines as events and in the local metrics.jsonl.
    const record = readClusterRecord(run);
    expect(record.states.map((s) => s.state)).toEqual(expect.arrayContaining(['RUNNING', 'COMPLETED']));
    expect(record.fetched).toMatchObject({ adapter: true, checkpoints: ['step-2', 'step-4'] });
    const remote = remoteLayout(record.remote_dir);
    expect(readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')).toBe(readFileSync(remote.runFiles.metrics, 'utf8'));
    expect(readMetrics(path.join(run, 'metrics.jsonl'))).toMatchObject({
      ended: 'completed',
      points: [{ step: 1 }, { step: 2 }, { step: 3 }, { step: 4 }],
    });
    expect(events.filter((e) => e.type === 'metric' && e.line.type === 'step')).toHaveLength(4);
    for (const s of ['step-2', 'step-4']) expect(await verifyCheckpoint(path.join(run, 'checkpoints', s))).toBeUndefined();
    expect(readdirSync(path.join(run, 'adapter')).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(readFileSync(path.join(run, 'cluster-logs', `slurm-${record.job_id}.out`), 'utf8')).toMatch(/playback: done/);

    // A new process finds the job again from the folder alone; a second fetch copies nothing.
    expect((await clusterRunStatus(run, { env: cluster.env })).status).toMatchObject({ state: 'COMPLETED' });
    expect(await fetchClusterRun(run, { env: cluster.env })).toMatchObject({
      adapter: 'unchanged',
      checkpoints: { unchanged: ['step-2', 'step-4'], fetched: [] },
    });
    expect(existsSync(MARK())).toBe(false);
  });

  it('refuses a fetched checkpoint whose file no longer matches its manifest, and an adapter our PEFT reader rejects', async () => {
    const run = localRun();
    const record = readClusterRecord(run);
    const remote = remoteLayout(record.remote_dir).runFiles;
    // One byte of a checkpoint's weights flipped on the cluster's disk; the adapter's weights cut short.
    const weights = path.join(remote.checkpoints, 'step-2', 'adapter_model.safetensors');
    const bytes = readFileSync(weights);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(weights, bytes);
    truncateSync(path.join(remote.adapter, 'adapter_model.safetensors'), 200);
    rmSync(path.join(run, 'checkpoints', 'step-2'), { recursive: true });
    const before = readFileSync(path.join(run, 'adapter', 'adapter_model.safetensors'));
    events.length = 0;
    const r = await fetchClusterRun(run, { env: cluster.env, onEvent });
    expect(r.adapter).toBe('refused');
    expect(r.refused.map((x) => x.piece).sort()).toEqual(['adapter', 'checkpoints/step-2']);
    expect(r.refused.find((x) => x.piece === 'checkpoints/step-2')!.problem).toMatch(
      /adapter_model\.safetensors: contents do not match the manifest/,
    );
    expect(events.filter((e) => e.type === 'refused')).toHaveLength(2);
    // Nothing refused took a place: no step-2, the adapter fetched before is still the one here.
    expect(existsSync(path.join(run, 'checkpoints', 'step-2'))).toBe(false);
    expect(readFileSync(path.join(run, 'adapter', 'adapter_model.safetensors')).equals(before)).toBe(true);
    expect(readdirSync(run).filter((n) => n.startsWith('.cluster-fetch'))).toEqual([]);
  });

  it('a dropped ssh connection: the follow waits, reconnects, and goes on from where the copies stopped', async () => {
    const run = at('dropped');
    const target = { cluster: cluster.ssh!.target, ssh_config: cluster.ssh!.config, ...job };
    await submitRun({ settings: settings(run), cluster: target }, opts({ steps: 10, stepSeconds: 0.6 }));
    const seen: ClusterEvent[] = [];
    let dropped: Promise<void> | undefined;
    const follow = followClusterRun(run, {
      pollMs: 300,
      fetch: true,
      onEvent: (e) => {
        seen.push(e);
        // At the first step line: the network goes for 3 s (sshd and every connection it serves end).
        if (!dropped && e.type === 'metric' && e.line.type === 'step')
          dropped = cluster.ssh!.down().then(() => new Promise<void>((r) => setTimeout(r, 3000)).then(() => cluster.ssh!.up()));
      },
    });
    const r = await follow;
    await dropped;
    expect(seen.some((e) => e.type === 'offline')).toBe(true);
    expect(r.status).toMatchObject({ state: 'COMPLETED' });
    expect(r.fetched).toMatchObject({ adapter: 'fetched' });
    const remote = remoteLayout(readClusterRecord(run).remote_dir);
    expect(readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')).toBe(readFileSync(remote.runFiles.metrics, 'utf8'));
    const steps = seen.flatMap((e) => (e.type === 'metric' && e.line.type === 'step' ? [e.line.step] : []));
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("a Python that is not there on the nodes ends FAILED with the shell's own line", async () => {
    const run = at('no python');
    await submitRun(
      { settings: settings(run), cluster: { cluster: 'local', ...job, python: '/opt/none/bin/python3' } },
      opts({ steps: 1, stepSeconds: 0 }),
    );
    const r = await followClusterRun(run, { env: cluster.env, pollMs: 500 });
    expect(r.failure).toMatch(/^job \d+ FAILED \(exit code 127:0\) on local: .*\/opt\/none\/bin\/python3: No such file or directory$/);
  });

  describe('faults end in one line and leave nothing staged', () => {
    const nothingStaged = (run: string) => {
      expect(existsSync(path.join(run, 'cluster.json'))).toBe(false);
      expect((existsSync(job.remote_dir) ? readdirSync(job.remote_dir) : []).filter((n) => n.startsWith('fault'))).toEqual([]);
    };

    it('an ssh key the server refuses', async () => {
      const run = at('fault-key');
      const target = { cluster: cluster.ssh!.target, ssh_config: cluster.ssh!.refusedConfig, ...job };
      await expect(submitRun({ settings: settings(run), cluster: target }, opts({ steps: 1, stepSeconds: 0 }))).rejects.toThrow(
        /^ssh:\/\/root@127\.0\.0\.1:\d+: the server refused the login \(.*Permission denied \(publickey\)\.?\); check that `ssh -F \S+ -p \d+ root@127\.0\.0\.1` logs in without a password prompt/,
      );
      nothingStaged(run);
    });

    it('no sbatch on the login node', async () => {
      const run = at('fault-no-sbatch');
      const noSlurm = { ...opts({ steps: 1, stepSeconds: 0 }), env: { ...cluster.env, PATH: at('no-such-bin') } };
      await expect(submitRun({ settings: settings(run), cluster: { cluster: 'local', ...job } }, noSlurm)).rejects.toThrow(
        /^local: no sbatch, squeue/,
      );
      nothingStaged(run);
    });

    it('a job sbatch refuses after staging (more memory than any node has): the staged folder and local files go', async () => {
      const run = at('fault-memory');
      await expect(
        submitRun({ settings: settings(run), cluster: { cluster: 'local', ...job, mem: '999999G' } }, opts({ steps: 1, stepSeconds: 0 })),
      ).rejects.toThrow(/^sbatch refused the job on local: sbatch: error: .*(node configuration is not available|Memory specification)/);
      nothingStaged(run);
    });

    it('a partition that does not exist', async () => {
      const run = at('fault-partition');
      await expect(
        submitRun(
          { settings: settings(run), cluster: { cluster: 'local', ...job, partition: 'gpu-h100' } },
          opts({ steps: 1, stepSeconds: 0 }),
        ),
      ).rejects.toThrow(/^local: partition "gpu-h100" does not exist \(partitions there: debug\)$/);
      nothingStaged(run);
    });
  });

  describe('values that try to run commands', () => {
    it('the schema refuses a partition holding ; and $(…) before anything happens', async () => {
      for (const partition of [`debug;cd;touch ${MARK_NAME}`, INJECT]) {
        await expect(
          submitRun(
            { settings: settings(at('inject')), cluster: { cluster: 'local', ...job, partition } },
            opts({ steps: 1, stepSeconds: 0 }),
          ),
        ).rejects.toThrow(/^--partition: partition names may hold only letters, digits and _ \. \+ -$/);
      }
      expect(existsSync(MARK())).toBe(false);
    });

    it('past the schema, quoting still holds: locally and over ssh nothing runs, and SLURM sees a partition name', async () => {
      const partitions = [
        `debug;cd;touch ${MARK_NAME}`,
        INJECT,
        `\`cd;touch ${MARK_NAME}\``,
        `debug' ; cd; touch '${MARK_NAME}`,
        `debug\ncd\ntouch ${MARK_NAME}`,
      ];
      for (const connection of [{ cluster: 'local' }, { cluster: cluster.ssh!.target, ssh_config: cluster.ssh!.config }]) {
        const t = await openTransport(connection, cluster.env);
        try {
          for (const partition of partitions) {
            await expect(preflight(t, { partition })).rejects.toThrow(/partition ".*" does not exist/s);
            // A command line of hostile words: echoed back as they are.
            const r = await t.exec(shellLine(['printf', '%s\\n', partition]));
            expect(r.stdout.toString()).toBe(`${partition}\n`);
          }
        } finally {
          await t.close();
        }
      }
      // The batch script itself, rendered with such a partition (the schema would refuse it): sbatch refuses the
      // job as an unknown partition, and the value is never run.
      const layout = remoteLayout(at('remote', 'inject-script'));
      const t = localTransport(cluster.env);
      await t.exec(shellLine(['mkdir', '-p', layout.logs]));
      for (const partition of [INJECT, `debug;cd;touch${'$'}{IFS}${MARK_NAME}`]) {
        const script = renderSbatchScript({
          runName: 'x',
          jobName: 'x',
          layout,
          job: { ...slurmJobSchema.parse({}), partition },
          baseModel: '/x',
          created: new Date(),
        });
        writeFileSync(layout.script, script);
        // sbatch splits an #SBATCH line on spaces: the stray word is refused as a directive, a single word as a partition.
        await expect(submitBatch(t, layout.script)).rejects.toThrow(
          /^sbatch refused the job on local: sbatch: error: (Invalid directive|.*invalid partition)/i,
        );
      }
      expect(existsSync(MARK())).toBe(false);
    });
  });
});
