import type { Command } from 'commander';
import type { BackendChoice, BackendInfo } from '../engine/backend/index.ts';
import { startBackend as start } from '../engine/backend/start-backend.ts';
import { StudioError } from '../engine/errors.ts';
import { fsStudioError } from '../engine/fs/fs-errors.ts';
import { runInterruptCleanups } from '../engine/fs/interrupt-cleanup.ts';
import { finetuneConfigSchema } from '../engine/train/config.ts';
import { addSchemaFlags } from './schema-flags.ts';

/** The backend settings of every computing command: the fine-tuning schema's own two fields. */
const backendFlagsSchema = finetuneConfigSchema.pick({ backend: true, threads: true });

/** `--backend auto|gpu|webgpu|webgpu-software|node|wasm|cpu` and `--threads N`, on every command that computes. */
export function addBackendOptions(cmd: Command): Command {
  return addSchemaFlags(cmd, backendFlagsSchema, { placeholder: { backend: 'name', threads: 'n' } });
}

/**
 * Start the chosen backend and say which one runs (stderr, so stdout stays clean for output). On WebGPU the frozen
 * products' kernel is chosen as finetune chooses it (subgroup matrices only after their self-test).
 */
export async function startBackend(opts: { backend?: string; threads?: number }): Promise<BackendInfo> {
  const { backend } = await start((opts.backend ?? 'auto') as BackendChoice, { threads: opts.threads }, (line) => console.error(line));
  return backend;
}

/**
 * For a command that writes: on SIGINT (Ctrl+C) or SIGTERM, remove its unfinished output (temp folders) and release
 * its locks, then exit (130 / 143), so an interrupted command leaves nothing that looks finished or blocks the next.
 */
export function cleanUpOnSignals(): void {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      const undone = runInterruptCleanups();
      console.error(`\ninterrupted (${signal})${undone ? ': unfinished output removed' : ''}`);
      process.exit(code);
    });
  }
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
