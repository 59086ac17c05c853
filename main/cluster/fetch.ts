import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { ADAPTER_CONFIG, readPeftAdapter } from '../engine/formats/peft-adapter.ts';
import { parseLlamaConfig, type LlamaConfig } from '../engine/llama/config.ts';
import { verifyCheckpoint } from '../engine/train/checkpoint.ts';
import { ADAPTER_DIR, CHECKPOINTS, checkpointStep, readRunConfig, RUN_CONFIG, runPaths } from '../engine/train/run-folder.ts';
import type { ClusterListener } from './cluster-events.ts';
import type { ClusterRecord } from './cluster-record.ts';
import { writeClusterRecord } from './cluster-run-files.ts';
import { lastLine } from './process.ts';
import { remoteLayout } from './remote-layout.ts';
import { shellQuote } from './shell-quote.ts';
import { ClusterCommandError, downloadFiles, type Transport } from './transport.ts';

/**
 * Bring a cluster run's adapter/ and checkpoints/ home. Nothing counts until it is checked: every file's SHA-256 is
 * read on the cluster and compared after the transfer; a checkpoint must then verify against its own manifest (the
 * hashes the trainer wrote) and, like the adapter, be read whole by our PEFT reader against the base's config. A
 * piece that fails is refused and named, and never replaces what the run folder holds; the rest is put in place, each
 * folder by one rename. A checkpoint already here, verified and identical, is not copied again.
 */
export interface FetchResult {
  adapter: 'fetched' | 'unchanged' | 'absent' | 'refused';
  checkpoints: { fetched: string[]; unchanged: string[] };
  /** Each piece not accepted (`adapter`, `checkpoints/step-N`) with the reason. */
  refused: { piece: string; problem: string }[];
}

/** `hash  path` for each file of adapter/ and checkpoints/step-N/ on the cluster (hidden temp files left out). */
function listingCommand(runDir: string): string {
  return [
    `cd -- ${shellQuote(runDir)} || exit 3`,
    'if command -v sha256sum >/dev/null 2>&1; then h="sha256sum"; else h="shasum -a 256"; fi',
    `{ if [ -d ${ADAPTER_DIR} ]; then find ${ADAPTER_DIR} -mindepth 1 -maxdepth 1 -type f ! -name '.*'; fi; ` +
      `if [ -d ${CHECKPOINTS} ]; then find ${CHECKPOINTS} -mindepth 2 -maxdepth 2 -type f -path '${CHECKPOINTS}/step-*/*' ! -name '.*'; fi; } ` +
      '| LC_ALL=C sort | while IFS= read -r f; do $h "$f" || exit 4; done',
    `if [ -f ${RUN_CONFIG} ]; then $h ${RUN_CONFIG} || exit 4; fi`,
  ].join('\n');
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The files of each piece (`adapter`, `checkpoints/step-N`) with their hashes on the cluster, and config.json's. */
interface Listing {
  pieces: Map<string, Map<string, string>>;
  config?: string;
}

async function remoteListing(t: Transport, remoteRun: string): Promise<Listing> {
  const r = await t.exec(listingCommand(remoteRun), { timeoutMs: 600_000 });
  if (r.code === 3)
    throw new ClusterCommandError(
      `${remoteRun} does not exist on ${t.label}: the job has written no run folder (did it start?)`,
      'cluster/no-run',
    );
  if (r.code !== 0) throw new ClusterCommandError(`listing ${remoteRun} on ${t.label} failed: ${lastLine(r.stderr) || `exit ${r.code}`}`);
  const pieces: Listing['pieces'] = new Map();
  let config: string | undefined;
  for (const line of r.stdout.toString('utf8').split('\n')) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) continue;
    const rel = m[2];
    if (rel === RUN_CONFIG) {
      config = m[1];
      continue;
    }
    const piece = path.posix.dirname(rel);
    if (piece !== ADAPTER_DIR && !(path.posix.dirname(piece) === CHECKPOINTS && checkpointStep(path.posix.basename(piece)) !== undefined))
      continue;
    if (!pieces.has(piece)) pieces.set(piece, new Map());
    pieces.get(piece)!.set(path.posix.basename(rel), m[1]);
  }
  return { pieces, config };
}

/** Whether the local folder holds exactly these files with these hashes. */
async function sameFiles(dir: string, files: Map<string, string>): Promise<boolean> {
  const names = (await readdir(dir).catch(() => undefined))?.filter((n) => !n.startsWith('.'));
  if (!names || names.length !== files.size) return false;
  for (const [name, hash] of files) if (!names.includes(name) || (await sha256File(path.join(dir, name))) !== hash) return false;
  return true;
}

/** The problem with a fetched piece, or undefined when it is whole: transfer hashes, manifest, PEFT reader. */
async function checkPiece(
  dir: string,
  files: Map<string, string>,
  isCheckpoint: boolean,
  base: LlamaConfig | undefined,
): Promise<string | undefined> {
  for (const [name, hash] of files) {
    const local = path.join(dir, name);
    if (!existsSync(local)) return `${local}: missing after the transfer`;
    if ((await sha256File(local)) !== hash) return `${local}: SHA-256 differs from the file on the cluster (damaged in transfer)`;
  }
  if (isCheckpoint) {
    const problem = await verifyCheckpoint(dir);
    if (problem) return problem;
  }
  if (base && existsSync(path.join(dir, ADAPTER_CONFIG))) {
    try {
      await readPeftAdapter(dir, base);
    } catch (e) {
      return (e as Error).message;
    }
  }
  return undefined;
}

/** Put a verified folder in place of `target` by renames (the old one, if any, is removed only after). */
async function install(from: string, target: string): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const old = existsSync(target) ? `${target}.replaced-${process.pid}-${Date.now()}` : undefined;
  if (old) await rename(target, old);
  await rename(from, target);
  if (old) await rm(old, { recursive: true, force: true });
}

export async function fetchRun(t: Transport, runDir: string, record: ClusterRecord, onEvent: ClusterListener): Promise<FetchResult> {
  const layout = remoteLayout(record.remote_dir);
  const local = runPaths(runDir);
  const base = record.base_config ? parseLlamaConfig(record.base_config, `${record.cluster}:${record.base_model}/config.json`) : undefined;
  if (!base)
    onEvent({
      type: 'note',
      level: 'warn',
      message: 'cluster.json has no base_config: the adapter is checked by its hashes only, not by the PEFT reader',
    });

  onEvent({ type: 'progress', message: `listing ${layout.run} on ${t.label}` });
  const { pieces: listing, config } = await remoteListing(t, layout.run);
  const result: FetchResult = { adapter: 'absent', checkpoints: { fetched: [], unchanged: [] }, refused: [] };
  const wanted: string[] = [];
  for (const [piece, files] of listing) {
    const here = path.join(local.dir, ...piece.split('/'));
    const isCheckpoint = piece !== ADAPTER_DIR;
    if (existsSync(here) && (await sameFiles(here, files)) && !(isCheckpoint && (await verifyCheckpoint(here)))) {
      if (isCheckpoint) result.checkpoints.unchanged.push(path.posix.basename(piece));
      else result.adapter = 'unchanged';
      continue;
    }
    wanted.push(piece);
  }
  // The trainer's config.json (the settings as run there: world size, parallelism, precision) replaces the one the
  // submission wrote, once it is whole and a run's config.
  const configChanged = config !== undefined && (!existsSync(local.config) || (await sha256File(local.config)) !== config);
  if (configChanged) wanted.push(RUN_CONFIG);
  if (wanted.length === 0) {
    onEvent({ type: 'progress', message: 'nothing new to fetch' });
    return result;
  }

  const temp = path.join(local.dir, `.cluster-fetch-${process.pid}-${Date.now()}`);
  try {
    onEvent({ type: 'progress', message: `copying ${wanted.join(', ')} from ${t.label}` });
    await downloadFiles(t, layout.run, wanted, temp);
    for (const piece of wanted) {
      if (piece === RUN_CONFIG) {
        const fetched = path.join(temp, RUN_CONFIG);
        if ((await sha256File(fetched)) === config && readRunConfig(fetched)) await rename(fetched, local.config);
        else
          onEvent({
            type: 'note',
            level: 'warn',
            message: `${layout.runFiles.config}: not a run's config.json, or changed in transfer; the local one is kept`,
          });
        continue;
      }
      const isCheckpoint = piece !== ADAPTER_DIR;
      const what = isCheckpoint ? 'checkpoint' : 'adapter';
      const fetched = path.join(temp, ...piece.split('/'));
      const target = path.join(local.dir, ...piece.split('/'));
      const problem = await checkPiece(fetched, listing.get(piece)!, isCheckpoint, base);
      if (problem) {
        onEvent({ type: 'refused', what, path: target, problem });
        result.refused.push({ piece, problem });
        if (!isCheckpoint) result.adapter = 'refused';
        continue;
      }
      await install(fetched, target);
      onEvent({ type: 'fetched', what, path: target });
      if (isCheckpoint) result.checkpoints.fetched.push(path.posix.basename(piece));
      else result.adapter = 'fetched';
    }
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  record.fetched = {
    at: new Date().toISOString(),
    adapter: result.adapter === 'fetched' || result.adapter === 'unchanged',
    checkpoints: [...result.checkpoints.unchanged, ...result.checkpoints.fetched].sort(
      (a, b) => (checkpointStep(a) ?? 0) - (checkpointStep(b) ?? 0),
    ),
  };
  await writeClusterRecord(runDir, record);
  return result;
}
