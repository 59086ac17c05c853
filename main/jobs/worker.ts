/**
 * The job worker: one process per job, started by the host (a Node child process, or Electron's utilityProcess).
 * It waits for its `run` message, runs the task for the job's kind and reports every event back; on a stop request
 * (a `stop` message or SIGTERM) it aborts the task, which ends as soon as it can.
 */
import { StudioError } from '../engine/errors.ts';
import { fsStudioError } from '../engine/fs/fs-errors.ts';
import { hostMessageSchema, type WorkerMessage } from './messages.ts';
import { TASKS, type TaskEvent } from './worker-tasks.ts';

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
process.on('SIGTERM', () => abort.abort());
let running = false;

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
  if (msg.type === 'stop') return abort.abort();
  if (running) return console.error('worker: already running a job');
  running = true;
  const { id, kind, config } = msg.job;
  const emit = (event: TaskEvent) => void post({ type: 'event', event: { ...event, jobId: id } as never });
  const task = TASKS[kind];
  try {
    if (!task) throw new StudioError(`${kind} jobs are not available in this build`, undefined, 'jobs/unavailable');
    emit({ type: 'started', kind });
    const { reason, result } = await task({ jobId: id, config, emit, signal: abort.signal });
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
