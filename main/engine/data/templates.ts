import { existsSync } from 'node:fs';
import { z } from 'zod';
import { FormatError } from '../errors.ts';
import { JSON_FILE_LIMITS, readJsonFile } from '../fs/json-file.ts';
import { BUILTIN_TEMPLATE_NAMES, type BuiltinTemplateName } from './template-names.ts';

/**
 * Python str.format on the two fields Alpaca-LoRA passes: `{name}` is replaced, `{{` and `}}` are literal braces.
 * Anything else in braces is refused (Python would raise KeyError or IndexError at training time).
 */
export function formatTemplate(text: string, fields: Record<string, string>): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if ((c === '{' || c === '}') && text[i + 1] === c) {
      out += c;
      i += 2;
    } else if (c === '{') {
      const close = text.indexOf('}', i);
      const name = close < 0 ? undefined : text.slice(i + 1, close);
      if (name === undefined || !(name in fields)) {
        throw new FormatError(
          `unknown placeholder ${close < 0 ? 'or unclosed "{"' : `{${name}}`} (only ${Object.keys(fields)
            .map((k) => `{${k}}`)
            .join(' and ')}; write {{ and }} for braces)`,
          undefined,
          'template/placeholder',
        );
      }
      out += fields[name];
      i = close + 1;
    } else if (c === '}') {
      throw new FormatError('a single "}" (write }} for a literal brace)', undefined, 'template/placeholder');
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function formats(fields: string[], required: string[]) {
  return (text: string, ctx: z.core.$RefinementCtx<string>) => {
    try {
      formatTemplate(text, Object.fromEntries(fields.map((f) => [f, ''])));
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return;
    }
    for (const f of required) {
      const probe = formatTemplate(text, Object.fromEntries(fields.map((k) => [k, k === f ? '\u0000' : ''])));
      if (!probe.includes('\u0000')) ctx.addIssue({ code: 'custom', message: `needs the placeholder {${f}}` });
    }
  };
}

/** An Alpaca-LoRA prompt template (the JSON files of its templates/ folder). */
export const promptTemplateSchema = z.object({
  description: z.string().optional(),
  prompt_input: z.string().superRefine(formats(['instruction', 'input'], ['instruction', 'input'])),
  prompt_no_input: z.string().superRefine(formats(['instruction'], ['instruction'])),
  response_split: z.string().min(1),
});
export type PromptTemplate = z.infer<typeof promptTemplateSchema>;

/** Alpaca-LoRA's four templates, verbatim (a test compares them with the original files). */
export const BUILTIN_TEMPLATES: Record<BuiltinTemplateName, PromptTemplate> = {
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

/** A built-in template by name, or a template JSON file by path (a regular file, size-capped, read asynchronously). */
export async function loadTemplate(nameOrFile: string): Promise<PromptTemplate> {
  const builtin = (BUILTIN_TEMPLATE_NAMES as readonly string[]).includes(nameOrFile)
    ? BUILTIN_TEMPLATES[nameOrFile as BuiltinTemplateName]
    : undefined;
  if (builtin) return builtin;
  if (!existsSync(nameOrFile)) {
    throw new FormatError(
      `not a built-in template (${BUILTIN_TEMPLATE_NAMES.join(', ')}) nor an existing file`,
      nameOrFile,
      'template/missing',
    );
  }
  const json = await readJsonFile(nameOrFile, { maxBytes: JSON_FILE_LIMITS.config, what: 'prompt template', code: 'template/json' });
  const r = promptTemplateSchema.safeParse(json);
  if (!r.success) {
    throw new FormatError(
      `not a prompt template: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      nameOrFile,
      'template/shape',
    );
  }
  return r.data;
}

/**
 * Alpaca-LoRA's Prompter.generate_prompt: prompt_input when `input` is non-empty (Python truthiness), else
 * prompt_no_input; the label (the response) appended when non-empty.
 */
export function generatePrompt(t: PromptTemplate, instruction: string, input?: string | null, label?: string | null): string {
  const filled = input ? formatTemplate(t.prompt_input, { instruction, input }) : formatTemplate(t.prompt_no_input, { instruction });
  return label ? filled + label : filled;
}

/**
 * Prompter.get_response: `output.split(response_split)[1].strip()`, i.e. the text between the first and the
 * second marker. Where Python would raise IndexError (no marker) we give the whole output, trimmed.
 */
export function getResponse(t: PromptTemplate, output: string): string {
  const parts = output.split(t.response_split);
  return (parts.length > 1 ? parts[1] : output).trim();
}
