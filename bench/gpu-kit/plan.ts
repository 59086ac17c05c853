import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { charTokenizerJson } from '../../main/engine/synthetic/char-tokenizer.ts';
import { parseLlamaConfig } from '../../main/engine/llama/config.ts';
import { expectedTensors } from '../../main/engine/llama/tensors.ts';
import { syntheticConfigJson } from '../../main/engine/synthetic/synthetic-model.ts';
import { KIT_SHAPES } from './shapes.ts';

/** The letters of the kit's tokenizer and training text: one token per character, so a row's length is exact. */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz ';

/**
 * A model folder without its weights: config.json, a character tokenizer, and tensors.json (name and shape of every
 * tensor, from our own expectedTensors) for torch_kit.py to fill model.safetensors on the GPU, so nothing large travels.
 * Also an Alpaca data file whose rows are all longer than `seqLen` tokens, so every micro batch is B × seqLen.
 */
export function writeModelPlan(dir: string, shapeName: string, seqLen: number): void {
  const shape = KIT_SHAPES[shapeName];
  if (!shape) throw new Error(`unknown shape ${shapeName} (${Object.keys(KIT_SHAPES).join(', ')})`);
  mkdirSync(dir, { recursive: true });
  const json = syntheticConfigJson(shape);
  const { tokenizer, config: tokConfig, vocabSize } = charTokenizerJson(ALPHABET);
  if (vocabSize > shape.vocab_size) throw new Error(`${shapeName}: the tokenizer's ${vocabSize} tokens exceed vocab_size ${shape.vocab_size}`);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json, null, 2));
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokConfig, null, 2));
  const tensors = [...expectedTensors(parseLlamaConfig(json))].map(([name, dims]) => ({ name, shape: dims }));
  writeFileSync(path.join(dir, 'tensors.json'), JSON.stringify(tensors));
  // 64 rows of 2·seqLen letters: train_on_inputs keeps every token, cutoff_len cuts each to seqLen.
  const rows = Array.from({ length: 64 }, (_, i) => {
    let text = '';
    for (let j = 0; text.length < 2 * seqLen; j++) text += ALPHABET[(i * 7 + j * 13 + ((j * j) % 11)) % ALPHABET.length];
    return { instruction: text, input: '', output: 'ok' };
  });
  writeFileSync(path.join(dir, 'data.json'), JSON.stringify(rows));
}
