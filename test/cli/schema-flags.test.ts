import { Command, InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { addSchemaFlags, parseFlagValue, settingsFromFlags } from '../../main/cli/schema-flags.ts';
import { StudioError } from '../../main/engine/errors.ts';
import { mergeSettingsSchema } from '../../main/engine/export/export-settings.ts';
import { playgroundSettingsSchema } from '../../main/engine/generate/playground-settings.ts';

const num = { name: 'learning_rate', type: 'number' };
const int = { name: 'cutoff_len', type: 'integer' };

describe('flags built from a zod schema', () => {
  it('takes plain decimal numbers only, refusing the rest as commander argument errors', () => {
    expect(parseFlagValue(num, '3e-4')).toBe(3e-4);
    expect(parseFlagValue(num, '.5')).toBe(0.5);
    expect(parseFlagValue(num, ' -2 ')).toBe(-2);
    for (const bad of ['NaN', 'abc', '1e3x', '0x10', '', 'Infinity', '1,5']) {
      expect(() => parseFlagValue(num, bad), bad).toThrow(InvalidArgumentError);
    }
    expect(parseFlagValue(int, '1e3')).toBe(1000);
    expect(() => parseFlagValue(int, '2.5')).toThrow(/expected a whole number, got "2.5"/);
    expect(() => parseFlagValue({ name: 'backend', type: 'string', choices: ['cpu', 'wasm'] }, 'tpu')).toThrow(
      /"tpu" is not one of cpu, wasm/,
    );
    expect(parseFlagValue({ name: 'train_on_inputs', type: 'boolean' }, 'False')).toBe(false);
    expect(parseFlagValue({ name: 'lora_target_modules', type: 'array' }, "[q_proj,'v_proj']")).toEqual(['q_proj', 'v_proj']);
  });

  it('checks the whole set with the schema, naming the flag; required fields are mandatory flags', () => {
    expect(() => settingsFromFlags(playgroundSettingsSchema, { base_model: '/m', instruction: 'hi', top_p: 5 })).toThrow(StudioError);
    expect(() => settingsFromFlags(playgroundSettingsSchema, { base_model: '/m', instruction: 'hi', top_p: 5 })).toThrow(/^--top_p: /);
    expect(
      settingsFromFlags(playgroundSettingsSchema, { base_model: '/m', unrelated: 1 }, { cliDefaults: { instruction: '' } }),
    ).toMatchObject({ base_model: '/m', instruction: '', top_p: 0.75 });
    const cmd = addSchemaFlags(new Command('merge'), mergeSettingsSchema);
    const mandatory = cmd.options.filter((o) => o.mandatory).map((o) => o.long);
    expect(mandatory).toEqual(['--base_model', '--lora_weights', '--output_dir']);
  });
});
