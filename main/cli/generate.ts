import type { Command } from 'commander';
import { Option } from 'commander';
import { BUILTIN_TEMPLATE_NAMES, NO_TEMPLATE } from '../engine/data/template-names.ts';
import { action, addBackendOptions, finiteNumber, nonNegativeInt, positiveInt, startBackend } from './common.ts';

/** `lora-studio generate`: Alpaca-LoRA's generate.py as a command; streams the answer to stdout. */
export function registerGenerate(program: Command): void {
  const cmd = program
    .command('generate')
    .description('Answer an instruction with a base model, optionally with a LoRA adapter (streams tokens).')
    .requiredOption('--base_model <dir>', 'base model folder (Hugging Face layout)')
    .option('--lora_weights <dir>', 'PEFT LoRA adapter folder to apply')
    .option('--prompt_template <name>', `${[...BUILTIN_TEMPLATE_NAMES, NO_TEMPLATE].join(', ')}, or a template JSON file`, 'alpaca')
    .option('--instruction <text>', 'the instruction', '')
    .option('--input <text>', 'optional input/context for the instruction')
    .addOption(new Option('--max_new_tokens <n>', 'tokens to generate at most').argParser(positiveInt).default(128))
    .addOption(new Option('--temperature <t>', '0 = greedy').argParser(finiteNumber).default(0.1))
    .addOption(new Option('--top_p <p>', 'nucleus sampling mass').argParser(finiteNumber).default(0.75))
    .addOption(new Option('--top_k <k>', 'keep the k most likely tokens (0 = all)').argParser(nonNegativeInt).default(40))
    .addOption(new Option('--repetition_penalty <r>', '1 = off').argParser(finiteNumber).default(1))
    .addOption(new Option('--seed <s>', 'seed for sampling').argParser(nonNegativeInt).default(42));
  addBackendOptions(cmd).action(
    action(async (opts) => {
      const { generate } = await import('../engine/generate/generate.ts');
      const { loadModel } = await import('../engine/model/load.ts');
      const { createPrng } = await import('../engine/data/prng.ts');
      const { encodePrompt } = await import('../engine/generate/side-by-side.ts');
      await startBackend(opts);
      const loaded = await loadModel(opts.base_model, { loraWeights: opts.lora_weights });
      for (const w of loaded.warnings) console.error(`warning: ${w}`);
      const { tokenizer } = loaded;
      const prompt = encodePrompt(tokenizer, opts.prompt_template, opts.instruction, opts.input);
      const random = createPrng(opts.seed);
      const stream = tokenizer.createStreamDecoder();
      const result = await generate(loaded.model, prompt, {
        maxNewTokens: opts.max_new_tokens,
        stopTokenIds: tokenizer.eosIds,
        temperature: opts.temperature,
        topP: opts.top_p,
        topK: opts.top_k,
        repetitionPenalty: opts.repetition_penalty,
        random: () => random.next(),
        projection: loaded.adapter?.projection(),
        onToken: (id) => process.stdout.write(stream.push(id)),
      });
      process.stdout.write(stream.flush() + '\n');
      const perToken = result.tokens.length ? result.decodeMs / Math.max(1, result.tokens.length - 1) : 0;
      console.error(
        `${result.tokens.length} tokens (${result.stoppedBy}); prompt ${prompt.length} tokens in ${result.prefillMs.toFixed(0)} ms, ` +
          `${perToken ? (1000 / perToken).toFixed(1) : '-'} tokens/s`,
      );
    }),
  );
}
