import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { ADAPTER_DIR, CHECKPOINTS, METRICS, RUN_CONFIG } from '../engine/train/run-folder.ts';

/**
 * The one owner of a run's folder on the cluster:
 *
 *   <remote_dir>/<run>-<stamp>/job.sbatch      the batch script (the local run folder keeps the same text)
 *                             /trainer/        cluster-trainer/, as shipped with the studio
 *                             /bundle/         the prepared run (bundle.json, prepared.safetensors)
 *                             /run/            the trainer's run folder: config.json, metrics.jsonl, checkpoints/, adapter/
 *                             /logs/           slurm-<job>.out and .err (appended across requeues), torchrun's own logs
 *
 * A run gets a new folder at each submission (the stamp), so a resubmitted run never mixes with an older one.
 */
export interface RemoteLayout {
  root: string;
  script: string;
  trainer: string;
  trainerEntry: string;
  bundle: string;
  run: string;
  /** The run folder's files (run-folder.ts owns their names), as paths on the cluster. */
  runFiles: { config: string; metrics: string; checkpoints: string; adapter: string };
  logs: string;
}

export const TRAINER_ENTRY = 'train.py';

export function remoteLayout(root: string): RemoteLayout {
  const at = (...p: string[]) => path.posix.join(root, ...p);
  return {
    root,
    script: at('job.sbatch'),
    trainer: at('trainer'),
    trainerEntry: at('trainer', TRAINER_ENTRY),
    bundle: at('bundle'),
    run: at('run'),
    runFiles: {
      config: at('run', RUN_CONFIG),
      metrics: at('run', METRICS),
      checkpoints: at('run', CHECKPOINTS),
      adapter: at('run', ADAPTER_DIR),
    },
    logs: at('logs'),
  };
}

/** SLURM's output files of a job (the `%j` of the script's --output/--error, filled in). */
export function jobLogFiles(layout: RemoteLayout, jobId: string): { stdout: string; stderr: string } {
  return { stdout: path.posix.join(layout.logs, `slurm-${jobId}.out`), stderr: path.posix.join(layout.logs, `slurm-${jobId}.err`) };
}

/** A name made of safe characters from a local run folder's name (which may hold spaces or quotes). */
export function runSlug(localRunDir: string): string {
  const slug = path
    .basename(path.resolve(localRunDir))
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[-.]+|-+$/g, '')
    .slice(0, 48);
  return slug || 'run';
}

/** `<slug>-YYYYMMDD-HHMMSS-xxxx`: the run's folder name under remote_dir. */
export function remoteRunName(localRunDir: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${runSlug(localRunDir)}-${stamp}-${randomBytes(2).toString('hex')}`;
}

/**
 * remote_dir as an absolute path on the cluster: `~/x` and relative paths are under the home folder there (which the
 * pre-flight reads from the login node).
 */
export function resolveRemoteDir(remoteDir: string, home: string): string {
  const rel = remoteDir === '~' ? '' : remoteDir.startsWith('~/') ? remoteDir.slice(2) : remoteDir;
  const abs = path.posix.isAbsolute(rel) ? path.posix.normalize(rel) : path.posix.join(home, rel);
  return abs.length > 1 ? abs.replace(/\/+$/, '') : abs;
}
