import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { jobEventSchema, type JobEvent, type JobInfo, type JobKind } from '../contract/contract.ts';
import { JOB_KIND_SPECS, JOB_KINDS, parseJobSettings, type JobKindSpec } from '../contract/job-kinds.ts';
import { StudioError } from '../engine/errors.ts';
import { describeOwner, liveOwner, lockBeside } from '../engine/fs/folder-lock.ts';
import { isPathInside, realPathOf } from '../engine/fs/output-folder.ts';
import { appendRunFailure, runPaths } from '../engine/train/run-folder.ts';
import { workerMessageSchema } from './messages.ts';
import { AdoptedRun, type AdoptedEnd } from './adopted-run.ts';
import { OutputTail } from './output-tail.ts';
import type { RunRegistry } from './run-registry.ts';
import type { WorkerHandle, WorkerSpawner } from './spawner.ts';

export interface JobHostOptions {
  spawner: WorkerSpawner;
  /** Where fine-tuning runs get their folders: runs/<runId>/. */
  runsDir: string;
  /** How long a stopped job may take to finish before it is killed (ms). */
  stopGraceMs?: number;
  availableKinds?: readonly JobKind[];
}

/**
 * Jobs run one at a time in the order they were started (they compete for the same cores and memory), except the
 * playground's generate jobs: a user waiting for an answer should not wait for a training run to end, so they
 * have a lane of their own, also one at a time. Each kind's lane is in its record (JOB_KIND_SPECS).
 */
type Lane = Exclude<JobKindSpec['lane'], 'remote'>;
/** A remote kind (cluster: it polls, the cluster computes) starts at once, beside every other job, in no lane. */
const isRemote = (kind: JobKind) => JOB_KIND_SPECS[kind].lane === 'remote';
const laneOf = (kind: JobKind): Lane => {
  const lane = JOB_KIND_SPECS[kind].lane;
  if (lane === 'remote') throw new Error(`${kind} jobs wait in no lane`);
  return lane;
};

interface Job {
  info: JobInfo;
  config: Record<string, unknown>;
  worker?: WorkerHandle;
  tail: OutputTail;
  stopRequested: boolean;
  /** The worker's done/failed event, held back until the process has exited (so its last output is in). */
  terminal?: Extract<JobEvent, { type: 'done' | 'failed' }>;
  /** A run this studio did not start but found being written (adoptRunning). */
  adopted?: AdoptedRun;
  /**
   * A fine-tuning job has written into its run folder: it reported more than `started` (the trainer reports nothing
   * before the folder is its own), so a failure is recorded there, never in the folder of a run it refused to touch.
   */
  wroteRun?: boolean;
}

/** `20261125-011231-3fa9`: sorts by time, unique enough for one machine. */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

/**
 * Runs jobs one at a time, in the order they were started, each in its own worker process. A worker that dies
 * becomes a `failed` event carrying its last output; the host itself carries on with the next job.
 */
export class JobHost {
  private readonly jobs = new Map<string, Job>();
  private readonly lanes: Record<Lane, { queue: Job[]; running?: Job }> = { queue: { queue: [] }, interactive: { queue: [] } };
  /** Running remote jobs (cluster), which wait for no lane. */
  private readonly remote = new Set<Job>();
  private readonly listeners = new Set<(e: JobEvent) => void>();
  private idleWaiters: (() => void)[] = [];
  private counter = 0;

  constructor(private readonly opts: JobHostOptions) {}

  get availableKinds(): readonly JobKind[] {
    return this.opts.availableKinds ?? JOB_KINDS;
  }

  onEvent(listener: (e: JobEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  list(): JobInfo[] {
    return [...this.jobs.values()].map((j) => ({ ...j.info }));
  }

  start(kind: JobKind, config: Record<string, unknown>): JobInfo {
    if (!this.availableKinds.includes(kind)) {
      throw new StudioError(
        `${kind} jobs are not available in this build (available: ${this.availableKinds.join(', ')})`,
        undefined,
        'jobs/unavailable',
      );
    }
    const id = `job-${++this.counter}-${randomBytes(3).toString('hex')}`;
    const info: JobInfo = { id, kind, state: 'queued', createdAt: new Date().toISOString(), seq: 0 };
    const cfg = { ...config };
    // The same strict schema as the API contract: also for callers that reach the host directly.
    parseJobSettings(kind, cfg);
    const spec: JobKindSpec = JOB_KIND_SPECS[kind];
    const key = spec.outputKey;
    if (kind === 'finetune' && (typeof cfg.output_dir !== 'string' || cfg.output_dir === '')) {
      // A run without a folder of its own gets one under runsDir, so the Runs page finds it.
      info.runId = newRunId();
      cfg.output_dir = path.join(this.opts.runsDir, info.runId);
    } else if (key && typeof cfg[key] === 'string') {
      const out = this.insideRunsDir(key, cfg[key]);
      cfg[key] = out;
      if (kind === 'finetune') info.runId = path.basename(out);
      this.refuseIfBeingWritten(kind, out);
    }
    if (kind === 'finetune') info.runDir = cfg.output_dir as string;
    if (kind === 'cluster') {
      const same = this.placeClusterJob(info, cfg);
      if (same) return { ...same.info };
    }
    const job: Job = { info, config: cfg, tail: new OutputTail(), stopRequested: false };
    this.jobs.set(id, job);
    if (isRemote(kind)) {
      this.remote.add(job);
      this.launch(job, () => this.remote.delete(job));
      return { ...info };
    }
    this.lanes[laneOf(kind)].queue.push(job);
    this.pump(laneOf(kind));
    return { ...info };
  }

  /**
   * A cluster job's local run folder, kept inside runsDir: a submit without output_dir gets a folder of its own. A
   * submit or follow owns the run's view (runDir); cancel and fetch name the run only. A follow of a run already
   * followed is that job (returned), so a reopened page or a second tab never follows twice.
   */
  private placeClusterJob(info: JobInfo, cfg: Record<string, unknown>): Job | undefined {
    const submit = cfg.action === 'submit';
    const holder = submit ? ((cfg.settings = { ...(cfg.settings as Record<string, unknown>) }) as Record<string, unknown>) : cfg;
    let dir: string;
    if (submit && (typeof holder.output_dir !== 'string' || holder.output_dir === '')) dir = path.join(this.opts.runsDir, newRunId());
    else dir = this.insideRunsDir('output_dir', String(holder.output_dir));
    holder.output_dir = dir;
    info.runId = path.basename(dir);
    const following = [...this.jobs.values()].find(
      (j) =>
        j.info.kind === 'cluster' &&
        j.info.runDir !== undefined &&
        path.resolve(j.info.runDir) === path.resolve(dir) &&
        (j.info.state === 'running' || j.info.state === 'queued'),
    );
    if (cfg.action === 'follow' && following) return following;
    if (submit && following)
      throw new StudioError('a cluster job of this run is being followed; cancel it, or choose another run name', dir, 'output/in-use');
    if (submit) this.refuseIfBeingWritten('finetune', dir);
    if (submit || cfg.action === 'follow') info.runDir = dir;
    return undefined;
  }

  /**
   * An output path of a job, resolved inside runsDir (a relative one is taken there, never in the server's working
   * folder); one that leads outside it (`../x`, an absolute path elsewhere, a symlink out) is refused: a page, which
   * may be on another machine, writes only in the runs folder.
   */
  private insideRunsDir(key: string, value: string): string {
    const full = path.resolve(this.opts.runsDir, value);
    const real = realPathOf(full);
    const root = realPathOf(this.opts.runsDir);
    if (real === root || !isPathInside(real, root))
      throw new StudioError(
        `${key} "${value}" is ${real === root ? 'the runs folder itself' : 'outside the runs folder'} (${this.opts.runsDir}); the studio writes only inside it: give a folder name or a path within it`,
        undefined,
        'jobs/outside-runs',
      );
    return full;
  }

  /** Refuse at once an output that a live process is writing (its lock), rather than queue a job that would fail. */
  private refuseIfBeingWritten(kind: JobKind, out: string): void {
    let owner;
    try {
      owner = liveOwner(kind === 'finetune' ? runPaths(out).lock : lockBeside(out));
    } catch {
      return; // not a lock file: the job's own claim reports it
    }
    if (owner)
      throw new StudioError(
        `in use by ${describeOwner(owner, owner.state)}: one writer at a time; wait for it to finish or stop it`,
        out,
        'output/in-use',
      );
  }

  /**
   * Runs in runsDir being written by a live process on this host that is no job of this studio (a worker an earlier
   * studio left running when it was killed, or a CLI run): each becomes a running fine-tuning job, with its events
   * read from its folder and stop sent to its process. The queue waits for it as for its own jobs. Returns the jobs
   * adopted now.
   */
  adoptRunning(runs: RunRegistry): JobInfo[] {
    const adopted: JobInfo[] = [];
    for (const { id: runId, dir, owner } of runs.writing()) {
      if (owner.state !== 'alive') continue; // on another host: shown as running, but no signal reaches it
      const known = [...this.jobs.values()].some(
        (j) =>
          (j.info.state === 'running' || j.info.state === 'queued') && (j.info.pid === owner.pid || (j.adopted && j.info.runId === runId)),
      );
      if (known) continue;
      const id = `adopted-${++this.counter}-${runId}`;
      const info: JobInfo = {
        id,
        kind: 'finetune',
        state: 'running',
        runId,
        runDir: dir,
        pid: owner.pid,
        createdAt: owner.since,
        startedAt: owner.since,
        seq: 0,
      };
      // Its folder is its own: should its writer die, the folder says so too.
      const job: Job = { info, config: { output_dir: dir }, tail: new OutputTail(), stopRequested: false, wroteRun: true };
      job.adopted = new AdoptedRun(dir, owner, {
        event: (e) => {
          const parsed = jobEventSchema.safeParse({ ...e, jobId: id });
          if (parsed.success) this.emit(job, parsed.data);
        },
        end: (how) => this.endAdopted(job, how),
      });
      this.jobs.set(id, job);
      const lane = this.lanes.queue;
      if (!lane.running) lane.running = job; // the queue waits for it, as for a job of its own
      this.emit(job, { jobId: id, type: 'started', kind: 'finetune', runId });
      adopted.push({ ...info });
    }
    return adopted;
  }

  /** Cluster runs in runsDir whose job had not ended when last seen: followed again (the studio was closed meanwhile). */
  followClusterRuns(runs: RunRegistry): JobInfo[] {
    const started: JobInfo[] = [];
    for (const dir of runs.clusterRunsToFollow()) {
      try {
        started.push(this.start('cluster', { action: 'follow', output_dir: dir }));
      } catch (e) {
        console.error(`could not follow the cluster run ${dir} again:`, e);
      }
    }
    return started;
  }

  private endAdopted(job: Job, how: AdoptedEnd): void {
    const t: Extract<JobEvent, { type: 'done' | 'failed' }> =
      how.type === 'done'
        ? { jobId: job.info.id, type: 'done', reason: how.reason }
        : { jobId: job.info.id, type: 'failed', error: how.error, lastOutput: [] };
    const state =
      t.type === 'failed' ? 'failed' : job.stopRequested || (how.type === 'done' && how.reason === 'stopped') ? 'stopped' : 'done';
    const wasRunning = this.lanes.queue.running === job;
    if (wasRunning) this.lanes.queue.running = undefined;
    this.finish(job, state, t);
    if (wasRunning) this.pump('queue');
  }

  /** Queued or running jobs that use `dir`: a finetune writing there, or any job with a settings path inside it. */
  activeJobsIn(dir: string): JobInfo[] {
    const root = path.resolve(dir);
    // A cluster submit holds its run folder inside its settings: the job's run folder counts too.
    const uses = (j: Job) =>
      (j.info.runDir !== undefined && isPathInside(path.resolve(j.info.runDir), root)) ||
      Object.values(j.config).some((v) => typeof v === 'string' && path.isAbsolute(v) && isPathInside(path.resolve(v), root));
    return [...this.jobs.values()]
      .filter((j) => (j.info.state === 'queued' || j.info.state === 'running') && uses(j))
      .map((j) => ({ ...j.info }));
  }

  /** Stop a job: a queued one leaves the queue; a running one is asked to stop, then killed after the grace time. */
  stop(id: string): boolean {
    const job = this.jobs.get(id);
    if (!job || job.stopRequested || (job.info.state !== 'queued' && job.info.state !== 'running')) return false;
    job.stopRequested = true;
    if (job.adopted) return job.adopted.stop(this.opts.stopGraceMs ?? 5000);
    if (job.info.state === 'queued') {
      const queue = this.lanes[laneOf(job.info.kind)].queue;
      queue.splice(queue.indexOf(job), 1);
      this.finish(job, 'stopped', { jobId: id, type: 'done', reason: 'stopped' });
      return true;
    }
    job.worker?.send({ type: 'stop' });
    job.worker?.terminate();
    const timer = setTimeout(() => job.worker?.kill(), this.opts.stopGraceMs ?? 5000);
    timer.unref();
    return true;
  }

  /** Resolves once no job is running or queued. */
  whenIdle(): Promise<void> {
    if (this.idle()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private idle(): boolean {
    return this.remote.size === 0 && Object.values(this.lanes).every((l) => !l.running && l.queue.length === 0);
  }

  /** Stop everything this studio started (queued and running) and wait for its workers to end. Adopted runs go on. */
  async close(): Promise<void> {
    for (const job of this.jobs.values()) {
      if (!job.adopted || job.info.state !== 'running') continue;
      job.adopted.detach();
      if (this.lanes.queue.running === job) this.lanes.queue.running = undefined;
    }
    for (const lane of Object.values(this.lanes)) {
      for (const j of [...lane.queue]) this.stop(j.info.id);
      if (lane.running) this.stop(lane.running.info.id);
    }
    for (const j of [...this.remote]) this.stop(j.info.id);
    await this.whenIdle();
  }

  /** Send a job's event to the listeners, numbered (JobInfo.seq counts them, so a page can join history and live events). */
  private emit(job: Job, event: JobEvent): void {
    job.info.seq = (job.info.seq ?? 0) + 1;
    const e = { ...event, seq: job.info.seq };
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        console.error('job event listener failed:', err);
      }
    }
  }

  private pump(name: Lane): void {
    const lane = this.lanes[name];
    if (lane.running) return;
    const job = lane.queue.shift();
    if (!job) {
      if (this.idle()) for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    lane.running = job;
    this.launch(job, () => {
      lane.running = undefined; // the next job may still start
      this.pump(name);
    });
  }

  /** Start a job's worker; `ended` runs when it could not start (after the failed event). */
  private launch(job: Job, ended: () => void): void {
    job.info.state = 'running';
    job.info.startedAt = new Date().toISOString();
    let worker: WorkerHandle;
    try {
      worker = this.opts.spawner();
    } catch (e) {
      this.finish(job, 'failed', {
        jobId: job.info.id,
        type: 'failed',
        error: `could not start the job process: ${(e as Error).message}`,
        lastOutput: [],
      });
      ended();
      return;
    }
    job.worker = worker;
    worker.onOutput((chunk) => job.tail.push(chunk));
    worker.onMessage((raw) => this.onWorkerMessage(job, raw));
    worker.onExit((code, signal) => this.onWorkerExit(job, code, signal));
  }

  private onWorkerMessage(job: Job, raw: unknown): void {
    const parsed = workerMessageSchema.safeParse(raw);
    if (!parsed.success) {
      job.tail.push(`host: malformed message from the worker: ${parsed.error.message}\n`);
      return;
    }
    const msg = parsed.data;
    if (msg.type === 'ready') {
      job.info.pid = msg.pid;
      if (job.stopRequested) return job.worker?.send({ type: 'stop' });
      job.worker?.send({ type: 'run', job: { id: job.info.id, kind: job.info.kind, config: job.config } });
      return;
    }
    let event = { ...msg.event, jobId: job.info.id };
    if (event.type === 'started' && job.info.runId) event = { ...event, runId: job.info.runId };
    // The job's own words join its stdout/stderr in the tail, so a crash report shows what it was doing.
    if (event.type === 'log') job.tail.push(`${event.level}: ${event.message}\n`);
    if (event.type === 'report')
      job.tail.push(`step ${event.step}${event.totalSteps ? `/${event.totalSteps}` : ''}: loss ${event.loss.toFixed(4)}\n`);
    if (event.type === 'done' || event.type === 'failed') job.terminal = event;
    else {
      if (event.type !== 'started') job.wroteRun = true;
      this.emit(job, event);
    }
  }

  private onWorkerExit(job: Job, code: number | null, signal: string | null): void {
    const lastOutput = job.tail.get();
    const id = job.info.id;
    let t = job.terminal;
    if (t?.type === 'failed') t = { ...t, lastOutput: t.lastOutput.length ? t.lastOutput : lastOutput };
    if (!t) {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      t = job.stopRequested
        ? { jobId: id, type: 'done', reason: 'stopped' }
        : { jobId: id, type: 'failed', error: `the job process ${how} before finishing`, lastOutput };
    }
    const state = t.type === 'failed' ? 'failed' : job.stopRequested || t.reason === 'stopped' ? 'stopped' : 'done';
    job.worker = undefined;
    if (this.remote.delete(job)) {
      this.finish(job, state, t);
      if (this.idle()) for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    const lane = laneOf(job.info.kind);
    this.lanes[lane].running = undefined;
    this.finish(job, state, t);
    this.pump(lane);
  }

  private finish(job: Job, state: JobInfo['state'], event: Extract<JobEvent, { type: 'done' | 'failed' }>): void {
    job.info.state = state;
    job.info.endedAt = new Date().toISOString();
    if (event.type === 'failed') job.info.error = event.error;
    // A cluster run's metrics.jsonl is a copy of the cluster's (its failure is in cluster.json): nothing is added to it.
    if (event.type === 'failed' && job.wroteRun && job.info.runDir && job.info.kind !== 'cluster')
      this.recordFailure(job.info.runDir, event);
    this.emit(job, event);
  }

  /** The run folder keeps how the attempt ended (metrics.jsonl's `failed` line), for the pages and after a restart. */
  private recordFailure(runDir: string, event: Extract<JobEvent, { type: 'failed' }>): void {
    try {
      appendRunFailure(runPaths(runDir).metrics, { error: event.error, lastOutput: event.lastOutput });
    } catch (e) {
      console.error(`could not record the failure in ${runDir}:`, e);
    }
  }
}
