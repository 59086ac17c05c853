import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { liveOwner, type LockOwner } from '../engine/fs/folder-lock.ts';
import type { TrainingEvent } from '../engine/train/reports.ts';
import { runPaths } from '../engine/train/run-folder.ts';
import { jobEventsOf } from './training-events.ts';
import type { TaskEvent } from './worker-tasks.ts';

export type AdoptedEnd = { type: 'done'; reason: string } | { type: 'failed'; error: string };

const TRAINING_EVENT_TYPES = new Set(['start', 'step', 'skipped', 'eval', 'checkpoint', 'log', 'done']);

/**
 * A fine-tuning run whose writer this studio did not start: a worker that an earlier studio left running when it
 * was killed, or a CLI run in the runs folder. It is followed through its folder: new lines of metrics.jsonl become
 * job events, its end is seen when its lock goes (or its owner dies), and stop sends its process SIGTERM (a worker
 * then writes a checkpoint and exits), then SIGKILL after the grace time. Only a lock owner on this host is adopted.
 */
export class AdoptedRun {
  private offset = 0;
  private partial = '';
  private lastDone?: string;
  private stopRequested = false;
  private readonly progress = { total: 0 };
  private readonly timer: NodeJS.Timeout;
  private readonly paths;

  constructor(
    dir: string,
    readonly owner: LockOwner,
    private readonly on: { event(e: TaskEvent): void; end(how: AdoptedEnd): void },
    pollMs = 1000,
  ) {
    this.paths = runPaths(dir);
    // The history is the Runs page's (from the files); the job shows where the run is now, then what comes.
    let lastStep: number | undefined;
    for (const e of this.readNew()) {
      if (e.type === 'start') this.progress.total = e.totalSteps;
      if (e.type === 'step') lastStep = e.step;
    }
    if (lastStep !== undefined && this.progress.total)
      queueMicrotask(() => on.event({ type: 'progress', done: lastStep, total: this.progress.total }));
    this.timer = setInterval(() => this.poll(), pollMs);
    this.timer.unref();
  }

  /** Whether the lock is still held by the process adopted (not released, not taken over by another). */
  private alive(): boolean {
    try {
      return liveOwner(this.paths.lock)?.token === this.owner.token;
    } catch {
      return false;
    }
  }

  /** The complete metrics.jsonl lines written since the last read, as training events. */
  private readNew(): TrainingEvent[] {
    let fd: number;
    try {
      fd = openSync(this.paths.metrics, 'r');
    } catch {
      return [];
    }
    try {
      const size = fstatSync(fd).size;
      if (size <= this.offset) return [];
      const buf = Buffer.alloc(Math.min(size - this.offset, 16 << 20));
      const n = readSync(fd, buf, 0, buf.length, this.offset);
      this.offset += n;
      const text = this.partial + buf.subarray(0, n).toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      return lines.flatMap((line) => {
        try {
          const e = JSON.parse(line) as TrainingEvent;
          return e && TRAINING_EVENT_TYPES.has(e.type) ? [e] : [];
        } catch {
          return [];
        }
      });
    } finally {
      closeSync(fd);
    }
  }

  private poll(): void {
    const alive = this.alive();
    for (const e of this.readNew()) {
      if (e.type === 'done') this.lastDone = e.reason;
      for (const event of jobEventsOf(e, this.progress)) this.on.event(event);
    }
    if (alive) return;
    clearInterval(this.timer);
    if (this.lastDone) this.on.end({ type: 'done', reason: this.lastDone });
    else if (this.stopRequested) this.on.end({ type: 'done', reason: 'stopped' });
    else
      this.on.end({
        type: 'failed',
        error: `the process writing this run (${this.owner.command}, pid ${this.owner.pid}) ended without finishing; its folder holds what it wrote (resume it from its last checkpoint)`,
      });
  }

  /** Ask the process to stop (SIGTERM), and end it (SIGKILL) if it still holds the run after `graceMs`. */
  stop(graceMs: number): boolean {
    if (!this.alive()) return false;
    this.stopRequested = true;
    try {
      process.kill(this.owner.pid, 'SIGTERM');
    } catch {
      return false;
    }
    setTimeout(() => {
      if (this.alive()) process.kill(this.owner.pid, 'SIGKILL');
    }, graceMs).unref();
    return true;
  }

  /** Stop following the run (the studio closes; the run goes on). */
  detach(): void {
    clearInterval(this.timer);
  }
}
