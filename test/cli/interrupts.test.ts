import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Prng } from '../../main/engine/data/prng.ts';
import { sleep, startCli, type Ended, type Running } from '../helpers/cli-process.ts';
import { finetuneArgs, hiddenIn, metricLines, ownershipFixtures, type OwnershipFixtures } from '../helpers/ownership-fixtures.ts';

/**
 * Real SIGINT and SIGKILL at random moments of a merge, a GGUF export (during its llama.cpp check) and a fine-tuning
 * run, with the outcome checked on disk: never an output that looks final but is not (a folder or a GGUF without its
 * check), no leftover after a SIGINT, and after a SIGKILL none that blocks or survives the rerun. The moments come
 * from LORA_STUDIO_TEST_SEED (printed), a new one each run unless set.
 */

const SEED = Number(process.env.LORA_STUDIO_TEST_SEED ?? Date.now() % 1_000_000);
const prng = new Prng(SEED);
const moment = (maxMs: number) => Math.floor(prng.next() * maxMs);

let f: OwnershipFixtures;
beforeAll(async () => {
  console.log(`interrupt moments: LORA_STUDIO_TEST_SEED=${SEED}`);
  f = await ownershipFixtures('interrupts');
}, 300_000);

/** Poll until `test` holds (every 10 ms), or `ms` pass. */
async function until(test: () => boolean, ms = 60_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(10)) if (test()) return true;
  return false;
}

/** The temp folder an export of `target` is being written in, if one exists. */
function tempOf(target: string): string | undefined {
  const name = readdirSync(path.dirname(target)).find((n) => n.startsWith(`.${path.basename(target)}.tmp-`));
  return name && path.join(path.dirname(target), name);
}

/** Send `signal` `delayMs` after `ready` resolves; resolves with how the process ended. */
async function interrupt(p: Running, ready: Promise<boolean>, signal: NodeJS.Signals, delayMs: number): Promise<Ended> {
  expect(await ready, p.output()).toBe(true);
  await sleep(delayMs);
  p.child.kill(signal);
  return p.ended;
}

/**
 * How long a command runs after `ready` holds, measured on one uninterrupted run: the signals below land at random
 * moments inside that window (a fixed window would let a fast machine finish before every signal).
 */
async function windowAfter(p: Running, ready: Promise<boolean>): Promise<number> {
  expect(await ready, p.output()).toBe(true);
  const from = Date.now();
  const r = await p.ended;
  expect(r.code, r.stderr).toBe(0);
  return Date.now() - from;
}

/** Hidden entries of `parent` that belong to the output named `name` (temp folders, locks). */
const leftoversOf = (parent: string, name: string) => hiddenIn(parent).filter((n) => n.startsWith(`.${name}.`));

describe('a merge interrupted at a random moment', () => {
  let landed = 0;
  let window = 0;
  const merge = (out: string) => startCli(['merge', '--base_model', f.wideModel, '--lora_weights', f.wideAdapter, '--output_dir', out]);
  beforeAll(async () => {
    const out = f.at('merged-timed');
    window = await windowAfter(
      merge(out),
      until(() => tempOf(out) !== undefined),
    );
  }, 120_000);

  it.each([
    ['SIGINT', 0],
    ['SIGINT', 1],
    ['SIGINT', 2],
    ['SIGKILL', 0],
    ['SIGKILL', 1],
    ['SIGKILL', 2],
  ] as const)(
    '%s (#%d): whole output or none; the rerun is not refused and leaves nothing behind',
    async (signal, k) => {
      const out = f.at(`merged-${signal}-${k}`);
      const p = merge(out);
      const delay = moment(0.8 * window); // inside the temp folder's life, as measured on this machine
      const r = await interrupt(
        p,
        until(() => tempOf(out) !== undefined),
        signal,
        delay,
      );
      const what = `${signal} ${delay} ms after the temp folder appeared: ${r.code}/${r.signal}\n${r.stderr}`;
      // A folder at the output's name only when it is whole (it appears in one rename, its report inside).
      if (existsSync(out)) {
        expect(readdirSync(out), what).toContain('verification.json');
        expect(readdirSync(out), what).toContain('model.safetensors');
        return; // finished (or was killed just after its rename)
      }
      landed++;
      if (signal === 'SIGINT') {
        expect(r.code, what).toBe(130);
        expect(r.stderr).toContain('interrupted (SIGINT): unfinished output removed');
        expect(leftoversOf(f.at(), path.basename(out)), what).toEqual([]);
      }
      const again = await merge(out).ended;
      expect(again.code, `${what}\nrerun:\n${again.stderr}`).toBe(0);
      if (signal === 'SIGKILL' && r.signal === 'SIGKILL')
        expect(again.stderr).toMatch(/removed .*\.tmp-\d+-[0-9a-f]{8}: the unfinished output/);
      expect(readdirSync(out)).toContain('verification.json');
      expect(leftoversOf(f.at(), path.basename(out))).toEqual([]);
    },
    120_000,
  );

  it('most of those signals landed while the merge was writing (else the cases above proved little)', () => {
    expect(landed).toBeGreaterThanOrEqual(3);
  });
});

describe('a GGUF export interrupted while llama.cpp checks it', () => {
  it('SIGINT, then SIGKILL, at random moments of the check: no GGUF, Modelfile or report in place; the rerun writes them', async () => {
    const dir = f.at('gguf');
    const gguf = path.join(dir, 'model.gguf');
    const quantize = () => startCli(['quantize', '--model', f.model, '--format', 'gguf-q8_0', '--output', gguf]);
    // The check starts once the GGUF and its Modelfile are written in the temp folder.
    const checking = () => until(() => existsSync(dir) && !!tempOf(gguf) && existsSync(path.join(tempOf(gguf)!, 'Modelfile')));
    const timedDir = f.at('gguf-timed');
    const timed = path.join(timedDir, 'model.gguf');
    const timedRun = startCli(['quantize', '--model', f.model, '--format', 'gguf-q8_0', '--output', timed]);
    const window = await windowAfter(
      timedRun,
      until(() => existsSync(timedDir) && !!tempOf(timed) && existsSync(path.join(tempOf(timed)!, 'Modelfile'))),
    );
    for (const signal of ['SIGINT', 'SIGKILL'] as const) {
      const p = quantize();
      // Inside the check: half of what it took here (a later check can be faster than the first, whose caches were cold).
      const delay = moment(0.5 * window);
      const r = await interrupt(p, checking(), signal, delay);
      const what = `${signal} ${delay} ms into the check (${window} ms in all): ${r.code}/${r.signal}\n${r.stderr}`;
      expect(r.code === 0, what).toBe(false);
      expect(
        readdirSync(dir).filter((n) => !n.startsWith('.')),
        what,
      ).toEqual([]);
      if (signal === 'SIGINT') {
        expect(r.code, what).toBe(130);
        expect(hiddenIn(dir), what).toEqual([]);
      }
    }
    const r = await quantize().ended;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/removed .*\.model\.gguf\.tmp-\d+-[0-9a-f]{8}: the unfinished output/);
    expect(readdirSync(dir).sort()).toEqual(['Modelfile', 'model.gguf', 'model.gguf.verification.json']);
    expect(JSON.parse(readFileSync(`${gguf}.verification.json`, 'utf8')).verification.llamaCpp).toMatch(/loaded in llama.cpp|skipped/);
  }, 300_000);
});

describe('a fine-tuning run interrupted at a random moment', () => {
  it.each(['SIGINT', 'SIGKILL'] as const)(
    '%s after its first checkpoint: resuming is not refused by its lock, and finishes',
    async (signal) => {
      const dir = f.at(`run-${signal}`);
      const p = startCli(finetuneArgs(f, dir, '--max_steps', '12'));
      const delay = moment(4000);
      const r = await interrupt(p, p.waitFor(/checkpoint .*step-2/), signal, delay);
      const what = `${signal} ${delay} ms after checkpoint 2: ${r.code}/${r.signal}\n${r.stderr}`;
      if (r.code === 0) return; // finished first
      if (signal === 'SIGINT') {
        expect(r.code, what).toBe(130);
        expect(hiddenIn(dir), what).toEqual([]); // no lock left
        expect(hiddenIn(path.join(dir, 'checkpoints')), what).toEqual([]); // no half checkpoint
      } else expect(hiddenIn(dir), what).toContain('.owner.lock'); // stale: its owner is gone
      const again = await startCli(finetuneArgs(f, dir, '--max_steps', '12', '--resume_from_checkpoint', 'true')).ended;
      expect(again.code, `${what}\nresume:\n${again.stderr}`).toBe(0);
      expect(again.stderr).toMatch(/resuming from .*step-\d+/);
      expect(hiddenIn(dir)).toEqual([]);
      expect(hiddenIn(path.join(dir, 'checkpoints'))).toEqual([]);
      expect(metricLines(dir).filter((l) => l.type === 'done')).toHaveLength(1);
    },
    300_000,
  );
});
