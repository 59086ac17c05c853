import { describe, expect, it } from 'vitest';
import { checkTargets } from '../../main/engine/model/lora.ts';
import { PROJECTIONS, projectionNameSchema, unknownProjections } from '../../main/engine/llama/projections.ts';
import { parseFinetuneConfig } from '../../main/engine/train/config.ts';

// One list of LoRA target names (projections.ts): the trainer, the config schema and the API all check against it.
describe('LoRA target names', () => {
  it('names the unknown ones, in order, and accepts the seven projections', () => {
    expect(unknownProjections(['q_proj', 'qkv', 'v_proj', 'lm_head'])).toEqual(['qkv', 'lm_head']);
    expect(unknownProjections([...PROJECTIONS])).toEqual([]);
    expect(projectionNameSchema.safeParse('gate_proj').success).toBe(true);
    expect(projectionNameSchema.safeParse('qkv').success).toBe(false);
  });

  it('the trainer and the config refuse an unknown name, listing the valid ones', () => {
    expect(() => checkTargets(['q_proj', 'qkv'])).toThrow(
      /"qkv" is not a LLaMA projection \(choose from q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj\)/,
    );
    expect(checkTargets(['v_proj', 'q_proj', 'v_proj'])).toEqual(['v_proj', 'q_proj']);
    expect(() => parseFinetuneConfig({ base_model: 'x', data_path: 'y', lora_target_modules: ['qkv'] })).toThrow(/lora_target_modules/);
  });
});
