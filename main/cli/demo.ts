import type { Command } from 'commander';
import { action, addBackendOptions, cleanUpOnSignals } from './common.ts';

/** `lora-studio demo`: the whole recipe on files it makes itself (no network, no GPU), in about a minute. */
export function registerDemo(program: Command): void {
  const cmd = program
    .command('demo')
    .description(
      'Make a small base model, fine-tune it with LoRA on a built-in instruction set, compare answers before and after, merge and export GGUF Q8_0',
    )
    .option('--output_dir <dir>', 'where the demo run goes', 'runs/demo')
    .option('--steps <n>', 'training steps', '150');
  addBackendOptions(cmd).action(
    action(async (opts: { output_dir: string; steps: string; backend?: string; threads?: number }) => {
      cleanUpOnSignals();
      const { runDemo } = await import('./demo-run.ts');
      await runDemo(opts);
    }),
  );
}
