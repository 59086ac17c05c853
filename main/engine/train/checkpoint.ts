import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StudioError } from '../errors.ts';
import { fsyncPath } from '../fs/atomic-write.ts';
import { checkpointName, checkpointNames, checkpointStep } from './run-folder.ts';

/**
 * Checkpoint directories: `checkpoints/step-N/`, each complete on its own. A checkpoint is written into a hidden
 * temp folder, every file fsynced, a manifest with each file's SHA-256 written last, the folder fsynced, then
 * renamed into place: a crash at any moment leaves either the whole checkpoint or a temp folder that the next
 * start removes, never a folder that looks complete but is not.
 */
export const MANIFEST = 'manifest.json';
const TEMP_PREFIX = '.tmp-';

export interface Manifest {
  format: 'lora-studio-checkpoint';
  version: 1;
  step: number;
  files: Record<string, { bytes: number; sha256: string }>;
}

/** Write a checkpoint atomically. `fill(dir)` writes the files into the temp folder. Returns the final path. */
export async function writeCheckpoint(root: string, step: number, fill: (dir: string) => Promise<void>): Promise<string> {
  await mkdir(root, { recursive: true });
  const finalDir = path.join(root, checkpointName(step));
  const tempDir = path.join(root, `${TEMP_PREFIX}${checkpointName(step)}-${process.pid}-${Date.now()}`);
  await mkdir(tempDir);
  try {
    await fill(tempDir);
    const files: Manifest['files'] = {};
    for (const name of (await readdir(tempDir)).sort()) {
      const file = path.join(tempDir, name);
      await fsyncPath(file);
      const data = await readFile(file);
      files[name] = { bytes: data.length, sha256: sha256(data) };
    }
    const manifest: Manifest = { format: 'lora-studio-checkpoint', version: 1, step, files };
    await writeFile(path.join(tempDir, MANIFEST), JSON.stringify(manifest, null, 2));
    await fsyncPath(path.join(tempDir, MANIFEST));
    await fsyncPath(tempDir);
    // A checkpoint of the same step (a resumed run saving again) is replaced as a whole.
    await rm(finalDir, { recursive: true, force: true });
    await rename(tempDir, finalDir);
    await fsyncPath(root);
    return finalDir;
  } catch (e) {
    await rm(tempDir, { recursive: true, force: true });
    throw e;
  }
}

/** Check a checkpoint against its manifest. Returns the problem, or undefined when it is whole. */
export async function verifyCheckpoint(dir: string): Promise<string | undefined> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(path.join(dir, MANIFEST), 'utf8')) as Manifest;
  } catch (e) {
    return `${path.join(dir, MANIFEST)}: missing or unreadable (${(e as Error).message}); the checkpoint is incomplete`;
  }
  if (manifest.format !== 'lora-studio-checkpoint' || typeof manifest.files !== 'object') {
    return `${path.join(dir, MANIFEST)}: not a LoRA Studio checkpoint manifest`;
  }
  for (const [name, expected] of Object.entries(manifest.files)) {
    const file = path.join(dir, name);
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch {
      return `${file}: listed in the manifest but missing`;
    }
    if (data.length !== expected.bytes || sha256(data) !== expected.sha256) {
      return `${file}: contents do not match the manifest (corrupted or partly written)`;
    }
  }
  return undefined;
}

/** Remove temp folders left by a crash mid-write. Returns their names. */
export async function removeStaleTemps(root: string): Promise<string[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  const stale = names.filter((n) => n.startsWith(TEMP_PREFIX));
  for (const n of stale) await rm(path.join(root, n), { recursive: true, force: true });
  return stale;
}

/** Checkpoints under root, newest step first. */
export async function listCheckpoints(root: string): Promise<{ step: number; dir: string }[]> {
  return checkpointNames(root)
    .map((n) => ({ step: checkpointStep(n)!, dir: path.join(root, n) }))
    .reverse();
}

/**
 * The newest checkpoint that verifies. Broken ones are reported through `warn` and skipped, so a run killed
 * while writing resumes from the previous good checkpoint.
 */
export async function latestGoodCheckpoint(root: string, warn: (msg: string) => void): Promise<string | undefined> {
  for (const { dir } of await listCheckpoints(root)) {
    const problem = await verifyCheckpoint(dir);
    if (!problem) return dir;
    warn(`skipping checkpoint ${dir}: ${problem}`);
  }
  return undefined;
}

/** Keep the newest `limit` checkpoints (and `keep`, e.g. the best one); delete the rest. */
export async function pruneCheckpoints(root: string, limit: number, keep: (string | undefined)[] = []): Promise<void> {
  if (limit <= 0) return;
  const all = await listCheckpoints(root);
  const protectedDirs = new Set(keep.filter(Boolean).map((d) => path.resolve(d!)));
  let kept = 0;
  for (const { dir } of all) {
    if (kept < limit) {
      kept++;
      continue;
    }
    if (!protectedDirs.has(path.resolve(dir))) await rm(dir, { recursive: true, force: true });
  }
}

/** A checkpoint directory given by the user must exist and verify. */
export async function requireGoodCheckpoint(dir: string): Promise<void> {
  const s = await stat(dir).catch(() => undefined);
  if (!s?.isDirectory()) throw new StudioError('resume_from_checkpoint: not a directory', dir, 'checkpoint/missing');
  const problem = await verifyCheckpoint(dir);
  if (problem) throw new StudioError(`cannot resume: ${problem}`, dir, 'checkpoint/corrupt');
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
