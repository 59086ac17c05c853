import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

/** What a finished command left: its exit code (or the signal that ended it), stdout, and the tail of stderr. */
export interface CommandResult {
  code: number;
  signal?: NodeJS.Signals;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions {
  /** Bytes for stdin, or a stream piped into it (closed when it ends). */
  input?: Buffer | string | Readable;
  /** Where stdout goes instead of being collected (a stream fetch pipes into tar). */
  stdoutTo?: Writable;
  /** Ends the command (SIGTERM, then SIGKILL) after this long; undefined: no limit. */
  timeoutMs?: number;
  signal?: AbortSignal;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

const STDERR_KEPT = 64 * 1024;

/**
 * Run a program (never through a local shell: its arguments are passed as they are) and wait for it. A program that
 * is not there rejects with ENOENT; everything else resolves with the exit code for the caller to judge.
 */
export function runCommand(file: string, args: string[], opts: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      child.kill('SIGTERM');
      setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'), 2000).unref();
    };
    if (opts.timeoutMs !== undefined) timer = setTimeout(stop, opts.timeoutMs);
    opts.signal?.addEventListener('abort', stop, { once: true });
    if (opts.stdoutTo) child.stdout!.pipe(opts.stdoutTo, { end: true });
    else child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => {
      err = (err + d.toString('utf8')).slice(-STDERR_KEPT);
    });
    if (child.stdin && opts.input !== undefined) {
      child.stdin.on('error', () => undefined); // the command may exit before reading all of it; its exit code says why
      if (typeof opts.input === 'string' || Buffer.isBuffer(opts.input)) child.stdin.end(opts.input);
      else opts.input.pipe(child.stdin);
    }
    child.once('error', (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', stop);
      resolve({ code: code ?? 128, signal: signal ?? undefined, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

/** The last non-empty line of a command's stderr (what a one-line error shows). */
export function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines[lines.length - 1] ?? '';
}
