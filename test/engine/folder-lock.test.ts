import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireLock, liveOwner, processStartTime, type LockOwner } from '../../main/engine/fs/folder-lock.ts';
import { startProcess } from '../helpers/cli-process.ts';
import { workFolder } from '../helpers/work-folder.ts';

/**
 * The one-writer lock against real processes: a live holder refuses (naming it), a dead or reused pid is stale and
 * taken over, and processes started at once on one lock (free or stale) leave exactly one owner.
 */
const work = workFolder('folder-lock');
let n = 0;
const lockFile = () => path.join(work, `.out-${++n}.lock`);

function plant(file: string, owner: Partial<LockOwner>): void {
  const full: LockOwner = {
    pid: process.pid,
    host: hostname(),
    command: 'planted',
    since: '2026-01-01T00:00:00.000Z',
    token: `t${n}`,
    ...owner,
  };
  writeFileSync(file, JSON.stringify(full));
}

/** The pid of a process that has ended (and been reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

/** Start `count` processes at once on one lock; each holds a won lock for `holdMs`. */
async function race(file: string, count: number, holdMs = 1500): Promise<string[]> {
  const procs = Array.from({ length: count }, () =>
    startProcess(['test/helpers/hold-lock.ts', file, String(holdMs), 'racer'], { ts: true }),
  );
  const ends = await Promise.all(procs.map((p) => p.ended));
  return ends.map((e) => e.stdout.trim());
}

describe('one writer per output: the lock file', () => {
  it('a live holder is refused in one line naming it; the lock goes when released', async () => {
    const file = lockFile();
    const holder = startProcess(['test/helpers/hold-lock.ts', file, '20000', 'merge'], { ts: true });
    expect(await holder.waitFor(/won \d+/)).toBe(true);
    const pid = holder.child.pid!;
    expect(() => acquireLock(file, '/out/merged', 'quantize')).toThrow(
      new RegExp(`^/out/merged: in use by merge \\(pid ${pid}, since \\d{4}-.*\\): one writer at a time; wait for it to finish or stop it`),
    );
    expect(liveOwner(file)).toMatchObject({ pid, command: 'merge', state: 'alive' });
    holder.child.kill('SIGKILL');
    await holder.ended;
    // Killed: its lock stays on disk but is stale, and the next writer takes it.
    expect(existsSync(file)).toBe(true);
    expect(liveOwner(file)).toBeUndefined();
    const lock = acquireLock(file, '/out/merged', 'quantize');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ pid: process.pid, command: 'quantize' });
    // This process holds it now: a second taker in this same process is refused too.
    expect(() => acquireLock(file, '/out/merged', 'merge')).toThrow(/in use by quantize \(pid/);
    lock.release();
    expect(existsSync(file)).toBe(false);
  });

  it.each([
    ['a dead pid', () => ({ pid: deadPid() })],
    ['a live pid that started at another time (reused)', () => ({ pid: process.pid, started: 'another-boot:123' })],
    ['a pid that cannot exist', () => ({ pid: -5 })],
  ])('a lock of %s is stale and taken over', (_what, owner) => {
    const file = lockFile();
    plant(file, owner());
    const lock = acquireLock(file, 'out', 'merge');
    expect(JSON.parse(readFileSync(file, 'utf8')).token).toBe(lock.owner.token);
    lock.release();
  });

  it.skipIf(process.platform !== 'linux')('reads a process start time that tells a reused pid', () => {
    expect(processStartTime(process.pid)).toMatch(/^[0-9a-f-]+:\d+$/);
    expect(processStartTime(process.pid)).toBe(processStartTime(process.pid));
    expect(processStartTime(deadPid())).toBeUndefined();
  });

  it('a lock of another host is refused, saying which file to delete if that process has ended', () => {
    const file = lockFile();
    plant(file, { host: 'gpu-box-7', pid: 4242 });
    expect(() => acquireLock(file, 'runs/x', 'finetune')).toThrow(
      `runs/x: in use by planted (pid 4242 on gpu-box-7, since 2026-01-01T00:00:00.000Z): one writer at a time; if that process has ended, delete ${file}`,
    );
  });

  it('an unreadable lock is one being written (refused) while fresh, garbage (taken over) when old', () => {
    const file = lockFile();
    writeFileSync(file, '');
    expect(() => acquireLock(file, 'out', 'merge')).toThrow(/out: is being claimed by another process at this moment/);
    const old = new Date(Date.now() - 60_000);
    utimesSync(file, old, old);
    acquireLock(file, 'out', 'merge').release();
  });

  it.skipIf(process.platform === 'win32')('a FIFO where the lock goes is refused by type, without blocking', () => {
    const file = lockFile();
    execFileSync('mkfifo', [file]);
    expect(() => acquireLock(file, 'out', 'merge')).toThrow(/is not a lock file \(not a plain file\)/);
  });

  it('processes started at once on a free lock: exactly one wins, the others name it', async () => {
    const file = lockFile();
    const out = await race(file, 6);
    const won = out.filter((l) => l.startsWith('won'));
    expect(won, out.join('\n')).toHaveLength(1);
    const pid = won[0].split(' ')[1];
    for (const l of out.filter((x) => !x.startsWith('won')))
      expect(l).toMatch(new RegExp(`^refused .*(in use by racer \\(pid ${pid},|being claimed by another process)`));
    expect(existsSync(file)).toBe(false);
  }, 60_000);

  it('processes started at once on a stale lock: exactly one takes it over, every time', async () => {
    for (let round = 0; round < 4; round++) {
      const file = lockFile();
      plant(file, { pid: deadPid(), command: 'killed merge' });
      const out = await race(file, 5);
      expect(
        out.filter((l) => l.startsWith('won')),
        out.join('\n'),
      ).toHaveLength(1);
      expect(out.filter((l) => l.startsWith('refused')).every((l) => !l.includes('killed merge'))).toBe(true);
    }
  }, 120_000);
});
