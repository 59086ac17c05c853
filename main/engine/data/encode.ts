import type { StudioTokenizer } from '../tokenizer/tokenizer.ts';
import type { AlpacaRow } from './dataset.ts';
import { generatePrompt, type PromptTemplate } from './templates.ts';

/** The label of a token that takes no part in the loss (PyTorch's CrossEntropyLoss ignore_index). */
export const IGNORE_INDEX = -100;

export interface EncodeSettings {
  cutoffLen: number;
  trainOnInputs: boolean;
  addEosToken: boolean;
}

export interface EncodedExample {
  inputIds: number[];
  labels: number[];
  /** 1 for every token (padding comes later, in collate); always set by encodeExample. */
  attentionMask?: number[];
  /** The text was longer than cutoff_len and was cut. */
  truncated: boolean;
  /** Tokens of the full text (BOS included, EOS not) before the cut, for statistics; a lower bound when !lengthExact. */
  fullLength: number;
  /** False when a long text was tokenized only as far as cutoff_len needs (fullLength is then "at least"). */
  lengthExact?: boolean;
  /** The row of the data file it came from, when known. */
  row?: number;
}

/**
 * Alpaca-LoRA's `tokenize(prompt, add_eos_token)`: the tokenizer with truncation=True, max_length=cutoff_len,
 * padding=False, i.e. BOS + text cut to cutoff_len (EOS not added by the LLaMA tokenizer); then EOS appended when
 * add_eos_token, the last token is not EOS already, and the cut left room (length < cutoff_len). A long text is
 * tokenized only as far as the cut needs (StudioTokenizer.encodeHead), with the same ids.
 */
function tokenizeForTraining(
  tok: StudioTokenizer,
  text: string,
  cutoffLen: number,
  addEos: boolean,
): { ids: number[]; fullLength: number; lengthExact: boolean } {
  const head = tok.encodeHead(text, cutoffLen, { addBos: true, addEos: false });
  const ids = head.ids;
  const eos = tok.eosIds[0];
  if (addEos && eos !== undefined && ids[ids.length - 1] !== eos && ids.length < cutoffLen) ids.push(eos);
  return { ids, fullLength: head.total, lengthExact: head.exact };
}

/**
 * Alpaca-LoRA's generate_and_tokenize_prompt, line for line (tloen/alpaca-lora finetune.py @ 8bb8579):
 * - the full prompt (template + output) goes through `tokenize(full_prompt)`, whose add_eos_token parameter
 *   defaults to True, so the full text gets EOS whatever the add_eos_token flag says;
 * - labels are a copy of input_ids;
 * - without train_on_inputs the user prompt alone goes through `tokenize(user_prompt, add_eos_token=flag)`;
 *   user_prompt_len is its length, minus one when the flag is on (for the EOS it appended, even when the cut
 *   left no room for one); the first user_prompt_len labels become -100.
 * Python's `[-100] * n + labels[n:]` would make labels longer than input_ids if the prompt alone had more tokens
 * than the full text (it cannot with the Alpaca templates); we never let it.
 */
export function encodeExample(tok: StudioTokenizer, template: PromptTemplate, row: AlpacaRow, s: EncodeSettings): EncodedExample {
  const full = tokenizeForTraining(tok, generatePrompt(template, row.instruction, row.input, row.output), s.cutoffLen, true);
  const labels = [...full.ids];
  if (!s.trainOnInputs) {
    const user = tokenizeForTraining(tok, generatePrompt(template, row.instruction, row.input), s.cutoffLen, s.addEosToken);
    const userPromptLen = user.ids.length - (s.addEosToken ? 1 : 0);
    labels.fill(IGNORE_INDEX, 0, Math.min(userPromptLen, labels.length));
  }
  return {
    inputIds: full.ids,
    labels,
    attentionMask: full.ids.map(() => 1),
    truncated: full.fullLength > s.cutoffLen,
    fullLength: full.fullLength,
    lengthExact: full.lengthExact,
    row: row.row,
  };
}
