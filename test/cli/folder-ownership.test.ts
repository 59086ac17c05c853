import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { errorLines, sleep, startCli, type Ended } from '../helpers/cli-process.ts';
import {
  finetuneArgs,
  hiddenIn,
  metricLines,
  ownershipFixtures,
  treeHashes,
  type OwnershipFixtures,
} from '../helpers/ownership-fixtures.ts';

/**
 * Who may write a folder (issue 23, classes 1 and 2): a run never writes into what it reads, one writer at a time
 * (two real processes started at once: one wins, the other is refused naming it, nothing mixed), a file a user puts
 * in an output while it is written is never deleted, --overwrite removes only what the run wrote, and a resume with
 * no whole checkpoint is refused instead of starting a second history. Real processes, outcomes checked on disk.
 */

let f: OwnershipFixtures;
/** A finished run of the tiny model: checkpoints step-2 and step-4, an adapter, metrics.jsonl. */
let run: string;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The process refused with one error line matching `re`, exit 1, no stack and no "unexpected error". */
function expectRefused(r: Ended, re: RegExp | string): void {
  const all = `${r.stdout}\n${r.stderr}`;
  const errors = errorLines(r.stderr);
  expect(errors, all).toHaveLength(1);
  if (typeof re === 'string') expect(errors[0]).toContain(re);
  else expect(errors[0]).toMatch(re);
  expect(r.code, all).toBe(1);
  expect(all).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(all).not.toMatch(/unexpected error/i);
}

/** Poll until `test` holds (every 10 ms), or `ms` pass. */
async function until(test: () => boolean, ms = 60_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(10)) if (test()) return true;
  return false;
}

const tempOf = (target: string) => () => readdirSync(path.dirname(target)).some((n) => n.startsWith(`.${path.basename(target)}.tmp-`));

beforeAll(async () => {
  f = await ownershipFixtures('folder-ownership');
  run = f.at('run');
  const r = await startCli(finetuneArgs(f, run, '--max_steps', '4')).ended;
  expect(r.code, r.stderr).toBe(0);
}, 300_000);

describe('a fine-tuning run never writes into what it reads', () => {
  interface Case {
    what: string;
    args: () => string[];
    names: () => string | RegExp;
    /** Folders that must be byte for byte as they were. */
    untouched: () => string[];
  }
  const CASES: Case[] = [
    {
      what: '--output_dir is the base model folder',
      args: () => finetuneArgs(f, f.model),
      names: () => `${f.model}: --output_dir is inside the base_model folder ${f.model}; a fine-tuning run never writes into its input`,
      untouched: () => [f.model],
    },
    {
      what: '--output_dir inside the base model folder',
      args: () => finetuneArgs(f, path.join(f.model, 'lora')),
      names: () => `--output_dir is inside the base_model folder ${f.model}`,
      untouched: () => [f.model],
    },
    {
      what: '--output_dir holds the base model folder',
      args: () => [...finetuneArgs(f, f.at('holder')), '--base_model', f.at('holder', 'base')],
      names: () => `${f.at('holder')}: --output_dir holds the base_model folder ${f.at('holder', 'base')}`,
      untouched: () => [f.at('holder')],
    },
    {
      what: '--output_dir is a symlink to the base model folder',
      args: () => finetuneArgs(f, f.at('model-link')),
      names: () => `--output_dir is inside the base_model folder ${f.model}`,
      untouched: () => [f.model],
    },
    {
      what: '--output_dir inside the checkpoint it resumes from',
      args: () => [
        ...finetuneArgs(f, f.at('run-copy', 'checkpoints', 'step-2', 'more')),
        '--resume_from_checkpoint',
        f.at('run-copy', 'checkpoints', 'step-2'),
      ],
      names: () => `--output_dir is inside the resume_from_checkpoint folder ${f.at('run-copy', 'checkpoints', 'step-2')}`,
      untouched: () => [f.at('run-copy')],
    },
  ];

  let results: Map<Case, Ended>;
  beforeAll(async () => {
    cpSync(f.model, f.at('holder', 'base'), { recursive: true });
    symlinkSync(f.model, f.at('model-link'));
    cpSync(run, f.at('run-copy'), { recursive: true });
    const before = new Map(CASES.map((c) => [c, c.untouched().map(treeHashes)]));
    results = new Map();
    for (let i = 0; i < CASES.length; i += 2) {
      const pair = CASES.slice(i, i + 2);
      const ends = await Promise.all(pair.map((c) => startCli(c.args()).ended));
      pair.forEach((c, k) => results.set(c, ends[k]));
    }
    for (const c of CASES) expect(c.untouched().map(treeHashes), c.what).toEqual(before.get(c));
  }, 300_000);

  it.each(CASES.map((c) => [c.what, c] as const))('%s: refused in one line, the input untouched', (_w, c) => {
    expectRefused(results.get(c)!, c.names());
  });
});

describe('a resume with nothing whole to continue from is refused, never a second history', () => {
  it.each([
    ['every checkpoint corrupt', 'corrupt', /cannot resume: none of its 2 checkpoint\(s\) is whole \(step-2, step-4: .*--overwrite true/],
    ['no checkpoint at all', 'none', /cannot resume: it holds a run but no checkpoint of it, .*--overwrite true/],
  ] as const)(
    '%s',
    async (_what, how, names) => {
      const dir = f.at(`resume-${how}`);
      cpSync(run, dir, { recursive: true });
      if (how === 'none') rmSync(path.join(dir, 'checkpoints'), { recursive: true });
      else
        for (const step of ['step-2', 'step-4']) {
          const file = path.join(dir, 'checkpoints', step, 'optimizer.safetensors');
          const bytes = readFileSync(file);
          bytes[bytes.length - 1] ^= 0xff;
          writeFileSync(file, bytes);
        }
      const history = metricLines(dir).filter((l) => l.type !== 'log');
      const r = await startCli(finetuneArgs(f, dir, '--resume_from_checkpoint', 'true')).ended;
      expectRefused(r, names);
      expect(metricLines(dir).filter((l) => l.type !== 'log')).toEqual(history); // no new start, no step twice
    },
    120_000,
  );
});

describe('one writer at a time: two processes started at once', () => {
  it('two finetunes on one output_dir: one trains, the other is refused naming it; one history in the folder', async () => {
    const dir = f.at('race-run');
    const [a, b] = [startCli(finetuneArgs(f, dir, '--max_steps', '12')), startCli(finetuneArgs(f, dir, '--max_steps', '12'))];
    const ends = await Promise.all([a.ended, b.ended]);
    const winner = ends.findIndex((e) => e.code === 0);
    expect(ends.map((e) => e.code).sort(), ends.map((e) => e.stderr).join('\n----\n')).toEqual([0, 1]);
    expectRefused(ends[1 - winner], new RegExp(`^error: ${escape(dir)}: in use by finetune \\(pid ${[a, b][winner].child.pid}, since `));
    const lines = metricLines(dir);
    expect(lines.filter((l) => l.type === 'start')).toHaveLength(1);
    expect(lines.filter((l) => l.type === 'step').map((l) => l.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(readdirSync(dir).sort()).toEqual(['adapter', 'checkpoints', 'config.json', 'metrics.jsonl']);
  }, 300_000);

  it('two merges into one folder: one writes it whole, the other is refused; the folder is one whole output', async () => {
    const out = f.at('race-merged');
    const args = ['merge', '--base_model', f.wideModel, '--lora_weights', f.wideAdapter, '--output_dir', out];
    const ends = await Promise.all([startCli(args).ended, startCli(args).ended]);
    expect(ends.map((e) => e.code).sort(), ends.map((e) => e.stderr).join('\n----\n')).toEqual([0, 1]);
    expectRefused(
      ends.find((e) => e.code === 1)!,
      new RegExp(`^error: ${escape(out)}: (in use by merge \\(pid \\d+, since |output folder already exists and is not empty)`),
    );
    // The whole output of one merge, as a merge alone writes it.
    const alone = f.at('merged-alone');
    expect((await startCli([...args.slice(0, -1), alone]).ended).code).toBe(0);
    const strip = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).filter(([k]) => k !== 'verification.json'));
    expect(strip(treeHashes(out))).toEqual(strip(treeHashes(alone)));
    expect(Object.keys(treeHashes(out))).toContain('verification.json');
    expect(hiddenIn(path.dirname(out)).filter((n) => n.includes('race-merged'))).toEqual([]);
  }, 300_000);

  it('two GGUF exports to one file: one writes the GGUF, its Modelfile and report; the other is refused naming it', async () => {
    const gguf = f.at('race-gguf', 'model.gguf');
    const args = ['quantize', '--base_model', f.model, '--lora_weights', f.adapter, '--format', 'gguf-q8_0', '--output', gguf];
    const [a, b] = [startCli(args), startCli(args)];
    const ends = await Promise.all([a.ended, b.ended]);
    expect(ends.map((e) => e.code).sort(), ends.map((e) => e.stderr).join('\n----\n')).toEqual([0, 1]);
    const winner = ends.findIndex((e) => e.code === 0);
    expectRefused(ends[1 - winner], new RegExp(`in use by quantize \\(pid ${[a, b][winner].child.pid}, since |already exists`));
    expect(readdirSync(path.dirname(gguf)).sort()).toEqual(['model.Modelfile', 'model.gguf', 'model.gguf.verification.json']);
  }, 300_000);
});

describe('a file a user makes in an output while it is written is never deleted', () => {
  it('a notes file in the merge folder: kept, and the merge refuses rather than replace the folder', async () => {
    const out = f.at('user-merged');
    const merge = startCli(['merge', '--base_model', f.wideModel, '--lora_weights', f.wideAdapter, '--output_dir', out]);
    expect(await until(tempOf(out))).toBe(true);
    mkdirSync(out);
    writeFileSync(path.join(out, 'notes.txt'), 'mine');
    const r = await merge.ended;
    expectRefused(r, `${out}: notes.txt appeared here while the export ran; it is kept and the export was not put in its place`);
    expect(readdirSync(out)).toEqual(['notes.txt']);
    expect(readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('mine');
    expect(hiddenIn(path.dirname(out)).filter((n) => n.includes('user-merged'))).toEqual([]);
  }, 120_000);

  it('an empty folder made meanwhile is filled', async () => {
    const out = f.at('user-empty');
    const merge = startCli(['merge', '--base_model', f.wideModel, '--lora_weights', f.wideAdapter, '--output_dir', out]);
    expect(await until(tempOf(out))).toBe(true);
    mkdirSync(out);
    const r = await merge.ended;
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out)).toContain('verification.json');
  }, 120_000);

  it("a user's Modelfile beside a GGUF being checked: kept, and none of the export's files are put in place", async () => {
    const gguf = f.at('user-gguf', 'model.gguf');
    const q = startCli(['quantize', '--model', f.model, '--format', 'gguf-q8_0', '--output', gguf]);
    expect(await until(() => existsSync(path.dirname(gguf)) && tempOf(gguf)())).toBe(true);
    writeFileSync(f.at('user-gguf', 'model.Modelfile'), 'FROM ./mine.gguf\n');
    const r = await q.ended;
    expectRefused(r, `${f.at('user-gguf', 'model.Modelfile')}: a file of this name appeared here while the export ran`);
    expect(readdirSync(path.dirname(gguf))).toEqual(['model.Modelfile']);
    expect(readFileSync(f.at('user-gguf', 'model.Modelfile'), 'utf8')).toBe('FROM ./mine.gguf\n');
  }, 120_000);
});

describe('--overwrite removes what the run wrote, never a file someone else put there', () => {
  it('foreign files in checkpoints/, in a checkpoint and in adapter/ stay; the run starts over cleanly', async () => {
    const dir = f.at('overwrite');
    cpSync(run, dir, { recursive: true });
    const foreign = {
      'notes.txt': 'top',
      'checkpoints/README.md': 'about my checkpoints',
      'checkpoints/step-2/extra.bin': 'mine',
      'checkpoints/my-backup/adapter_model.safetensors': 'a copy',
      'adapter/README.md': 'model card',
    };
    for (const [rel, text] of Object.entries(foreign)) {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      writeFileSync(path.join(dir, rel), text);
    }
    const r = await startCli(finetuneArgs(f, dir, '--max_steps', '2', '--overwrite', 'true')).ended;
    expect(r.code, r.stderr).toBe(0);
    for (const [rel, text] of Object.entries(foreign)) expect(readFileSync(path.join(dir, rel), 'utf8'), rel).toBe(text);
    expect(r.stderr).toMatch(/overwrite: kept 4 file\(s\) the run did not write: .*checkpoints\/README\.md/);
    // The new run alone: one start, steps 1 and 2, its own checkpoint step-2 beside the kept file.
    const lines = metricLines(dir);
    expect(lines.filter((l) => l.type === 'start')).toHaveLength(1);
    expect(lines.filter((l) => l.type === 'step').map((l) => l.step)).toEqual([1, 2]);
    expect(readdirSync(path.join(dir, 'checkpoints')).sort()).toEqual(['README.md', 'my-backup', 'step-2']);
    expect(readdirSync(path.join(dir, 'checkpoints', 'step-2'))).toContain('extra.bin');
    expect(readdirSync(path.join(dir, 'checkpoints', 'step-2'))).toContain('manifest.json');
    expect(hiddenIn(dir)).toEqual([]);
  }, 120_000);
});
