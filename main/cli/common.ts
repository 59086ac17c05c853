import { Option, type Command } from 'commander';
import { BACKEND_CHOICES, describeBackend, initBackend, type BackendChoice, type BackendInfo } from '../engine/backend/index.ts';
import { StudioError } from '../engine/errors.ts';
import { fsStudioError } from '../engine/fs-errors.ts';

/** `--backend auto|gpu|webgpu|webgpu-software|node|wasm|cpu` and `--threads N`, on every command that computes. */
export function addBackendOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--backend <name>', 'tfjs backend (auto: gpu, then webgpu on a hardware adapter, node, wasm, cpu; webgpu-software: the SwiftShader adapter, slow, for tests)').choices([...BACKEND_CHOICES]).default('auto'))
    .addOption(new Option('--threads <n>', 'threads for the wasm backend (default: all cores)').argParser(positiveInt));
}

/** Start the chosen backend and say which one runs (stderr, so stdout stays clean for output). */
export async function startBackend(opts: { backend?: string; threads?: number }): Promise<BackendInfo> {
  const info = await initBackend((opts.backend ?? 'auto') as BackendChoice, { threads: opts.threads });
  console.error(describeBackend(info));
  return info;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new StudioError(`expected a positive whole number, got "${value}"`);
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new StudioError(`expected a whole number ≥ 0, got "${value}"`);
  return n;
}

export function finiteNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new StudioError(`expected a number, got "${value}"`);
  return n;
}

/**
 * Run a command body; any error becomes one clear line and exit code 1 instead of a stack trace (the stack of an
 * unexpected error is printed with LORA_STUDIO_DEBUG=1). A StudioError's message names the file and the problem.
 */
export function action<A extends unknown[]>(body: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await body(...args);
    } catch (e) {
      // A raw fs error (a path the user gave) still becomes one line naming that path.
      const err = fsStudioError(e) ?? (e instanceof Error ? e : new Error(String(e)));
      console.error(`error: ${err.message}`);
      if (!(err instanceof StudioError)) {
        if (process.env.LORA_STUDIO_DEBUG) console.error(err.stack);
        else console.error('(an unexpected error; run again with LORA_STUDIO_DEBUG=1 to see where it happened)');
      }
      process.exitCode = 1;
    }
  };
}
