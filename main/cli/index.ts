import { Command } from 'commander';
import { registerCluster } from './cluster.ts';
import { registerDemo } from './demo.ts';
import { registerExport } from './export.ts';
import { registerFinetune } from './finetune.ts';
import { registerGenerate } from './generate.ts';
import { registerServe } from './serve.ts';
import { registerInspect } from './inspect.ts';

const program = new Command();
program
  .name('lora-studio')
  .description('Fine-tune LLaMA-family models with LoRA (the Alpaca-LoRA recipe), then merge, export and quantize them.')
  .showHelpAfterError('(add --help for the flags)');

registerInspect(program);
registerGenerate(program);
registerFinetune(program);
registerDemo(program);
registerExport(program);
registerServe(program);
registerCluster(program);

await program.parseAsync(process.argv);
// The wasm backend's worker threads keep the event loop alive: once the command is done, flush and leave.
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
process.exit(process.exitCode ?? 0);
