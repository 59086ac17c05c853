import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createApi } from '../../main/api/create-api.ts';
import { createHandlers } from '../../main/api/handlers.ts';
import { fileSettings } from '../../main/api/settings.ts';
import type { ClusterRecord } from '../../main/cluster/cluster-record.ts';
import { writeClusterRecord } from '../../main/cluster/cluster-run-files.ts';
import { JOB_STATES, type JobState } from '../../main/cluster/job-state.ts';
import { clusterRunInfo, clusterRunStatus, type JobEvent } from '../../main/contract/contract.ts';
import { electronStoreSettings } from '../../main/electron/settings-store.ts';
import { ClusterEventMapper } from '../../main/jobs/cluster-task.ts';
import { JobHost } from '../../main/jobs/host.ts';
import { RunRegistry } from '../../main/jobs/run-registry.ts';
import type { TaskEvent } from '../../main/jobs/worker-tasks.ts';
import { runStateOfCluster } from '../../renderer/src/cluster/cluster-state.ts';
import { emptyProfileForm, profileOfForm } from '../../renderer/src/cluster/profile-form.ts';
import { emptyView, foldEvents } from '../../renderer/src/job-view.ts';

/**
 * The studio's side of cluster runs (issue 19), without a cluster: the saved profiles (kept by the settings store,
 * checked by the CLI's cluster schema), the profile form, how SLURM's states read as a run's, cluster.json in the run
 * summaries, and main/cluster's events as job events. The e2e test (test/e2e/cluster-studio.test.ts) runs it all on
 * a real SLURM cluster.
 */
const tmp = mkdtempSync(path.join(tmpdir(), 'cluster-studio-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function apiOn(settingsFile: string) {
  const runsDir = path.join(tmp, 'runs');
  const jobs = new JobHost({
    spawner: () => {
      throw new Error('no jobs in this test');
    },
    runsDir,
  });
  const settings = fileSettings(settingsFile, { runsDir });
  return createApi(createHandlers({ mode: 'server', app: { name: 't', version: '0' }, jobs, runs: new RunRegistry(runsDir), settings }));
}

const profile = {
  name: 'work',
  cluster: 'ssh://me@login.example.org:2222',
  partition: 'gpu',
  gpus_per_node: 4,
  nproc_per_node: 4,
  time: '1-00:00:00',
};

describe('cluster profiles in the settings store', () => {
  it('are kept on the main side (a settings file in browser mode) and read again by a new studio', async () => {
    const file = path.join(tmp, 'settings.json');
    const api = apiOn(file);
    await api.call('settings.set', { clusterProfiles: [profile] });
    expect(JSON.parse(readFileSync(file, 'utf8')).clusterProfiles).toEqual([profile]);
    const again = apiOn(file); // the server restarted
    expect(((await again.call('settings.get', {})) as { clusterProfiles: unknown[] }).clusterProfiles).toEqual([profile]);
    // Other settings are left as they were.
    await again.call('settings.set', { language: 'zh-CN' });
    expect(((await again.call('settings.get', {})) as { clusterProfiles: unknown[] }).clusterProfiles).toEqual([profile]);
  });

  it('are checked by the schema of the CLI’s cluster flags: a shell character, a bad target, a duplicate name are refused by name', async () => {
    const api = apiOn(path.join(tmp, 'refused.json'));
    await expect(api.call('settings.set', { clusterProfiles: [{ ...profile, partition: 'gpu;$(reboot)' }] })).rejects.toThrow(
      /clusterProfiles\.0\.partition.*letters, digits/,
    );
    await expect(api.call('settings.set', { clusterProfiles: [{ ...profile, cluster: 'ssh://-oProxyCommand=x' }] })).rejects.toThrow(
      /clusterProfiles\.0\.cluster.*not a host name/,
    );
    await expect(api.call('settings.set', { clusterProfiles: [profile, { ...profile, partition: 'cpu' }] })).rejects.toThrow(/same name/);
    await expect(api.call('settings.set', { clusterProfiles: [{ ...profile, remote_dir: '~/runs dir' }] })).rejects.toThrow(/remote_dir/);
    expect(((await api.call('settings.get', {})) as { clusterProfiles: unknown[] }).clusterProfiles).toEqual([]);
  });

  it('live in electron-store in the app, through the same schema', () => {
    const store = { store: {} as Record<string, unknown> };
    const settings = electronStoreSettings(store, { runsDir: '/runs' });
    settings.set({ clusterProfiles: [profile] });
    expect(store.store.clusterProfiles).toEqual([profile]);
    expect(electronStoreSettings(store).get().clusterProfiles).toEqual([profile]);
    expect(() => settings.set({ clusterProfiles: [{ ...profile, account: 'a b' }] })).toThrow(/account/);
  });
});

describe('the profile form', () => {
  it('reads numbers as typed, leaves blank fields to the defaults, and names each field the schema refuses', () => {
    const form = { ...emptyProfileForm(), name: 'lab', partition: 'debug', nodes: '2', cpus_per_task: '', setup: 'module load cuda' };
    const ok = profileOfForm(form);
    expect(ok.issues.size).toBe(0);
    expect(ok.profile).toMatchObject({ name: 'lab', cluster: 'local', partition: 'debug', nodes: 2, setup: 'module load cuda' });
    expect(ok.profile).not.toHaveProperty('cpus_per_task');
    const bad = profileOfForm({ ...form, name: '', nodes: 'two', mem: '64 GB', python: 'python3; rm -rf ~' });
    expect(bad.profile).toBeUndefined();
    expect([...bad.issues.keys()].sort()).toEqual(['mem', 'name', 'nodes', 'python']);
  });
});

describe('SLURM states as run states', () => {
  const expected: Record<JobState, [string, string]> = {
    PENDING: ['queued', 'running'],
    CONFIGURING: ['running', 'running'],
    RUNNING: ['running', 'running'],
    COMPLETING: ['running', 'running'],
    SUSPENDED: ['running', 'running'],
    REQUEUED: ['queued', 'running'],
    COMPLETED: ['done', 'finished'],
    FAILED: ['failed', 'failed'],
    CANCELLED: ['stopped', 'stopped'],
    TIMEOUT: ['failed', 'failed'],
    PREEMPTED: ['failed', 'failed'],
    NODE_FAIL: ['failed', 'failed'],
    OUT_OF_MEMORY: ['failed', 'failed'],
    BOOT_FAIL: ['failed', 'failed'],
    DEADLINE: ['failed', 'failed'],
    UNKNOWN: ['running', 'running'],
  };
  it.each(JOB_STATES.map((s) => [s]))('%s: the Run page’s state and the Runs summary’s status', (state) => {
    expect([runStateOfCluster(state), clusterRunStatus(state)]).toEqual(expected[state]);
  });
  it('a job not seen yet is running (queued on the cluster)', () => {
    expect(clusterRunStatus(undefined)).toBe('running');
  });
});

function record(states: ClusterRecord['states'], extra: Partial<ClusterRecord> = {}): ClusterRecord {
  return {
    format: 'lora-studio-cluster-run',
    version: 1,
    cluster: 'local',
    remote_dir: '/home/me/lora-studio-runs/r1-20261207',
    job_id: '42',
    job: {
      nodes: 1,
      nproc_per_node: 1,
      gpus_per_node: 0,
      python: 'python3',
      remote_dir: '~/lora-studio-runs',
      requeue: false,
      signal_seconds: 120,
    },
    base_model: '/models/tiny',
    states,
    ...extra,
  };
}

describe('cluster runs in the run registry', () => {
  it('lists a run by its cluster.json: the job, its state, its failure; unfinished ones are followed again', async () => {
    const runsDir = path.join(tmp, 'registry');
    const at = '2026-12-07T00:00:00.000Z';
    const runs: [string, ClusterRecord][] = [
      ['waiting', record([{ state: 'PENDING', reason: 'Priority', at }])],
      ['failed', record([{ state: 'FAILED', exitCode: '1:0', at }], { failure: 'job 42 FAILED (exit code 1:0) on local: no such base' })],
      ['cancelled', record([{ state: 'CANCELLED', at }])],
      ['unsubmitted', record([], { job_id: undefined })],
    ];
    for (const [id, r] of runs) {
      mkdirSync(path.join(runsDir, id), { recursive: true });
      writeFileSync(path.join(runsDir, id, 'config.json'), JSON.stringify({ base_model: '/models/tiny' }));
      await writeClusterRecord(path.join(runsDir, id), r);
    }
    const registry = new RunRegistry(runsDir);
    const listed = Object.fromEntries((await registry.list()).map((r) => [r.id, r]));
    expect(listed.waiting).toMatchObject({ status: 'running', cluster: { jobId: '42', state: 'PENDING', reason: 'Priority' } });
    expect(listed.failed).toMatchObject({ status: 'failed', error: expect.stringContaining('no such base'), cluster: { state: 'FAILED' } });
    expect(listed.cancelled).toMatchObject({ status: 'stopped', cluster: { state: 'CANCELLED' } });
    expect(listed.unsubmitted).toMatchObject({ status: 'incomplete' });
    expect(registry.clusterRunsToFollow()).toEqual([path.join(runsDir, 'waiting')]);
  });
});

describe('main/cluster’s events as job events', () => {
  it('metric lines give the reports and evaluations a local run gives; states a cluster event; the fold keeps the last', async () => {
    const runDir = path.join(tmp, 'mapped');
    mkdirSync(runDir);
    await writeClusterRecord(runDir, record([]));
    const events: TaskEvent[] = [];
    const mapper = new ClusterEventMapper(runDir, (e) => events.push(e));
    const memory = { rssBytes: 1, tensorBytes: 0, numTensors: 0 };
    mapper.onEvent({ type: 'state', status: { jobId: '42', state: 'RUNNING', source: 'squeue' } });
    mapper.onEvent({
      type: 'metric',
      line: { type: 'start', totalSteps: 4, startStep: 0, trainableParams: 1, allParams: 2, backend: 'PyTorch' },
    });
    mapper.onEvent({
      type: 'metric',
      line: {
        type: 'step',
        step: 1,
        totalSteps: 4,
        epoch: 0.1,
        loss: 2.5,
        learningRate: 1e-3,
        gradNorm: 1,
        tokensPerSecond: 9,
        elapsedMs: 1,
        etaMs: 3,
        memory,
      },
    });
    mapper.onEvent({ type: 'metric', line: { type: 'eval', step: 1, epoch: 0.1, evalLoss: 2.75 } });
    mapper.onEvent({ type: 'metric', line: { type: 'something-else', step: 1 } });
    mapper.onEvent({ type: 'log', stream: 'stderr', text: 'first\n\nsecond\n' });
    mapper.onEvent({ type: 'state', status: { jobId: '42', state: 'CANCELLED', source: 'squeue' } });
    const jobEvents = events.map((e) => ({ ...e, jobId: 'j' })) as JobEvent[];
    const view = foldEvents(jobEvents, emptyView('j'));
    expect(view.reports.map((r) => [r.step, r.loss])).toEqual([[1, 2.5]]);
    expect(view.evals.map((r) => [r.step, r.evalLoss])).toEqual([[1, 2.75]]);
    expect(view.logs.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual(['first', 'second']);
    expect(events.filter((e) => e.type === 'cluster').map((e) => (e as { cluster: { state?: string } }).cluster.state)).toEqual([
      undefined,
      'RUNNING',
      'CANCELLED',
    ]);
    expect(view.cluster).toEqual({ ...clusterRunInfo(record([])), state: 'CANCELLED', reason: undefined, exitCode: undefined });
  });
});
