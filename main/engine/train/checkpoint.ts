import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StudioError } from '../errors.ts';
import { fsyncPath } from '../fs/atomic-write.ts';
import { onInterrupt } from '../fs/interrupt-cleanup.ts';
import { JSON_FILE_LIMITS, readJsonFile } from '../fs/json-file.ts';
import { streamRegularFile } from '../fs/regular-file.ts';
import { CHECKPOINT_FILES, CHECKPOINT_MANIFEST, checkpointName, checkpointNames, checkpointStep } from './run-folder.ts';

/**
 * Checkpoint directories: `checkpoints/step-N/`, each complete on its own. A checkpoint is written into a hidden
 * temp folder, every file fsynced, a manifest with each file's SHA-256 written last, the folder fsynced, then
 * renamed into place: a crash at any moment leaves either the whole checkpoint or a temp folder that the next
 * start removes, never a folder that looks complete but is not.
 */
const MANIFEST = CHECKPOINT_MANIFEST;
const TEMP_PREFIX = '.tmp-';

interface Manifest {
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
  // Made synchronously and registered at once: a signal never finds the folder made but its cleanup not yet known
  // (an async mkdir could still land after the cleanup ran). Retries: a write in flight can refill it meanwhile.
  mkdirSync(tempDir);
  const offInterrupt = onInterrupt(() => rmSync(tempDir, { recursive: true, force: true, maxRetries: 3 }));
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
    // A checkpoint of the same step (a resumed run saving again) is replaced: its own files go, nothing else.
    const foreign = await removeCheckpoint(finalDir);
    if (foreign.length === 0) await rename(tempDir, finalDir);
    else {
      // Someone's file is in that folder: the files move in beside it, the manifest last, so until it is in place
      // the checkpoint does not verify (and a resume skips it).
      for (const name of Object.keys(files)) await rename(path.join(tempDir, name), path.join(finalDir, name));
      await rename(path.join(tempDir, MANIFEST), path.join(finalDir, MANIFEST));
      await fsyncPath(finalDir);
      await rm(tempDir, { recursive: true, force: true });
    }
    await fsyncPath(root);
    return finalDir;
  } catch (e) {
    await rm(tempDir, { recursive: true, force: true });
    throw e;
  } finally {
    offInterrupt();
  }
}

/**
 * The files of a checkpoint folder that its run wrote: those its manifest lists, and the manifest. When the manifest
 * cannot be read (damaged), the names a checkpoint's files always have.
 */
export async function checkpointOwnFiles(dir: string): Promise<string[]> {
  try {
    const manifest = JSON.parse(await readFile(path.join(dir, MANIFEST), 'utf8')) as Manifest;
    if (manifest.format === 'lora-studio-checkpoint' && manifest.files && typeof manifest.files === 'object')
      return [...Object.keys(manifest.files).filter((n) => n === path.basename(n)), MANIFEST];
  } catch {
    // missing or damaged: fall back to the names
  }
  return CHECKPOINT_FILES;
}

/**
 * Delete a checkpoint: its own files (checkpointOwnFiles), then its folder if nothing else is in it. Returns the names
 * of the files it kept (put there by someone else); an absent folder keeps nothing.
 */
async function removeCheckpoint(dir: string): Promise<string[]> {
  for (const name of await checkpointOwnFiles(dir)) await unlink(path.join(dir, name)).catch(() => undefined);
  const rest = await readdir(dir).catch(() => undefined);
  if (rest === undefined) return [];
  if (rest.length === 0) await rmdir(dir);
  return rest;
}

/** Check a checkpoint against its manifest. Returns the problem, or undefined when it is whole. */
export async function verifyCheckpoint(dir: string): Promise<string | undefined> {
  let manifest: Manifest;
  try {
    manifest = (await readJsonFile(path.join(dir, MANIFEST), {
      maxBytes: JSON_FILE_LIMITS.config,
      code: 'checkpoint/manifest',
    })) as Manifest;
  } catch (e) {
    return `${path.join(dir, MANIFEST)}: missing or unreadable (${(e as Error).message.replace(`${path.join(dir, MANIFEST)}: `, '')}); the checkpoint is incomplete`;
  }
  if (!manifest || manifest.format !== 'lora-studio-checkpoint' || typeof manifest.files !== 'object' || !manifest.files) {
    return `${path.join(dir, MANIFEST)}: not a LoRA Studio checkpoint manifest`;
  }
  for (const [name, expected] of Object.entries(manifest.files)) {
    const file = path.join(dir, name);
    // Streamed through the hash (a regular file only): a checkpoint's optimizer state can be large.
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      for await (const chunk of streamRegularFile(file)) {
        hash.update(chunk);
        bytes += chunk.length;
      }
    } catch (e) {
      return (e as StudioError).code === 'fs/enoent' ? `${file}: listed in the manifest but missing` : (e as Error).message;
    }
    if (bytes !== expected.bytes || hash.digest('hex') !== expected.sha256) {
      return `${file}: contents do not match the manifest (corrupted or partly written)`;
    }
  }
  return undefined;
}

/** A checkpoint's temp folder (writeCheckpoint's name): only the run's owner writes one, so a stale one is the run's. */
export function isCheckpointTemp(name: string): boolean {
  return new RegExp(`^\\${TEMP_PREFIX}step-\\d+-\\d+-\\d+$`).test(name);
}

/** Remove temp folders left by a crash mid-write (the caller holds the run's lock). Returns their names. */
export async function removeStaleTemps(root: string): Promise<string[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  const stale = names.filter(isCheckpointTemp);
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

/**
 * Keep the newest `limit` checkpoints (and `keep`, e.g. the best one); delete the rest (their own files: a file put in
 * one by someone else stays, with its folder). Returns the paths of such kept files.
 */
export async function pruneCheckpoints(root: string, limit: number, keep: (string | undefined)[] = []): Promise<string[]> {
  if (limit <= 0) return [];
  const all = await listCheckpoints(root);
  const foreign: string[] = [];
  const protectedDirs = new Set(keep.filter(Boolean).map((d) => path.resolve(d!)));
  let kept = 0;
  for (const { dir } of all) {
    if (kept < limit) {
      kept++;
      continue;
    }
    if (!protectedDirs.has(path.resolve(dir))) foreign.push(...(await removeCheckpoint(dir)).map((n) => path.join(dir, n)));
  }
  return foreign;
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
