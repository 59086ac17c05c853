import { StudioError } from '../engine/errors.ts';
import type { ClusterListener } from './cluster-events.ts';
import type { ClusterRecord } from './cluster-record.ts';
import { noteState, readClusterRecord, writeClusterRecord } from './cluster-run-files.ts';
import { openTransport } from './connect.ts';
import { fetchRun, type FetchResult } from './fetch.ts';
import { followJob, syncRunFiles, type FollowOptions, type FollowResult } from './follow.ts';
import { isTerminal, type JobStatus } from './job-state.ts';
import { cancelJob, queryJob } from './slurm.ts';
import type { Transport } from './transport.ts';

/**
 * The controls of a submitted run, each given only the local run folder: cluster.json says where the job is, so a
 * new process (the CLI later, the studio reopened) finds it again. Each opens its own connection and closes it.
 */
export interface ControlOptions {
  onEvent?: ClusterListener;
  /** Environment of local commands (`--cluster local`): SLURM_CONF, PATH. */
  env?: NodeJS.ProcessEnv;
}

async function withRun<T>(runDir: string, opts: ControlOptions, body: (t: Transport, record: ClusterRecord) => Promise<T>): Promise<T> {
  const record = readClusterRecord(runDir);
  if (!record.job_id)
    throw new StudioError(
      'the job was never submitted (cluster.json has no job id): submit the run again',
      runDir,
      'cluster/not-submitted',
    );
  const t = await openTransport({ cluster: record.cluster, ssh_config: record.ssh_config }, opts.env);
  try {
    return await body(t, record);
  } finally {
    await t.close();
  }
}

/** The job's state now, with the run's new metric lines and log text copied home; failure: the one-line reason. */
export async function clusterRunStatus(runDir: string, opts: ControlOptions = {}): Promise<FollowResult & { record: ClusterRecord }> {
  return withRun(runDir, opts, async (t, record) => {
    const r = await followJob(t, runDir, record, { onEvent: opts.onEvent ?? (() => undefined), once: true });
    return { ...r, record };
  });
}

/** Follow the job until it ends; with `fetch`, bring the adapter and checkpoints home once it has. */
export async function followClusterRun(
  runDir: string,
  opts: ControlOptions & Omit<FollowOptions, 'onEvent' | 'once'> & { fetch?: boolean },
): Promise<FollowResult & { fetched?: FetchResult }> {
  return withRun(runDir, opts, async (t, record) => {
    const onEvent = opts.onEvent ?? (() => undefined);
    const r = await followJob(t, runDir, record, { ...opts, onEvent });
    if (!opts.fetch || !isTerminal(r.status.state)) return r;
    return { ...r, fetched: await fetchRun(t, runDir, record, onEvent) };
  });
}

/** scancel, then wait (a minute at most) until SLURM reports the job ended; the run's files stay on the cluster. */
export async function cancelClusterRun(runDir: string, opts: ControlOptions = {}): Promise<JobStatus | undefined> {
  return withRun(runDir, opts, async (t, record) => {
    const onEvent = opts.onEvent ?? (() => undefined);
    await cancelJob(t, record.job_id!);
    const until = Date.now() + 60_000;
    let status: JobStatus | undefined;
    while (Date.now() < until) {
      status = await queryJob(t, record.job_id!);
      if (status && isTerminal(status.state)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (status && noteState(record, status)) {
      onEvent({ type: 'state', status });
      await writeClusterRecord(runDir, record);
    }
    await syncRunFiles(t, runDir, record, onEvent);
    return status;
  });
}

/** Copy the job's logs and metrics as far as they go now (`cluster logs`). */
export async function syncClusterRun(runDir: string, opts: ControlOptions = {}): Promise<ClusterRecord> {
  return withRun(runDir, opts, async (t, record) => {
    await syncRunFiles(t, runDir, record, opts.onEvent ?? (() => undefined));
    return record;
  });
}

/** Bring the adapter and checkpoints home, each verified (fetch.ts). */
export async function fetchClusterRun(runDir: string, opts: ControlOptions = {}): Promise<FetchResult> {
  return withRun(runDir, opts, (t, record) => fetchRun(t, runDir, record, opts.onEvent ?? (() => undefined)));
}
