import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { FormatError } from '../errors.ts';

/** An Alpaca-LoRA prompt template (the JSON files of its templates/ folder). */
export const promptTemplateSchema = z.object({
  description: z.string().optional(),
  prompt_input: z.string().includes('{instruction}').includes('{input}'),
  prompt_no_input: z.string().includes('{instruction}'),
  response_split: z.string().min(1),
});
export type PromptTemplate = z.infer<typeof promptTemplateSchema>;

/** Alpaca-LoRA's four templates, verbatim (a test compares them with the original files). */
export const BUILTIN_TEMPLATES: Record<string, PromptTemplate> = {
  alpaca: {
    description: 'Template used by Alpaca-LoRA.',
    prompt_input:
      'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n',
    prompt_no_input:
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n',
    response_split: '### Response:',
  },
  alpaca_legacy: {
    description: 'Legacy template, used by Original Alpaca repository.',
    prompt_input:
      'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:',
    prompt_no_input:
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:',
    response_split: '### Response:',
  },
  alpaca_short: {
    description: 'A shorter template to experiment with.',
    prompt_input: '### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n',
    prompt_no_input: '### Instruction:\n{instruction}\n\n### Response:\n',
    response_split: '### Response:',
  },
  vigogne: {
    description: 'French template, used by Vigogne for finetuning.',
    prompt_input:
      'Ci-dessous se trouve une instruction qui décrit une tâche, associée à une entrée qui fournit un contexte supplémentaire. Écrivez une réponse qui complète correctement la demande.\n\n### Instruction:\n{instruction}\n\n### Entrée:\n{input}\n\n### Réponse:\n',
    prompt_no_input:
      'Ci-dessous se trouve une instruction qui décrit une tâche. Écrivez une réponse qui complète correctement la demande.\n\n### Instruction:\n{instruction}\n\n### Réponse:\n',
    response_split: '### Réponse:',
  },
};

/** A built-in template by name, or a template JSON file by path. */
export function loadTemplate(nameOrFile: string): PromptTemplate {
  const builtin = BUILTIN_TEMPLATES[nameOrFile];
  if (builtin) return builtin;
  if (!existsSync(nameOrFile)) {
    throw new FormatError(`not a built-in template (${Object.keys(BUILTIN_TEMPLATES).join(', ')}) nor an existing file`, nameOrFile, 'template/missing');
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(nameOrFile, 'utf8'));
  } catch (e) {
    throw new FormatError(`not valid JSON (${(e as Error).message})`, nameOrFile, 'template/json');
  }
  const r = promptTemplateSchema.safeParse(json);
  if (!r.success) {
    throw new FormatError(`not a prompt template: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, nameOrFile, 'template/shape');
  }
  return r.data;
}

/** Alpaca-LoRA's Prompter.generate_prompt: the filled template, followed by the label when given. */
export function generatePrompt(t: PromptTemplate, instruction: string, input?: string | null, label?: string | null): string {
  // One pass, as Python's str.format: braces inside the user's own text are left alone.
  const fields: Record<string, string> = { instruction, input: input ?? '' };
  const filled = (input ? t.prompt_input : t.prompt_no_input).replace(/\{(instruction|input)\}/g, (_, k: string) => fields[k]);
  return label ? filled + label : filled;
}

/** Prompter.get_response: the text after the response marker, trimmed. */
export function getResponse(t: PromptTemplate, output: string): string {
  const parts = output.split(t.response_split);
  return parts.length > 1 ? parts.slice(1).join(t.response_split).trim() : output.trim();
}
