import { createPrng } from '../data/prng.ts';
import { generatePrompt, loadTemplate } from '../data/templates.ts';
import { loadModel } from '../model/load.ts';
import type { StudioTokenizer } from '../tokenizer/tokenizer.ts';
import { generate, type GenerateResult } from './generate.ts';
import { playgroundSettingsSchema, type PlaygroundSettings } from './playground-settings.ts';

/** BOS + the instruction rendered through the template ('none': the text alone, a plain continuation). */
export async function encodePrompt(tokenizer: StudioTokenizer, template: string, instruction: string, input?: string): Promise<number[]> {
  const text = template === 'none' ? instruction : generatePrompt(await loadTemplate(template), instruction, input || undefined);
  return tokenizer.encode(text, { addBos: true });
}

interface Answer {
  text: string;
  tokens: number;
  stoppedBy: GenerateResult['stoppedBy'];
  tokensPerSecond: number;
}

/**
 * The same prompt answered by the base model and by base + adapter, one after the other, with the same sampling
 * seed so the only difference is the adapter. The weights are loaded once: the adapter is a projection override.
 */
export async function answerSideBySide(
  raw: PlaygroundSettings,
  hooks: { onText?: (side: 'base' | 'tuned', delta: string) => void; signal?: AbortSignal; log?: (message: string) => void } = {},
): Promise<{ promptTokens: number; base: Answer; tuned?: Answer }> {
  const o = playgroundSettingsSchema.parse(raw);
  const loaded = await loadModel(o.base_model, { loraWeights: o.lora_weights, baseDtype: o.base_dtype });
  hooks.log?.(`frozen base held as ${loaded.baseDtype}: ${loaded.baseDtypeWhy}`);
  loaded.warnings.forEach((w) => hooks.log?.(w));
  const prompt = await encodePrompt(loaded.tokenizer, o.prompt_template, o.instruction, o.input);
  const answer = async (side: 'base' | 'tuned'): Promise<Answer> => {
    const random = createPrng(o.seed);
    const stream = loaded.tokenizer.createStreamDecoder();
    let text = '';
    const push = (delta: string) => {
      if (!delta) return;
      text += delta;
      hooks.onText?.(side, delta);
    };
    const r = await generate(loaded.model, prompt, {
      maxNewTokens: o.max_new_tokens,
      stopTokenIds: loaded.tokenizer.eosIds,
      temperature: o.temperature,
      topP: o.top_p,
      topK: o.top_k,
      repetitionPenalty: o.repetition_penalty,
      random: () => random.next(),
      projection: side === 'tuned' ? loaded.adapter?.projection() : undefined,
      signal: hooks.signal,
      onToken: (id) => push(stream.push(id)),
    });
    push(stream.flush());
    const seconds = (r.prefillMs + r.decodeMs) / 1000;
    return { text, tokens: r.tokens.length, stoppedBy: r.stoppedBy, tokensPerSecond: seconds > 0 ? r.tokens.length / seconds : 0 };
  };
  const base = await answer('base');
  const tuned = loaded.adapter ? await answer('tuned') : undefined;
  return { promptTokens: prompt.length, base, tuned };
}
