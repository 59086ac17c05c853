import type { HostMessage } from '../jobs/messages.ts';
import type { WorkerSpawner } from '../jobs/spawner.ts';

/** The part of Electron's UtilityProcess the host needs. */
interface UtilityProcessLike {
  pid: number | undefined;
  stdout: NodeJS.ReadableStream | null;
  stderr: NodeJS.ReadableStream | null;
  postMessage(message: unknown): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  once(event: 'exit', listener: (code: number) => void): unknown;
  kill(): boolean;
}

/** Inside Electron, jobs run in a utilityProcess (a Node process Electron manages), with the same worker entry. */
export function utilityProcessSpawner(
  utilityProcess: { fork(modulePath: string, args: string[], options: Record<string, unknown>): UtilityProcessLike },
  entry: string,
): WorkerSpawner {
  return () => {
    const child = utilityProcess.fork(entry, [], { stdio: 'pipe', serviceName: 'LoRA Studio job' });
    let exited = false;
    return {
      get pid() {
        return child.pid;
      },
      send: (m: HostMessage) => {
        if (!exited) child.postMessage(m);
      },
      onMessage: (l) => child.on('message', l),
      onOutput: (l) => {
        child.stdout?.on('data', (c: Buffer) => l(String(c)));
        child.stderr?.on('data', (c: Buffer) => l(String(c)));
      },
      onExit: (l) =>
        child.once('exit', (code) => {
          exited = true;
          l(code, null);
        }),
      // utilityProcess.kill() sends SIGTERM on POSIX; the worker also gets a stop message first.
      terminate: () => void child.kill(),
      kill: () => {
        if (!exited && child.pid) process.kill(child.pid, 'SIGKILL');
      },
    };
  };
}
