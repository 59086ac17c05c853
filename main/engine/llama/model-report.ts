import { z } from 'zod';

/**
 * What `lora-studio inspect` and the wizard's Model step show (made by inspect.ts, which reads headers only).
 * Node-free, so the API contract, the CLI and the renderer import this one schema.
 */
export const modelReportSchema = z.object({
  dir: z.string(),
  files: z.array(z.string()),
  architecture: z
    .object({
      modelType: z.string(),
      layers: z.number(),
      hiddenSize: z.number(),
      intermediateSize: z.number(),
      heads: z.number(),
      kvHeads: z.number(),
      headDim: z.number(),
      vocabSize: z.number(),
      contextLength: z.number(),
      ropeTheta: z.number(),
      ropeScaling: z.string(),
      tiedEmbeddings: z.boolean(),
      /** The projections that carry a bias (q_proj, k_proj, v_proj and, with attention_bias, o_proj). */
      attentionBiases: z.array(z.string()),
    })
    .optional(),
  parameters: z.number().optional(),
  /** Tensor count and bytes per dtype, e.g. { F16: { tensors: 291, bytes: 13476839424 } }. */
  dtypes: z.record(z.string(), z.object({ tensors: z.number(), bytes: z.number() })).optional(),
  tokenizer: z
    .object({ vocabSize: z.number(), bos: z.string().optional(), eos: z.array(z.string()), chatTemplate: z.boolean() })
    .optional(),
  /** Every problem found, each naming its file; empty when the folder is usable. */
  problems: z.array(z.string()),
  /** What is worth knowing but does not stop the folder from being used (how it is read, a tokenizer with fewer tokens). */
  warnings: z.array(z.string()).default([]),
});
export type ModelReport = z.infer<typeof modelReportSchema>;
