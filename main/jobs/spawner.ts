import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { HostMessage } from './messages.ts';

/**
 * A running worker process, whichever way it was started: a Node child process here, Electron's utilityProcess
 * in the app (main/electron/utility-spawner.ts). The host only talks to this interface.
 */
export interface WorkerHandle {
  readonly pid: number | undefined;
  send(message: HostMessage): void;
  onMessage(listener: (message: unknown) => void): void;
  /** Every chunk written to stdout or stderr. */
  onOutput(listener: (chunk: string) => void): void;
  /** Called once, when the process has ended (code null when killed by a signal). */
  onExit(listener: (code: number | null, signal: string | null) => void): void;
  /** Ask it to stop (SIGTERM or a stop message). */
  terminate(): void;
  /** End it now (SIGKILL). */
  kill(): void;
}

export type WorkerSpawner = () => WorkerHandle;

/** The worker entry beside this file. */
const WORKER_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker.ts');

/** Forks `entry` as a Node child process that runs TypeScript through tsx's loader (no build step). */
export function nodeSpawner(entry = WORKER_ENTRY, env: NodeJS.ProcessEnv = process.env): WorkerSpawner {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return () => {
    const child = fork(entry, [], {
      execArgv: ['--import', tsx],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...env, LORA_STUDIO_WORKER: '1' },
    });
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    return {
      pid: child.pid,
      send: (m) => {
        if (child.connected) child.send(m);
      },
      onMessage: (l) => child.on('message', l),
      onOutput: (l) => {
        child.stdout?.on('data', l);
        child.stderr?.on('data', l);
      },
      // 'close' (not 'exit') so the last output has been read when the listener runs.
      onExit: (l) => child.once('close', (code, signal) => l(code, signal)),
      terminate: () => child.kill('SIGTERM'),
      kill: () => child.kill('SIGKILL'),
    };
  };
}
