import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { JobEvent, JobInfo, JobKind } from '../contract/contract.ts';
import { jobSettingsSchemas } from '../contract/job-settings.ts';
import { StudioError } from '../engine/errors.ts';
import { isPathInside } from '../engine/fs/output-folder.ts';
import { parseSettings } from '../engine/parse-settings.ts';
import { workerMessageSchema } from './messages.ts';
import { OutputTail } from './output-tail.ts';
import type { WorkerHandle, WorkerSpawner } from './spawner.ts';
import { AVAILABLE_KINDS } from './worker-tasks.ts';

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
 * have a lane of their own, also one at a time.
 */
type Lane = 'queue' | 'interactive';
const laneOf = (kind: JobKind): Lane => (kind === 'generate' ? 'interactive' : 'queue');

/** How each kind's settings are named in messages, and which of them is an output path (taken inside runsDir). */
const SETTINGS_NAMES: Record<JobKind, { what: string; outputKey?: string }> = {
  finetune: { what: 'fine-tuning settings' },
  merge: { what: 'merge settings', outputKey: 'output_dir' },
  export: { what: 'state dict settings', outputKey: 'output_dir' },
  quantize: { what: 'quantize settings', outputKey: 'output' },
  generate: { what: 'playground settings' },
  selftest: { what: 'selftest settings' },
};

interface Job {
  info: JobInfo;
  config: Record<string, unknown>;
  worker?: WorkerHandle;
  tail: OutputTail;
  stopRequested: boolean;
  /** The worker's done/failed event, held back until the process has exited (so its last output is in). */
  terminal?: Extract<JobEvent, { type: 'done' | 'failed' }>;
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
  private readonly listeners = new Set<(e: JobEvent) => void>();
  private idleWaiters: (() => void)[] = [];
  private counter = 0;

  constructor(private readonly opts: JobHostOptions) {}

  get availableKinds(): readonly JobKind[] {
    return this.opts.availableKinds ?? AVAILABLE_KINDS;
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
    const info: JobInfo = { id, kind, state: 'queued', createdAt: new Date().toISOString() };
    const cfg = { ...config };
    // The same strict schema as the API contract: also for callers that reach the host directly.
    const check = SETTINGS_NAMES[kind];
    parseSettings(jobSettingsSchemas[kind], cfg, check.what);
    // A relative output is taken inside runsDir (next to the runs), never the server's working directory.
    const out = check.outputKey && cfg[check.outputKey];
    if (typeof out === 'string') cfg[check.outputKey!] = path.resolve(this.opts.runsDir, out);
    if (kind === 'finetune') {
      // A run without a folder of its own gets one under runsDir, so the Runs page finds it.
      if (typeof cfg.output_dir !== 'string' || cfg.output_dir === '') {
        info.runId = newRunId();
        cfg.output_dir = path.join(this.opts.runsDir, info.runId);
      } else {
        // A relative folder is taken inside runsDir, never the server's working directory.
        const dir = path.resolve(this.opts.runsDir, cfg.output_dir);
        cfg.output_dir = dir;
        info.runId = path.basename(dir);
      }
    }
    const job: Job = { info, config: cfg, tail: new OutputTail(), stopRequested: false };
    this.jobs.set(id, job);
    this.lanes[laneOf(kind)].queue.push(job);
    this.pump(laneOf(kind));
    return { ...info };
  }

  /** Queued or running jobs that use `dir`: a finetune writing there, or any job with a settings path inside it. */
  activeJobsIn(dir: string): JobInfo[] {
    const root = path.resolve(dir);
    const uses = (j: Job) =>
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
    return Object.values(this.lanes).every((l) => !l.running && l.queue.length === 0);
  }

  /** Stop everything (queued and running) and wait for the workers to end. */
  async close(): Promise<void> {
    for (const lane of Object.values(this.lanes)) {
      for (const j of [...lane.queue]) this.stop(j.info.id);
      if (lane.running) this.stop(lane.running.info.id);
    }
    await this.whenIdle();
  }

  private emit(e: JobEvent): void {
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
    job.info.state = 'running';
    job.info.startedAt = new Date().toISOString();
    let worker: WorkerHandle;
    try {
      worker = this.opts.spawner();
    } catch (e) {
      lane.running = undefined; // the next job may still start
      this.finish(job, 'failed', {
        jobId: job.info.id,
        type: 'failed',
        error: `could not start the job process: ${(e as Error).message}`,
        lastOutput: [],
      });
      this.pump(name);
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
    else this.emit(event);
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
    const lane = laneOf(job.info.kind);
    this.lanes[lane].running = undefined;
    job.worker = undefined;
    this.finish(job, state, t);
    this.pump(lane);
  }

  private finish(job: Job, state: JobInfo['state'], event: Extract<JobEvent, { type: 'done' | 'failed' }>): void {
    job.info.state = state;
    job.info.endedAt = new Date().toISOString();
    if (event.type === 'failed') job.info.error = event.error;
    this.emit(event);
  }
}
