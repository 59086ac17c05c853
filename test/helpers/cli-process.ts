import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

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
// By their place beside this file, so the bench (run from anywhere) finds them too.
const CLI = fileURLToPath(new URL('../../bin/lora-studio.mjs', import.meta.url));
const PEAK_RSS_ON_EXIT = fileURLToPath(new URL('./hwm-exit.mjs', import.meta.url));

/**
 * Start a TypeScript entry (through tsx) or a Node script as a real process, from the current folder (the repo root
 * under vitest). The environment is this process's (vitest's sets LORA_STUDIO_WASM_THREADS=1) plus `env`.
 */
export function startProcess(args: string[], opts: { ts?: boolean; env?: NodeJS.ProcessEnv } = {}): Running {
  const child = spawn(process.execPath, opts.ts ? ['--import', TSX, ...args] : args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
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

export interface CliOptions {
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Measure the process's peak resident memory (hwm-exit.mjs prints it as it exits): `peakRss` of runCli. */
  peakRss?: boolean;
}

/**
 * The CLI, as a user runs it: `lora-studio <args>` in a process of its own. The one way tests and the bench start it;
 * never a blocking spawnSync (a blocked test worker misses vitest's heartbeats).
 */
export function startCli(args: string[], opts: CliOptions = {}): Running {
  return startProcess([...(opts.peakRss ? ['--import', PEAK_RSS_ON_EXIT] : []), CLI, ...args], { env: opts.env });
}

/** How a CLI run ended; `peakRss`: its peak resident memory in bytes when asked for and printed, else NaN. */
export type CliRun = Ended & { peakRss: number };

/**
 * Run the CLI to its end. `timeoutMs`: a run still going then is killed (SIGKILL; `signal` says so), so a hung
 * command cannot outlive its test.
 */
export async function runCli(args: string[], opts: CliOptions & { timeoutMs?: number } = {}): Promise<CliRun> {
  const run = startCli(args, opts);
  const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => run.child.kill('SIGKILL'), opts.timeoutMs);
  const ended = await run.ended;
  clearTimeout(timer);
  const peak = opts.peakRss ? /VmHWM_BYTES=(\d+)/.exec(ended.stderr) : null;
  return { ...ended, peakRss: peak ? Number(peak[1]) : NaN };
}

/** The lines of `text` that start with `error:`. */
export const errorLines = (text: string) => text.split('\n').filter((l) => l.startsWith('error:'));

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
