import { StudioError } from '../engine/errors.ts';
import { readFile } from 'node:fs/promises';
import { runPaths } from '../engine/train/run-folder.ts';
import type { ClusterListener } from './cluster-events.ts';
import type { ClusterRecord } from './cluster-record.ts';
import { clusterPaths, noteState, writeClusterRecord } from './cluster-run-files.ts';
import { isTerminal, type JobStatus } from './job-state.ts';
import { syncMirrors, type MirroredFile } from './mirror.ts';
import { jobLogFiles, remoteLayout } from './remote-layout.ts';
import { queryJob, type StatusMemory } from './slurm.ts';
import { SshConnectionError } from './ssh-transport.ts';
import type { Transport } from './transport.ts';

/** The files a cluster run's local folder mirrors: the run's metrics.jsonl and the job's stdout and stderr. */
export function mirroredFiles(runDir: string, record: ClusterRecord): MirroredFile[] {
  const layout = remoteLayout(record.remote_dir);
  const files: MirroredFile[] = [{ name: 'metrics', remote: layout.runFiles.metrics, local: runPaths(runDir).metrics, wholeLines: true }];
  if (record.job_id) {
    const logs = jobLogFiles(layout, record.job_id);
    const local = clusterPaths(runDir);
    files.push(
      { name: 'stdout', remote: logs.stdout, local: local.logFile(record.job_id, 'stdout'), wholeLines: false },
      { name: 'stderr', remote: logs.stderr, local: local.logFile(record.job_id, 'stderr'), wholeLines: false },
    );
  }
  return files;
}

/** Copy what the job wrote since the last sync, and report it (metric lines parsed, log text as it came). */
export async function syncRunFiles(t: Transport, runDir: string, record: ClusterRecord, onEvent: ClusterListener): Promise<void> {
  for (const u of await syncMirrors(t, mirroredFiles(runDir, record))) {
    if (u.restarted) {
      onEvent({ type: 'note', level: 'warn', message: `${u.file.remote} on the cluster was replaced; copying it again from the start` });
      continue;
    }
    if (u.file.name !== 'metrics') {
      onEvent({ type: 'log', stream: u.file.name, text: u.text });
      continue;
    }
    for (const line of u.text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const json = JSON.parse(line) as unknown;
        if (json && typeof json === 'object' && !Array.isArray(json)) onEvent({ type: 'metric', line: json as Record<string, unknown> });
      } catch {
        onEvent({ type: 'note', level: 'warn', message: `metrics.jsonl: a line that is not JSON: ${line.slice(0, 200)}` });
      }
    }
  }
}

/** How much of the job's stderr a failure line looks through for the trainer's own `error:` line. */
const STDERR_TAIL = 64 * 1024;

/**
 * One line for a job that did not complete: SLURM's state and exit code, and the trainer's `error:` line from the
 * tail of its stderr (or the last line there, or of stdout, when it wrote none).
 */
export async function failureLine(runDir: string, record: ClusterRecord, status: JobStatus): Promise<string> {
  // SLURM's reason adds to the state (TimeLimit, JobLaunchFailure), except the one that repeats the exit code.
  const reason = status.reason && status.reason !== 'NonZeroExitCode' ? ` [${status.reason}]` : '';
  const head = `job ${status.jobId} ${status.state}${status.exitCode ? ` (exit code ${status.exitCode})` : ''}${reason} on ${record.cluster}`;
  const tailOf = async (stream: 'stdout' | 'stderr') => {
    const text = await readFile(clusterPaths(runDir).logFile(status.jobId, stream), 'utf8').catch(() => '');
    return text
      .slice(-STDERR_TAIL)
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  };
  const err = await tailOf('stderr');
  // The trainer's contract: one line starting `error:` (torchrun may prefix a rank's lines with "[default0]:"; its own
  // lines say "ERROR:", in capitals, and srun's "srun: error:").
  const trainerError = [...err].reverse().find((l) => /^(?:\[[^\]]*\]:)?error:/.test(l));
  const last =
    trainerError ??
    [...err].reverse().find((l) => !/^(?:srun|slurmstepd)(?:: |-)/.test(l)) ??
    err[err.length - 1] ??
    (await tailOf('stdout')).pop();
  return last ? `${head}: ${last.replace(/^\[[^\]]*\]:/, '').replace(/^error:\s*/, '')}` : head;
}

export interface FollowOptions {
  onEvent: ClusterListener;
  signal?: AbortSignal;
  /** Between polls while the job runs (default 3 s); a pending job is asked half as often. */
  pollMs?: number;
  /** Give up after the cluster has not answered for this long (default 10 min); the job runs on regardless. */
  maxOfflineMs?: number;
  /** Stop at the first state read, after one sync of the files (`cluster status`, `cluster logs`). */
  once?: boolean;
}

export interface FollowResult {
  status: JobStatus;
  /** Set when the job ended in any state but COMPLETED. */
  failure?: string;
}

/**
 * Follow a submitted job until it ends: each poll reads its state (recording every change in cluster.json) and, once
 * it runs, copies the new metric lines and log text. A dropped connection is retried with growing pauses; a follow
 * started later (a new process, the studio reopened) goes on from the copies' sizes.
 */
export async function followJob(t: Transport, runDir: string, record: ClusterRecord, opts: FollowOptions): Promise<FollowResult> {
  if (!record.job_id)
    throw new StudioError(
      'the job was never submitted (no job id): submit the run again',
      clusterPaths(runDir).record,
      'cluster/not-submitted',
    );
  const pollMs = opts.pollMs ?? 3000;
  const memory: StatusMemory = {};
  let offlineSince: number | undefined;
  let unknownPolls = 0;
  for (;;) {
    let status: JobStatus | undefined;
    try {
      status = await queryJob(t, record.job_id, memory);
      if (status) {
        unknownPolls = 0;
        if (noteState(record, status)) {
          opts.onEvent({ type: 'state', status });
          await writeClusterRecord(runDir, record);
        }
        if (status.state !== 'PENDING') await syncRunFiles(t, runDir, record, opts.onEvent);
        if (isTerminal(status.state)) {
          const failure = status.state === 'COMPLETED' ? undefined : await failureLine(runDir, record, status);
          if (failure !== record.failure) {
            record.failure = failure;
            await writeClusterRecord(runDir, record);
          }
          return { status, failure };
        }
        if (opts.once) return { status };
      } else if (++unknownPolls >= 5 || opts.once) {
        throw new StudioError(
          `SLURM on ${record.cluster} does not know job ${record.job_id} (not in squeue, nor in sacct or the job-completion file)`,
          undefined,
          'cluster/unknown-job',
        );
      }
      offlineSince = undefined;
    } catch (e) {
      if (!(e instanceof SshConnectionError) || e.code === 'cluster/ssh-refused' || e.code === 'cluster/ssh-host-key') throw e;
      offlineSince ??= Date.now();
      if (Date.now() - offlineSince > (opts.maxOfflineMs ?? 600_000) || opts.once)
        throw new SshConnectionError(`${e.message} (the job may still be running: follow it again later)`, e.code);
      const retryInMs = Math.min(60_000, 2 * pollMs * 2 ** Math.min(5, Math.floor((Date.now() - offlineSince) / pollMs / 4)));
      opts.onEvent({ type: 'offline', message: e.message, retryInMs });
      await sleep(retryInMs, opts.signal);
      continue;
    }
    if (opts.signal?.aborted) return { status: status! };
    await sleep(status?.state === 'PENDING' ? pollMs * 2 : pollMs, opts.signal);
    if (opts.signal?.aborted) return { status: status! };
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
