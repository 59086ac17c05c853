import type { StudioTokenizer } from '../tokenizer/tokenizer.ts';
import type { AlpacaRow } from './dataset.ts';
import { generatePrompt, type PromptTemplate } from './templates.ts';

export const IGNORE_INDEX = -100;

export interface EncodeSettings {
  cutoffLen: number;
  trainOnInputs: boolean;
  addEosToken: boolean;
}

export interface EncodedExample {
  inputIds: number[];
  labels: number[];
  /** The text was longer than cutoff_len and was cut. */
  truncated: boolean;
  /** Tokens of the full text before the cut (for statistics). */
  fullLength: number;
}

/**
 * Alpaca-LoRA's `tokenize`: BOS + text, cut to cutoff_len, then EOS appended when add_eos_token is on, the text was
 * not cut off and does not already end in EOS.
 */
export function tokenizeForTraining(tok: StudioTokenizer, text: string, cutoffLen: number, addEos: boolean) {
  const all = tok.encode(text, { addBos: true });
  const ids = all.slice(0, cutoffLen);
  const eos = tok.eosIds[0];
  if (addEos && eos !== undefined && ids[ids.length - 1] !== eos && ids.length < cutoffLen) ids.push(eos);
  return { ids, fullLength: all.length };
}

/**
 * Alpaca-LoRA's generate_and_tokenize_prompt: the full prompt (template + output) is the input; labels copy it;
 * without train_on_inputs the prompt's own tokens (counted as `tokenize` counts them, minus the EOS it added when
 * add_eos_token is on) are set to -100.
 */
export function encodeExample(tok: StudioTokenizer, template: PromptTemplate, row: AlpacaRow, s: EncodeSettings): EncodedExample {
  const full = tokenizeForTraining(tok, generatePrompt(template, row.instruction, row.input, row.output), s.cutoffLen, s.addEosToken);
  const labels = [...full.ids];
  if (!s.trainOnInputs) {
    const user = tokenizeForTraining(tok, generatePrompt(template, row.instruction, row.input), s.cutoffLen, s.addEosToken);
    const userLen = user.ids.length - (s.addEosToken ? 1 : 0);
    for (let i = 0; i < Math.min(userLen, labels.length); i++) labels[i] = IGNORE_INDEX;
  }
  return { inputIds: full.ids, labels, truncated: full.fullLength > s.cutoffLen, fullLength: full.fullLength };
}
