import { Command } from 'commander';
import { registerGenerate } from './generate.ts';
import { registerInspect } from './inspect.ts';

const program = new Command();
program
  .name('lora-studio')
  .description('Fine-tune LLaMA-family models with LoRA (the Alpaca-LoRA recipe), then merge, export and quantize them.')
  .showHelpAfterError();

registerInspect(program);
registerGenerate(program);

await program.parseAsync(process.argv);
