import type { Command } from 'commander';
import { z } from 'zod';
import { inspectModel } from '../engine/model/inspect.ts';
import { action } from './common.ts';
import { addSchemaFlags, settingsFromFlags } from './schema-flags.ts';

const inspectFlagsSchema = z.object({ json: z.boolean().default(false).describe('print the report as JSON') }).strict();

/** `lora-studio inspect DIR`: architecture, parameters, dtypes, tokenizer and every problem found. */
export function registerInspect(program: Command): void {
  const cmd = program
    .command('inspect')
    .description('Describe a model folder and list every problem found (reads headers only)')
    .argument('<dir>', 'model folder (Hugging Face layout)');
  addSchemaFlags(cmd, inspectFlagsSchema, { bareBooleans: true }).action(
    action(async (dir: string, flags: Record<string, unknown>) => {
      const opts = settingsFromFlags(inspectFlagsSchema, flags);
      const r = await inspectModel(dir);
      if (opts.json) {
        console.log(JSON.stringify(r, null, 2));
      } else {
        const a = r.architecture;
        console.log(`model: ${r.dir}`);
        if (a) {
          console.log(`architecture: ${a.modelType}, ${a.layers} layers, hidden ${a.hiddenSize}, ffn ${a.intermediateSize}`);
          console.log(
            `attention: ${a.heads} heads, ${a.kvHeads} KV heads, head_dim ${a.headDim}${a.attentionBiases.length ? `, biases on ${a.attentionBiases.join(', ')}` : ''}`,
          );
          console.log(
            `vocab: ${a.vocabSize}, context: ${a.contextLength}, rope θ ${a.ropeTheta} (scaling: ${a.ropeScaling})${a.tiedEmbeddings ? ', tied embeddings' : ''}`,
          );
        }
        if (r.parameters !== undefined) console.log(`parameters: ${r.parameters.toLocaleString('en-US')}`);
        for (const [dtype, d] of Object.entries(r.dtypes ?? {}))
          console.log(`dtype ${dtype}: ${d.tensors} tensors, ${(d.bytes / 2 ** 20).toFixed(1)} MiB`);
        if (r.tokenizer) {
          const t = r.tokenizer;
          console.log(
            `tokenizer: ${t.vocabSize} tokens, bos ${t.bos ?? '-'}, eos ${t.eos.join(' ') || '-'}${t.chatTemplate ? ', chat template' : ''}`,
          );
        }
        for (const w of r.warnings) console.log(`warning: ${w}`);
        console.log(r.problems.length ? `problems (${r.problems.length}):` : 'problems: none');
        for (const p of r.problems) console.log(`  - ${p}`);
      }
      if (r.problems.length) process.exitCode = 2;
    }),
  );
}
