import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { isAtomicTempName } from '../fs/atomic-write.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../formats/peft-adapter.ts';
import { checkpointOwnFiles, isCheckpointTemp } from './checkpoint.ts';
import { ADAPTER_DIR, CHECKPOINTS, checkpointStep, METRICS, readRunConfig, RUN_CONFIG, runPaths } from './run-folder.ts';

const TRASH_PREFIX = '.overwritten-';

/**
 * The files a previous run wrote in `runDir`, as paths relative to it: its config.json (when it is a run's), its
 * metrics.jsonl, in checkpoints/ each checkpoint's own files (by its manifest) and the temp folders of unfinished
 * ones, in adapter/ the adapter's two files and their unfinished temp files. Everything else is someone else's.
 */
async function filesTheRunWrote(runDir: string): Promise<{ own: string[]; foreign: string[]; stepDirs: string[] }> {
  const p = runPaths(runDir);
  const own: string[] = [];
  const foreign: string[] = [];
  const stepDirs: string[] = [];
  if (readRunConfig(p.config)) own.push(RUN_CONFIG);
  if (existsSync(p.metrics)) own.push(METRICS);
  for (const name of await readdir(p.checkpoints).catch(() => [] as string[])) {
    const rel = path.join(CHECKPOINTS, name);
    if (isCheckpointTemp(name)) own.push(rel);
    else if (checkpointStep(name) === undefined) foreign.push(rel);
    else {
      stepDirs.push(rel);
      for (const f of await checkpointOwnFiles(path.join(p.checkpoints, name)))
        if (existsSync(path.join(p.checkpoints, name, f))) own.push(path.join(rel, f));
    }
  }
  for (const name of await readdir(p.adapter).catch(() => [] as string[])) {
    const rel = path.join(ADAPTER_DIR, name);
    if (name === ADAPTER_CONFIG || name === ADAPTER_WEIGHTS || isAtomicTempName(name)) own.push(rel);
    else foreign.push(rel);
  }
  return { own, foreign, stepDirs };
}

/**
 * Remove a previous run's files (filesTheRunWrote) for `overwrite`; a file anyone else put there stays, and so does
 * its folder. They are first moved into one hidden folder, so a crash midway never leaves half a run looking whole
 * (the hidden folder, and any an earlier crash left, is deleted last). Returns what was removed and what was kept.
 */
export async function removeRunFiles(runDir: string): Promise<{ removed: string[]; kept: string[] }> {
  const dir = path.resolve(runDir);
  const { own, foreign, stepDirs } = await filesTheRunWrote(dir);
  if (own.length) {
    const trash = path.join(dir, `${TRASH_PREFIX}${process.pid}-${Date.now()}`);
    await rm(trash, { recursive: true, force: true });
    for (const rel of own) {
      await mkdir(path.dirname(path.join(trash, rel)), { recursive: true });
      await rename(path.join(dir, rel), path.join(trash, rel));
    }
  }
  // A folder the run made goes when nothing is left in it; one holding someone's file stays, with the file.
  const kept = [...foreign];
  for (const rel of [...stepDirs, CHECKPOINTS, ADAPTER_DIR]) {
    const rest = await readdir(path.join(dir, rel)).catch(() => undefined);
    if (rest === undefined) continue;
    if (rest.length === 0) await rmdir(path.join(dir, rel));
    else if (stepDirs.includes(rel)) kept.push(...rest.map((n) => path.join(rel, n)));
  }
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    if (n.startsWith(TRASH_PREFIX)) await rm(path.join(dir, n), { recursive: true, force: true });
  }
  return { removed: own, kept };
}
