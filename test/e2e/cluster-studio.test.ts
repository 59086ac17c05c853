import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterRunInfo, JobInfo, RunSummary } from '../../main/contract/contract.ts';
import { readClusterRecord } from '../../main/cluster/cluster-run-files.ts';
import { readPeftAdapter } from '../../main/engine/formats/peft-adapter.ts';
import { loadLlamaConfig } from '../../main/engine/llama/config.ts';
import { startServer, type StudioServer } from '../../main/server/server.ts';
import { englishWordsIn, logLines, openStudio, shot, type Studio } from '../helpers/run-pages.ts';
import { missingCluster, startTestCluster, type TestCluster } from '../helpers/slurm-cluster.ts';
import { chromiumMissing, RENDERER_DIR } from '../helpers/studio-browser.ts';
import { missingTorch, PYTHON } from '../helpers/torch.ts';

/**
 * "Run on a cluster" from the studio (issue 19), in Chromium against `serve`, on a real SLURM cluster (the test
 * helper's slurmctld + slurmd) with the real PyTorch trainer: the wizard saves a cluster profile and submits; the Run
 * page shows the job's state and the loss curve growing from the remote metrics.jsonl, and the adapter fetched and
 * verified at the end (the run then exports like a local one); a second run is followed again by a new studio on the
 * same runs folder (the first one closed mid-run), then cancelled; the Runs page lists both with their job state; a run
 * over ssh whose connection drops mid-run is waited out and ends completed and fetched with every step on its curve; a
 * job that fails there shows FAILED with its one line, an unknown partition fails before anything is staged, and the
 * cluster panel speaks Chinese.
 */
const missing = chromiumMissing() ?? missingCluster() ?? missingTorch();
if (missing) console.warn(`cluster studio test skipped: ${missing}`);

describe.skipIf(Boolean(missing))('the studio runs a fine-tune on a SLURM cluster', { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  let studio: Studio;
  let page: Page;
  let second: StudioServer | undefined;
  const nav = (p: string) => page.getByTestId(`nav-${p}`).click();
  const clusterState = () => page.getByTestId('cluster-state').getAttribute('data-state');
  const points = async () => Number((await page.getByTestId('loss-chart').getAttribute('data-points')) ?? 0);

  beforeAll(async () => {
    cluster = await startTestCluster({ nodes: 1, ssh: true });
    // The studio is on the login node: `local` runs sbatch here, with the cluster's SLURM_CONF (its job process
    // inherits the environment, and SLURM gives it to the job). One thread a process on the shared cores.
    Object.assign(process.env, { SLURM_CONF: cluster.conf, OMP_NUM_THREADS: '1' });
    studio = await openStudio();
    page = studio.page;
    page.on('dialog', (d) => void d.accept()); // Cancel's confirmation
  });
  afterAll(async () => {
    await second?.close();
    await studio?.close();
    await cluster?.stop();
  });

  it('the wizard saves a cluster profile (checked by the CLI’s schema) and submits; the Run page follows the job to a fetched adapter', async () => {
    await page.getByTestId('model-path').fill(studio.modelDir);
    await page.getByTestId('model-inspect').click();
    await expect.poll(() => page.getByTestId('next').isEnabled(), { timeout: 30_000 }).toBe(true);
    await page.getByTestId('next').click();
    await page.getByTestId('data-path').fill(studio.dataFile);
    await page.getByTestId('data-check').click();
    await expect.poll(() => page.getByTestId('next').isEnabled(), { timeout: 30_000 }).toBe(true);
    await page.getByTestId('next').click();
    const field = (name: string) => page.locator(`[data-field="${name}"] input`).first();
    await page.getByTestId('advanced-settings').locator('summary').click(); // logging_steps is among the folded settings
    for (const [name, value] of Object.entries({
      max_steps: '8',
      batch_size: '2',
      micro_batch_size: '2',
      cutoff_len: '96',
      val_set_size: '4',
      eval_steps: '4',
      lora_r: '4',
      learning_rate: '0.01',
      warmup_steps: '0',
      logging_steps: '1',
    }))
      await field(name).fill(value);
    await page.getByTestId('next').click();
    await page.getByTestId('run-name').fill('on-cluster');

    await page.getByTestId('target-cluster').check();
    const profile = (f: string) => page.getByTestId(`cluster-${f}`);
    await profile('name').fill('test cluster');
    await profile('cluster').fill('local');
    // A partition that could run a command is refused by the schema, in the form, before anything is sent.
    await profile('partition').fill('debug;$(touch /tmp/pwned)');
    await expect.poll(() => page.getByTestId('cluster-issue-partition').isVisible()).toBe(true);
    expect(await page.getByTestId('cluster-start').isEnabled()).toBe(false);
    expect(await page.getByTestId('cluster-save').isEnabled()).toBe(false);
    await profile('partition').fill(cluster.partition);
    await profile('python').fill(PYTHON);
    await profile('remote_dir').fill(path.join(studio.home, 'cluster-home'));
    await profile('time').fill('10:00');
    await page.getByTestId('cluster-save').click();
    await expect.poll(() => page.getByTestId('cluster-note').textContent()).toContain('test cluster');
    // Kept by the main side, in the settings store.
    const settings = (await studio.server.api.call('settings.get', {})) as { clusterProfiles: Record<string, unknown>[] };
    expect(settings.clusterProfiles).toEqual([
      expect.objectContaining({ name: 'test cluster', cluster: 'local', partition: cluster.partition, python: PYTHON, time: '10:00' }),
    ]);
    await shot(page, 'wizard-cluster-en');

    await page.getByTestId('cluster-start').click();
    expect(await page.getByTestId('run-page').isVisible()).toBe(true);
    await expect.poll(() => page.getByTestId('run-title').textContent(), { timeout: 30_000 }).toBe('on-cluster');
    // The job is submitted (a SLURM job id) and runs; the curve grows from the remote metrics.jsonl as it is copied.
    await expect.poll(() => page.getByTestId('cluster-job').textContent(), { timeout: 60_000 }).toMatch(/SLURM job \d+ on local/);
    await expect.poll(clusterState, { timeout: 90_000, interval: 250 }).toMatch(/RUNNING|COMPLETING|COMPLETED/);
    await expect.poll(clusterState, { timeout: 120_000, interval: 250 }).toBe('COMPLETED');
    await expect.poll(() => page.getByTestId('job-state').getAttribute('data-state'), { timeout: 60_000 }).toBe('done');
    await expect.poll(points).toBe(8);
    // Fetched at the end, each file checked by its hash on the cluster and the adapter by our PEFT reader.
    await expect
      .poll(() => page.getByTestId('cluster-fetched').textContent(), { timeout: 60_000 })
      .toMatch(/Fetched and verified .*the adapter/);
    await expect.poll(() => page.getByTestId('to-export').isVisible(), { timeout: 30_000 }).toBe(true);
    const runDir = path.join(studio.runsDir, 'on-cluster');
    const adapter = await readPeftAdapter(path.join(runDir, 'adapter'), await loadLlamaConfig(studio.modelDir));
    expect(adapter.config.r).toBe(4);
    expect(readClusterRecord(runDir).fetched?.adapter).toBe(true);
    await shot(page, 'run-cluster-en');

    // Export works on it as on a local run (it has adapter/ in PEFT's layout): the run is among Export's choices.
    await page.getByTestId('to-export').click();
    await expect.poll(() => page.getByTestId('export-run').inputValue()).toBe('on-cluster');
  });

  it('a run whose studio closed mid-run is followed again by the next studio (curves continue), and Cancel ends it CANCELLED', async () => {
    const job = (await studio.server.api.call('jobs.start', {
      kind: 'cluster',
      config: {
        action: 'submit',
        settings: {
          base_model: studio.modelDir,
          data_path: studio.dataFile,
          output_dir: 'long-cluster-run',
          num_epochs: 500, // long enough to be seen running, followed again and cancelled (about 25 steps a second)
          max_steps: 5000,
          batch_size: 2,
          micro_batch_size: 2,
          cutoff_len: 96,
          val_set_size: 0,
          eval_steps: 0,
          save_steps: 0,
          logging_steps: 1,
          lora_r: 4,
        },
        cluster: { cluster: 'local', partition: cluster.partition, python: PYTHON, remote_dir: path.join(studio.home, 'cluster-home') },
      },
    })) as JobInfo;
    const runDir = path.join(studio.runsDir, 'long-cluster-run');
    const state = () => (existsSync(path.join(runDir, 'cluster.json')) ? readClusterRecord(runDir).states.at(-1)?.state : undefined);
    await expect.poll(state, { timeout: 90_000, interval: 250 }).toBe('RUNNING');
    await expect.poll(() => studio.server.jobs.list().find((j) => j.id === job.id)!.state).toBe('running');
    // The studio goes away while the job runs on the cluster.
    await studio.server.close();
    expect(studio.server.jobs.list().find((j) => j.id === job.id)!.state).toBe('stopped');

    // A new studio on the same runs folder follows the job again from cluster.json, without being asked.
    second = await startServer({ port: 0, runsDir: studio.runsDir, homeDir: studio.home, rendererDir: RENDERER_DIR, log: () => {} });
    const follow = second.jobs.list().find((j) => j.kind === 'cluster' && j.runId === 'long-cluster-run');
    expect(follow?.state).toBe('running');
    await page.goto(second.pageUrl);
    await nav('run');
    await page.getByTestId('run-select').selectOption('long-cluster-run');
    await expect.poll(clusterState, { timeout: 30_000 }).toBe('RUNNING');
    await expect.poll(() => page.getByTestId('job-state').getAttribute('data-state')).toBe('running');
    // The curve grows as the new studio copies the remote metrics.jsonl.
    const before = await points();
    await expect.poll(points, { timeout: 60_000, interval: 250 }).toBeGreaterThan(Math.max(before, 1));
    expect(await clusterState()).toBe('RUNNING');
    // A page reload finds it again and keeps following.
    await page.reload();
    await nav('run');
    await page.getByTestId('run-select').selectOption('long-cluster-run');
    await expect.poll(clusterState, { timeout: 30_000 }).toBe('RUNNING');
    await page.getByTestId('cluster-cancel').click();
    await expect.poll(clusterState, { timeout: 90_000, interval: 250 }).toBe('CANCELLED');
    await expect.poll(() => page.getByTestId('job-state').getAttribute('data-state'), { timeout: 30_000 }).toBe('stopped');
    await shot(page, 'run-cluster-cancelled-en');

    // Runs lists both cluster runs with their cluster, job id and state.
    await nav('runs');
    const row = (id: string) => page.getByTestId('runs-table').locator(`tr[data-run="${id}"]`);
    await expect.poll(() => row('long-cluster-run').getByTestId('run-cluster-state').getAttribute('data-state')).toBe('CANCELLED');
    expect(await row('on-cluster').getByTestId('run-cluster-state').getAttribute('data-state')).toBe('COMPLETED');
    expect(await row('on-cluster').getByTestId('run-cluster').innerText()).toMatch(/Cluster: local · #\d+ · completed/);
    const { runs } = (await second.api.call('runs.list', {})) as { runs: (RunSummary & { cluster?: ClusterRunInfo })[] };
    expect(runs.find((r) => r.id === 'long-cluster-run')).toMatchObject({ status: 'stopped', cluster: { state: 'CANCELLED' } });
    expect(runs.find((r) => r.id === 'on-cluster')).toMatchObject({ status: 'finished', hasAdapter: true });
  });

  it('over ssh, a connection dropped mid-run is waited out: the curve goes on and the run ends fetched with every step', async () => {
    const api = (second ?? studio.server).api;
    const steps = 1000;
    await api.call('jobs.start', {
      kind: 'cluster',
      config: {
        action: 'submit',
        settings: {
          base_model: studio.modelDir,
          data_path: studio.dataFile,
          output_dir: 'over-ssh',
          num_epochs: 500,
          max_steps: steps,
          batch_size: 2,
          micro_batch_size: 2,
          cutoff_len: 96,
          val_set_size: 0,
          eval_steps: 0,
          save_steps: 100,
          logging_steps: 1,
          lora_r: 4,
        },
        cluster: {
          cluster: cluster.ssh!.target,
          ssh_config: cluster.ssh!.config,
          partition: cluster.partition,
          python: PYTHON,
          remote_dir: path.join(studio.home, 'cluster-ssh'),
        },
      },
    });
    await nav('run');
    await page.getByTestId('run-select').selectOption('over-ssh');
    await expect
      .poll(() => page.getByTestId('cluster-job').textContent(), { timeout: 60_000 })
      .toMatch(/SLURM job \d+ on ssh:\/\/root@127\.0\.0\.1:\d+/);
    await expect.poll(points, { timeout: 90_000, interval: 250 }).toBeGreaterThan(0);
    // The job is held (SIGSTOP through SLURM) while the connection is down, so it is still mid-run whatever the
    // machine's load: a tiny model's steps can otherwise all end before the drop, and nothing would be waited out.
    const jobId = readClusterRecord(path.join(studio.runsDir, 'over-ssh')).job_id!;
    cluster.slurm('scontrol', ['suspend', jobId]);
    await cluster.ssh!.down();
    await expect.poll(async () => (await logLines(page)).some((l) => /trying again in \d+ s/.test(l)), { timeout: 60_000 }).toBe(true);
    await cluster.ssh!.up();
    cluster.slurm('scontrol', ['resume', jobId]);
    await expect.poll(clusterState, { timeout: 240_000, interval: 250 }).toBe('COMPLETED');
    await expect.poll(() => page.getByTestId('cluster-fetched').textContent(), { timeout: 60_000 }).toMatch(/the adapter/);
    await expect.poll(points, { timeout: 30_000 }).toBe(steps);
    await expect.poll(() => page.getByTestId('job-state').getAttribute('data-state')).toBe('done');
    const runDir = path.join(studio.runsDir, 'over-ssh');
    expect(readClusterRecord(runDir).fetched).toMatchObject({ adapter: true, checkpoints: expect.arrayContaining([`step-${steps}`]) });
    await readPeftAdapter(path.join(runDir, 'adapter'), await loadLlamaConfig(studio.modelDir));
  }, 400_000);

  it('a job that fails on the cluster shows FAILED with its one line; an unknown partition fails before anything is staged; in Chinese too', async () => {
    const api = (second ?? studio.server).api;
    const submit = (name: string, cluster: Record<string, unknown>) =>
      api.call('jobs.start', {
        kind: 'cluster',
        config: {
          action: 'submit',
          settings: {
            base_model: studio.modelDir,
            data_path: studio.dataFile,
            output_dir: name,
            max_steps: 2,
            val_set_size: 0,
            eval_steps: 0,
          },
          cluster: { cluster: 'local', partition: cluster.partition ?? 'debug', python: PYTHON, ...cluster },
        },
      }) as Promise<JobInfo>;
    await submit('wrong-base', {
      partition: cluster.partition,
      remote_dir: path.join(studio.home, 'cluster-home'),
      cluster_base_model: '/nonexistent/base-model',
    });
    const refused = await submit('no-such-partition', {
      partition: 'nosuchpartition',
      remote_dir: path.join(studio.home, 'cluster-refused'),
    });
    await nav('runs'); // the Run page lists the runs as it is opened
    await nav('run');
    await page.getByTestId('run-select').selectOption('wrong-base');
    await expect.poll(clusterState, { timeout: 90_000, interval: 250 }).toBe('FAILED');
    await expect.poll(() => page.getByTestId('job-state').getAttribute('data-state'), { timeout: 30_000 }).toBe('failed');
    const failure = await page.getByTestId('cluster-failure').innerText();
    expect(failure).toMatch(/^job \d+ FAILED \(exit code \d+:\d+\) on local: .*\/nonexistent\/base-model/);
    expect(failure).not.toContain('\n');
    // The job's stderr, copied into the run folder, is in the log of a page opened after it ended.
    expect((await logLines(page)).some((l) => l.includes('/nonexistent/base-model'))).toBe(true);

    await page.getByTestId('language').selectOption('zh-CN');
    await expect.poll(() => page.getByTestId('cluster-state').innerText()).toBe('失败');
    expect(await page.getByTestId('cluster-job').innerText()).toMatch(/^local 上的 SLURM 作业 \d+$/);
    const english = await englishWordsIn(page, 'cluster-panel', [failure, 'SLURM', 'local']);
    expect(english, english.join(', ')).toEqual([]);
    await shot(page, 'run-cluster-failed-zh');
    await page.getByTestId('language').selectOption('en');

    await page.getByTestId('run-select').selectOption('no-such-partition');
    await expect.poll(() => page.getByTestId('job-state').getAttribute('data-state'), { timeout: 30_000 }).toBe('failed');
    expect(await page.getByTestId('job-failed').innerText()).toContain('nosuchpartition');
    const job = (second ?? studio.server).jobs.list().find((j) => j.id === refused.id)!;
    expect(job.error).toMatch(/nosuchpartition/);
    expect(existsSync(path.join(studio.home, 'cluster-refused'))).toBe(false); // nothing was staged
  });
});
