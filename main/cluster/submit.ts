import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { StudioError } from '../engine/errors.ts';
import { writeFileAtomic } from '../engine/fs/atomic-write.ts';
import { parseFinetuneConfig, type FinetuneConfig } from '../engine/train/config.ts';
import { runFilesIn, runPaths } from '../engine/train/run-folder.ts';
import { removeRunFiles } from '../engine/train/run-overwrite.ts';
import type { ClusterListener } from './cluster-events.ts';
import { CLUSTER_LOGS, CLUSTER_RECORD, CLUSTER_SCRIPT, type ClusterRecord } from './cluster-record.ts';
import { clusterPaths, writeClusterRecord } from './cluster-run-files.ts';
import {
  clusterSubmitSchema,
  formatClusterTarget,
  parseClusterTarget,
  slurmJobSchema,
  type ClusterSubmitSettings,
} from './cluster-settings.ts';
import { openTransport } from './connect.ts';
import { remoteLayout, remoteRunName, resolveRemoteDir, runSlug, type RemoteLayout } from './remote-layout.ts';
import { renderSbatchScript } from './sbatch-script.ts';
import { shellLine } from './shell-quote.ts';
import { preflight, submitBatch } from './slurm.ts';
import { execText, uploadFolder, type Transport } from './transport.ts';

/**
 * The trainer shipped to the cluster (the repository's cluster-trainer/ folder). In the packaged app it is unpacked
 * beside the asar archive (electron-builder.yml): tar reads real files, not the archive.
 */
export const TRAINER_DIR = fileURLToPath(new URL('../../cluster-trainer/', import.meta.url)).replace(
  /([\\/])app\.asar([\\/])/,
  '$1app.asar.unpacked$2',
);

/**
 * Prepares the run for the cluster trainer into `bundleDir` (the trainer side's prepareRunBundle): the resolved
 * config and the encoded data. Only bundle.json's `config` and `base_model.config` are read here.
 */
export type PrepareBundle = (
  settings: unknown,
  bundleDir: string,
  opts: { onProgress?: (message: string, level?: 'info' | 'warn') => void },
) => Promise<unknown>;

export const BUNDLE_JSON = 'bundle.json';
const bundleFacts = z.looseObject({
  config: z.record(z.string(), z.unknown()),
  base_model: z.looseObject({ config: z.record(z.string(), z.unknown()) }),
});

export interface StagedItem {
  /** What it is, for the plan a dry run prints. */
  what: string;
  from: string;
  to: string;
  bytes: number;
}

export interface SubmitRequest {
  /** The fine-tuning settings, as `finetune` takes them (output_dir is the LOCAL run folder). */
  settings: Record<string, unknown>;
  /** Where and how to run (checked by clusterSubmitSchema). */
  cluster: unknown;
}

export interface SubmitOptions {
  onEvent: ClusterListener;
  prepareBundle: PrepareBundle;
  /** The folder shipped as the trainer (default: cluster-trainer/). */
  trainerDir?: string;
  /** Environment of local commands (`--cluster local`): SLURM_CONF, PATH. */
  env?: NodeJS.ProcessEnv;
  transport?: Transport;
}

export interface SubmitResult {
  runDir: string;
  script: string;
  plan: StagedItem[];
  /** Undefined for a dry run. */
  record?: ClusterRecord;
  dryRun: boolean;
}

/** Check the request's settings (each named by its flag) without touching anything. */
export function parseSubmitRequest(req: SubmitRequest): { config: FinetuneConfig; cluster: ClusterSubmitSettings; baseOnCluster: string } {
  const r = clusterSubmitSchema.safeParse(req.cluster);
  if (!r.success)
    throw new StudioError(r.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '), undefined, 'cluster/settings');
  const cluster = r.data;
  const config = parseFinetuneConfig(req.settings, 'cluster run settings');
  if (config.resume_from_checkpoint)
    throw new StudioError(
      'resume_from_checkpoint is not taken by cluster submit: a cluster run resumes by itself from its newest checkpoint when SLURM requeues it (--requeue true)',
      undefined,
      'cluster/settings',
    );
  const baseOnCluster = cluster.cluster_base_model ?? config.base_model;
  const base = slurmJobSchema.shape.cluster_base_model.safeParse(baseOnCluster);
  if (!base.success)
    throw new StudioError(
      `--cluster_base_model ("${baseOnCluster}"): ${base.error.issues[0].message}${cluster.cluster_base_model ? '' : ' (it defaults to --base_model; give the path on the cluster)'}`,
      undefined,
      'cluster/settings',
    );
  return { config, cluster, baseOnCluster };
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await stat(path.join(e.parentPath, e.name))).size;
  }
  return total;
}

/** A local run folder that holds a run (or a cluster run) is kept unless overwrite says otherwise. */
async function claimRunFolder(runDir: string, overwrite: boolean): Promise<string[]> {
  const cluster = [CLUSTER_RECORD, CLUSTER_SCRIPT, CLUSTER_LOGS].filter((n) => existsSync(path.join(runDir, n)));
  const existing = [...runFilesIn(runDir), ...cluster];
  if (existing.length === 0) return [];
  if (!overwrite)
    throw new StudioError(
      `already holds a run (${existing.join(', ')}). Start it over with --overwrite true (deletes those files), or choose another output_dir`,
      runDir,
      'run/exists',
    );
  const { removed } = await removeRunFiles(runDir);
  for (const n of cluster) await rm(path.join(runDir, n), { recursive: true, force: true });
  return [...removed, ...cluster];
}

/**
 * Submit a fine-tuning run to SLURM: check the settings, read the cluster (tools, partition: a fault ends here, before
 * anything is staged), prepare the bundle, write the batch script, stage trainer + bundle + script into a new remote
 * folder, sbatch, and record the job in the local run folder's cluster.json. A dry run stops after the script and
 * the plan, having written and staged nothing.
 */
export async function submitRun(req: SubmitRequest, opts: SubmitOptions): Promise<SubmitResult> {
  const { config, cluster, baseOnCluster } = parseSubmitRequest(req);
  const emit = opts.onEvent;
  const runDir = runPaths(config.output_dir).dir;
  const trainerDir = path.resolve(opts.trainerDir ?? TRAINER_DIR);
  if (!existsSync(path.join(trainerDir, 'train.py')))
    throw new StudioError(`no train.py: the cluster trainer is missing from this installation`, trainerDir, 'cluster/no-trainer');
  const target = parseClusterTarget(cluster.cluster);
  if (typeof target === 'string') throw new StudioError(`--cluster: ${target}`, undefined, 'cluster/target');

  const t = opts.transport ?? (await openTransport(cluster, opts.env));
  const bundleParent = await mkdtemp(path.join(tmpdir(), 'lora-studio-bundle-'));
  try {
    emit({ type: 'progress', message: `reading ${t.label}: SLURM commands, partitions, home folder` });
    const facts = await preflight(t, { partition: cluster.partition });
    const root = path.posix.join(resolveRemoteDir(cluster.remote_dir, facts.home), remoteRunName(runDir));
    const layout = remoteLayout(root);

    if (!cluster.dry_run)
      for (const note of await claimRunFolder(runDir, config.overwrite))
        emit({ type: 'note', level: 'warn', message: `overwrite: removed ${note}` });
    emit({ type: 'progress', message: 'preparing the run (tokenizing and ordering the data as a local run would)' });
    const bundleDir = path.join(bundleParent, 'bundle');
    await opts.prepareBundle(req.settings, bundleDir, {
      onProgress: (message, level) => emit({ type: 'note', level: level ?? 'info', message }),
    });
    const bundle = bundleFacts.parse(JSON.parse(readFileSync(path.join(bundleDir, BUNDLE_JSON), 'utf8')));

    const script = renderSbatchScript({
      runName: path.basename(runDir),
      jobName: `lora-studio-${runSlug(runDir)}`,
      layout,
      job: cluster,
      baseModel: baseOnCluster,
      created: new Date(),
    });
    const plan: StagedItem[] = [
      { what: 'trainer', from: trainerDir, to: layout.trainer, bytes: await folderBytes(trainerDir) },
      { what: 'prepared run', from: bundleDir, to: layout.bundle, bytes: await folderBytes(bundleDir) },
      { what: 'batch script', from: path.join(runDir, CLUSTER_SCRIPT), to: layout.script, bytes: Buffer.byteLength(script) },
    ];
    if (cluster.dry_run) return { runDir, script, plan, dryRun: true };

    // The local run folder first: config.json (so the run is listed), the script, cluster.json without a job yet.
    await mkdir(runDir, { recursive: true });
    await writeFileAtomic(runPaths(runDir).config, JSON.stringify(bundle.config, null, 2) + '\n');
    await writeFileAtomic(clusterPaths(runDir).script, script);
    const record: ClusterRecord = {
      format: 'lora-studio-cluster-run',
      version: 1,
      cluster: formatClusterTarget(target),
      ...(cluster.ssh_config ? { ssh_config: path.resolve(cluster.ssh_config) } : {}),
      remote_dir: root,
      job: slurmJobSchema.parse(cluster),
      base_model: baseOnCluster,
      base_config: bundle.base_model.config,
      states: [],
    };
    await writeClusterRecord(runDir, record);

    try {
      await stage(t, layout, plan, script, emit);
      emit({ type: 'progress', message: `sbatch ${layout.script}` });
      record.job_id = await submitBatch(t, layout.script);
    } catch (e) {
      // Nothing was submitted: the remote folder (this submission's own, a new name) and the local files written
      // above go, so the run folder is as it was and the same command can simply be given again.
      await t.exec(shellLine(['rm', '-rf', '--', root]), { timeoutMs: 60_000 }).catch(() => undefined);
      for (const f of [clusterPaths(runDir).record, clusterPaths(runDir).script, runPaths(runDir).config]) await rm(f, { force: true });
      throw e;
    }
    record.submitted_at = new Date().toISOString();
    await writeClusterRecord(runDir, record);
    emit({ type: 'submitted', jobId: record.job_id, remoteDir: root, cluster: record.cluster });
    return { runDir, script, plan, record, dryRun: false };
  } finally {
    await rm(bundleParent, { recursive: true, force: true });
    if (!opts.transport) await t.close();
  }
}

async function stage(t: Transport, layout: RemoteLayout, plan: StagedItem[], script: string, emit: ClusterListener): Promise<void> {
  await execText(t, shellLine(['mkdir', '-p', '--', layout.root, layout.logs, layout.run]), `creating ${layout.root}`);
  for (const item of plan.slice(0, 2)) {
    emit({ type: 'progress', message: `staging the ${item.what} (${formatBytes(item.bytes)}) into ${item.to}` });
    await uploadFolder(t, item.from, item.to, ['__pycache__', '*.pyc']);
  }
  const r = await t.exec(`cat > ${shellLine([layout.script])}`, { input: script, timeoutMs: 60_000 });
  if (r.code !== 0) throw new StudioError(`writing ${layout.script} on ${t.label} failed: ${r.stderr.trim()}`, undefined, 'cluster/stage');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
