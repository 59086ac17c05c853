import type { Command } from 'commander';
import { Option } from 'commander';
import { StudioError } from '../engine/errors.ts';
import { BUILTIN_TEMPLATE_NAMES, NO_TEMPLATE } from '../engine/data/template-names.ts';
import { playgroundSettingsSchema } from '../engine/generate/playground-settings.ts';
import type { BaseDtypeChoice } from '../engine/llama/base-dtype-names.ts';
import { action, addBackendOptions, startBackend } from './common.ts';
import { addSchemaFlags, settingsFromFlags, type SchemaFlagOptions } from './schema-flags.ts';

/** The flags are the playground's settings (one schema): the studio and the command line refuse the same values. */
const FLAGS: SchemaFlagOptions<keyof typeof playgroundSettingsSchema.shape> = {
  help: {
    base_model: 'base model folder (Hugging Face layout)',
    lora_weights: 'PEFT LoRA adapter folder to apply',
    prompt_template: `${[...BUILTIN_TEMPLATE_NAMES, NO_TEMPLATE].join(', ')}, or a template JSON file`,
    instruction: 'the instruction',
    input: 'optional input/context for the instruction',
    max_new_tokens: 'tokens to generate at most',
    temperature: '0 = greedy',
    top_p: 'nucleus sampling mass, in (0, 1]',
    top_k: 'keep the k most likely tokens (0 = all)',
    repetition_penalty: '1 = off',
    seed: 'seed for sampling',
    base_dtype: 'how the frozen base is held, as in finetune (auto: the checkpoint as stored when it fits, else int8, else nf4)',
  },
  placeholder: {
    base_model: 'dir',
    lora_weights: 'dir',
    prompt_template: 'name',
    instruction: 'text',
    input: 'text',
    max_new_tokens: 'n',
    temperature: 't',
    top_p: 'p',
    top_k: 'k',
    repetition_penalty: 'r',
    seed: 's',
  },
  cliDefaults: { instruction: '' },
};

/** `lora-studio generate`: Alpaca-LoRA's generate.py as a command; streams the answer to stdout. */
export function registerGenerate(program: Command): void {
  const cmd = program
    .command('generate')
    .description('Answer an instruction with a base model, optionally with a LoRA adapter (streams tokens).');
  addSchemaFlags(cmd, playgroundSettingsSchema, FLAGS)
    .addOption(new Option('--load_in_8bit', 'Python spelling of --base_dtype int8'))
    .addOption(new Option('--load_in_4bit', 'Python spelling of --base_dtype nf4'));
  addBackendOptions(cmd).action(
    action(async (opts) => {
      const s = settingsFromFlags(playgroundSettingsSchema, opts, FLAGS);
      const { generate } = await import('../engine/generate/generate.ts');
      const { loadModel } = await import('../engine/model/load.ts');
      const { createPrng } = await import('../engine/data/prng.ts');
      const { encodePrompt } = await import('../engine/generate/side-by-side.ts');
      await startBackend(opts);
      const baseDtype = generateBaseDtype({ base_dtype: s.base_dtype, load_in_8bit: opts.load_in_8bit, load_in_4bit: opts.load_in_4bit });
      const loaded = await loadModel(s.base_model, { loraWeights: s.lora_weights, baseDtype });
      console.error(`frozen base held as ${loaded.baseDtype}: ${loaded.baseDtypeWhy}`);
      for (const w of loaded.warnings) console.error(`warning: ${w}`);
      const { tokenizer } = loaded;
      const prompt = encodePrompt(tokenizer, s.prompt_template, s.instruction, s.input);
      const random = createPrng(s.seed);
      const stream = tokenizer.createStreamDecoder();
      const result = await generate(loaded.model, prompt, {
        maxNewTokens: s.max_new_tokens,
        stopTokenIds: tokenizer.eosIds,
        temperature: s.temperature,
        topP: s.top_p,
        topK: s.top_k,
        repetitionPenalty: s.repetition_penalty,
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

/** --base_dtype, or its Python spellings --load_in_8bit / --load_in_4bit (which must not contradict it). */
function generateBaseDtype(opts: { base_dtype: BaseDtypeChoice; load_in_8bit?: boolean; load_in_4bit?: boolean }): BaseDtypeChoice {
  const aliases = [opts.load_in_8bit && 'int8', opts.load_in_4bit && 'nf4'].filter((m): m is 'int8' | 'nf4' => !!m);
  const asked = new Set([...(opts.base_dtype !== 'auto' ? [opts.base_dtype] : []), ...aliases]);
  if (asked.size > 1)
    throw new StudioError(`--base_dtype ${opts.base_dtype}, --load_in_8bit and --load_in_4bit contradict each other; give one of them`);
  return [...asked][0] ?? 'auto';
}
