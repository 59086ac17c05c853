/**
 * The job worker: one process per job, started by the host (a Node child process, or Electron's utilityProcess).
 * It waits for its `run` message, runs the task for the job's kind and reports every event back; on a stop request
 * (a `stop` message or SIGTERM) it aborts the task, which ends as soon as it can.
 */
import { StudioError } from '../engine/errors.ts';
import { fsStudioError } from '../engine/fs/fs-errors.ts';
import { runInterruptCleanups } from '../engine/fs/interrupt-cleanup.ts';
import type { JobKind } from '../contract/contract.ts';
import { hostMessageSchema, type WorkerMessage } from './messages.ts';
import { runTask, type TaskEvent } from './worker-tasks.ts';

interface ParentPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
}
const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;

function post(message: WorkerMessage): Promise<void> {
  if (parentPort) {
    parentPort.postMessage(message);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

function onHostMessage(listener: (m: unknown) => void): void {
  if (parentPort) parentPort.on('message', (e) => listener(e.data));
  else process.on('message', listener);
}

const abort = new AbortController();
let running: JobKind | undefined;
/** Fine-tuning, its measured steps, generation and the selftest stop at their next step; an export cannot, so it is ended at once. */
const STOPS_AT_A_STEP: JobKind[] = ['finetune', 'measure', 'generate', 'selftest', 'cluster'];

/** A stop (the host's message, SIGTERM, or Ctrl+C reaching the process group): end the job, leaving nothing unfinished. */
function stop(): void {
  abort.abort();
  if (running && !STOPS_AT_A_STEP.includes(running)) {
    runInterruptCleanups(); // the export's temp folder and its lock
    process.exit(143);
  }
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// A studio that dies leaves this worker running (it holds its run's lock, and the next studio shows it): writing
// to the dead studio's pipes must not end it.
process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);

async function finish(code: number): Promise<never> {
  // The wasm backend's threads would keep the process alive; the job is over, so leave.
  await new Promise((r) => setTimeout(r, 10));
  process.exit(code);
}

onHostMessage(async (raw) => {
  const parsed = hostMessageSchema.safeParse(raw);
  if (!parsed.success) {
    console.error(`worker: ignoring a malformed message from the host: ${parsed.error.message}`);
    return;
  }
  const msg = parsed.data;
  if (msg.type === 'stop') return stop();
  if (running) return console.error('worker: already running a job');
  const { id, kind, config } = msg.job;
  running = kind;
  const emit = (event: TaskEvent) => void post({ type: 'event', event: { ...event, jobId: id } });
  try {
    emit({ type: 'started', kind });
    const { reason, result } = await runTask(kind, config, { jobId: id, emit, signal: abort.signal });
    await post({ type: 'event', event: { jobId: id, type: 'done', reason, result: result && JSON.parse(JSON.stringify(result)) } });
    await finish(0);
  } catch (e) {
    // A raw fs error on a path the user chose still reaches the page as one line naming it.
    const err = (fsStudioError(e) ?? e) as Error;
    // A StudioError is the user's input refused with a sentence that names the file: the sentence is the whole story.
    // Anything else is a defect of ours, and its stack is what a bug report needs.
    console.error(err instanceof StudioError ? `error: ${err.message}` : (err?.stack ?? String(e)));
    // The host fills lastOutput from what it captured of our stdout/stderr.
    await post({ type: 'event', event: { jobId: id, type: 'failed', error: err?.message ?? String(e), lastOutput: [] } });
    await finish(1);
  }
});

void post({ type: 'ready', pid: process.pid });
