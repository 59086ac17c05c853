import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clearDemoFolder } from '../../main/cli/demo-run.ts';
import { workFolder } from '../helpers/work-folder.ts';

// The demo starts afresh each run; it must never delete a folder it did not make (`--output_dir ~/models`).
describe("the demo's output folder", () => {
  const tmp = workFolder('demo-folder');

  it('is made when absent, and cleared on the next run because it carries the marker', () => {
    const dir = path.join(tmp, 'new', 'demo');
    clearDemoFolder(dir);
    expect(readdirSync(dir)).toEqual(['.lora-studio-demo']);
    writeFileSync(path.join(dir, 'old-result.json'), '{}');
    clearDemoFolder(dir);
    expect(readdirSync(dir)).toEqual(['.lora-studio-demo']);
  });

  it('takes an empty folder', () => {
    const dir = path.join(tmp, 'empty');
    mkdirSync(dir);
    clearDemoFolder(dir);
    expect(readdirSync(dir)).toEqual(['.lora-studio-demo']);
  });

  it('refuses a folder holding files it did not write, and keeps them', () => {
    const dir = path.join(tmp, 'models');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'model.safetensors'), 'weights');
    expect(() => clearDemoFolder(dir)).toThrow(`${dir}: holds 1 file(s) the demo did not write (model.safetensors)`);
    expect(existsSync(path.join(dir, 'model.safetensors'))).toBe(true);
  });

  it('refuses a file', () => {
    const file = path.join(tmp, 'a-file');
    writeFileSync(file, 'x');
    expect(() => clearDemoFolder(file)).toThrow('is a file, not a folder');
  });
});
