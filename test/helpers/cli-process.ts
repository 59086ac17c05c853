import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** How a process ended, with all it printed. */
export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  /** Everything printed so far. */
  output(): string;
  /** Resolves when the output matches `re` (or the process has ended: then with false). */
  waitFor(re: RegExp): Promise<boolean>;
  ended: Promise<Ended>;
}

const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** Start a TypeScript entry (through tsx) or the CLI (`bin/lora-studio.mjs`) as a real process, from the repo root. */
export function startProcess(args: string[], opts: { ts?: boolean; env?: NodeJS.ProcessEnv } = {}): Running {
  const child = spawn(process.execPath, opts.ts ? ['--import', TSX, ...args] : args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LORA_STUDIO_WASM_THREADS: '1', ...opts.env },
  });
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; resolve: (v: boolean) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.re.test(stdout + stderr)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(true);
      }
    }
  };
  child.stdout!.on('data', (d) => ((stdout += d), check()));
  child.stderr!.on('data', (d) => ((stderr += d), check()));
  const ended = new Promise<Ended>((resolve) =>
    child.on('close', (code, signal) => {
      for (const w of waiters.splice(0)) w.resolve(false);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return {
    child,
    output: () => stdout + stderr,
    waitFor: (re) =>
      new Promise((resolve) => {
        if (re.test(stdout + stderr)) return resolve(true);
        if (child.exitCode !== null || child.signalCode !== null) return resolve(false);
        waiters.push({ re, resolve });
      }),
    ended,
  };
}

/** The CLI, as a user runs it. */
export function startCli(args: string[], env?: NodeJS.ProcessEnv): Running {
  return startProcess(['bin/lora-studio.mjs', ...args], { env });
}

/** The lines of `text` that start with `error:`. */
export const errorLines = (text: string) => text.split('\n').filter((l) => l.startsWith('error:'));

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
