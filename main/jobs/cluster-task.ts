import { clusterRunInfo, jobEventSchema, type ClusterRunInfo } from '../contract/contract.ts';
import type { ClusterEvent } from '../cluster/cluster-events.ts';
import { readClusterRecord } from '../cluster/cluster-run-files.ts';
import { isTerminal } from '../cluster/job-state.ts';
import { StudioError } from '../engine/errors.ts';
import type { TrainingEvent } from '../engine/train/reports.ts';
import { TRAINING_TYPES } from './run-history.ts';
import { jobEventsOf } from './training-events.ts';
import type { Task, TaskEvent } from './worker-tasks.ts';

/**
 * main/cluster's events as the studio's job events: metric lines become the same reports, evaluations and log lines
 * a local run's trainer gives (one mapping, training-events.ts), the job's stdout/stderr and the control's steps become
 * log lines, and every change of the job's state a `cluster` event carrying the run's cluster facts.
 */
export class ClusterEventMapper {
  private readonly progress = { total: 0 };
  private info: ClusterRunInfo | undefined;

  constructor(
    private readonly runDir: string,
    private readonly emit: (e: TaskEvent) => void,
  ) {}

  /** cluster.json read again (after a submit, a fetch, the end of a follow) and sent as it is. */
  sendRecord(): void {
    try {
      this.info = clusterRunInfo(readClusterRecord(this.runDir));
      this.emit({ type: 'cluster', cluster: this.info });
    } catch {
      // not submitted yet: nothing to show
    }
  }

  private log(level: 'info' | 'warn' | 'error', message: string): void {
    this.emit({ type: 'log', level, message });
  }

  readonly onEvent = (e: ClusterEvent): void => {
    switch (e.type) {
      case 'progress':
        return this.log('info', e.message);
      case 'note':
        return this.log(e.level, e.message);
      case 'submitted':
        this.log('info', `submitted: job ${e.jobId} on ${e.cluster} (${e.remoteDir})`);
        return this.sendRecord();
      case 'state': {
        // follow.ts reports a state before it writes cluster.json: the record read once, the state taken from the event.
        if (!this.info) this.sendRecord();
        if (!this.info) return;
        const { state, reason, exitCode } = e.status;
        this.info = { ...this.info, state, reason, exitCode };
        return this.emit({ type: 'cluster', cluster: this.info });
      }
      case 'metric':
        return this.metric(e.line);
      case 'log':
        for (const line of e.text.split('\n')) if (line.trim()) this.log(e.stream === 'stderr' ? 'warn' : 'info', line);
        return;
      case 'fetched':
        return this.log('info', `fetched and verified: ${e.path}`);
      case 'refused':
        return this.log('error', `refused ${e.path}: ${e.problem}`);
      case 'offline':
        return this.log('warn', `${e.message}; trying again in ${Math.round(e.retryInMs / 1000)} s`);
    }
  };

  /** A metrics.jsonl line (the cluster trainer writes the local trainer's schema) as the events a local run gives. */
  private metric(line: Record<string, unknown>): void {
    if (typeof line.type !== 'string' || !TRAINING_TYPES.has(line.type as TrainingEvent['type'])) return;
    for (const event of jobEventsOf(line as unknown as TrainingEvent, this.progress)) {
      if (jobEventSchema.safeParse({ ...event, jobId: 'check' }).success) this.emit(event);
    }
  }
}

/** The `cluster` job: submit (then follow, and fetch once completed), follow, cancel or fetch a run on SLURM. */
export const clusterTask: Task<'cluster'> = async ({ config: job, emit, signal }) => {
  const control = await import('../cluster/control.ts');
  let runDir: string;
  if (job.action === 'submit') {
    const { submitRun } = await import('../cluster/submit.ts');
    const { prepareRunBundle } = await import('../engine/train/prepared-run.ts');
    const settings = job.settings as Record<string, unknown>;
    runDir = String(settings.output_dir);
    const mapper = new ClusterEventMapper(runDir, emit);
    await submitRun({ settings, cluster: job.cluster }, { onEvent: mapper.onEvent, prepareBundle: prepareRunBundle });
    return follow(runDir, mapper);
  }
  runDir = job.output_dir;
  const mapper = new ClusterEventMapper(runDir, emit);
  mapper.sendRecord();
  if (job.action === 'follow') return follow(runDir, mapper);
  if (job.action === 'cancel') {
    const status = await control.cancelClusterRun(runDir, { onEvent: mapper.onEvent });
    mapper.sendRecord();
    return { reason: 'finished', result: { runDir, jobId: status?.jobId, state: status?.state } };
  }
  const fetched = await control.fetchClusterRun(runDir, { onEvent: mapper.onEvent });
  mapper.sendRecord();
  if (fetched.refused.length) throw refusal(fetched.refused);
  return { reason: 'finished', result: { runDir, adapter: fetched.adapter } };

  async function follow(dir: string, mapper: ClusterEventMapper) {
    const r = await control.followClusterRun(dir, { onEvent: mapper.onEvent, signal, fetch: true });
    mapper.sendRecord();
    const result = { runDir: dir, jobId: r.status.jobId, state: r.status.state, adapter: r.fetched?.adapter };
    // Stopped following (the studio closing, or the user): the job runs on, and the next follow goes on from here.
    if (!isTerminal(r.status.state)) return { reason: 'stopped', result };
    if (r.status.state === 'CANCELLED') return { reason: 'stopped', result };
    if (r.failure) throw new StudioError(r.failure, undefined, 'cluster/job-failed');
    if (r.fetched?.refused.length) throw refusal(r.fetched.refused);
    return { reason: 'finished', result };
  }
};

function refusal(refused: { piece: string; problem: string }[]): StudioError {
  return new StudioError(`fetch refused ${refused.map((x) => `${x.piece} (${x.problem})`).join('; ')}`, undefined, 'cluster/fetch-refused');
}
