import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { RunSummary } from '../contract/contract.ts';
import { StudioError } from '../engine/errors.ts';
import { checkpointNames, readMetrics, runPaths, type MetricPoint } from '../engine/train/run-folder.ts';

/**
 * Reads run folders (their layout is run-folder.ts's): the run folder is the truth, so the Runs page shows the same
 * history after a restart. Reads only; a broken file is listed as a problem of that run, never an error for the
 * whole list.
 */
export type { MetricPoint } from '../engine/train/run-folder.ts';

/** A run id is a folder name: no separators, no dot-dot, so it cannot reach outside runsDir. */
export function runDirOf(runsDir: string, id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id) || id.includes('..'))
    throw new StudioError(`not a run id: "${id}"`, undefined, 'runs/bad-id');
  return path.join(runsDir, id);
}

function readRunFolder(
  runsDir: string,
  id: string,
): { summary: RunSummary; config: Record<string, unknown> | null; metrics: MetricPoint[] } {
  const dir = runDirOf(runsDir, id);
  const problems: string[] = [];
  let config: Record<string, unknown> | null = null;
  const paths = runPaths(dir);
  const configFile = paths.config;
  if (existsSync(configFile)) {
    try {
      config = JSON.parse(readFileSync(configFile, 'utf8'));
    } catch (e) {
      problems.push(`${configFile}: not valid JSON (${(e as Error).message})`);
    }
  }
  const { points, ended, started, problems: metricProblems } = readMetrics(paths.metrics);
  problems.push(...metricProblems);
  const checkpoints = checkpointNames(paths.checkpoints);
  const steps = points.filter((p) => p.loss !== undefined);
  const evals = points.filter((p) => p.evalLoss !== undefined);
  const str = (k: string) => (config && typeof config[k] === 'string' ? (config[k] as string) : undefined);
  const summary: RunSummary = {
    id,
    dir,
    createdAt: statSync(dir).birthtime.toISOString(),
    baseModel: str('base_model'),
    dataPath: str('data_path'),
    steps: Math.max(0, ...points.map((p) => p.step)),
    lastLoss: steps.at(-1)?.loss,
    lastEvalLoss: evals.at(-1)?.evalLoss,
    status: ended ? (ended === 'stopped' ? 'stopped' : 'finished') : started || config ? 'incomplete' : 'empty',
    checkpoints,
    hasAdapter: existsSync(paths.adapterConfig),
    problems,
  };
  return { summary, config, metrics: points };
}

export class RunRegistry {
  constructor(readonly runsDir: string) {}

  list(): RunSummary[] {
    if (!existsSync(this.runsDir)) return [];
    return readdirSync(this.runsDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
      .map((d) => readRunFolder(this.runsDir, d.name).summary)
      .sort((a, b) => b.id.localeCompare(a.id));
  }

  read(id: string) {
    if (!existsSync(runDirOf(this.runsDir, id))) throw new StudioError('no such run', runDirOf(this.runsDir, id), 'runs/missing');
    const { summary, config, metrics } = readRunFolder(this.runsDir, id);
    return { run: summary, config, metrics };
  }

  /** The folder of run `id` (checked: it cannot leave runsDir). */
  dirOf(id: string): string {
    return runDirOf(this.runsDir, id);
  }

  async delete(id: string): Promise<boolean> {
    const dir = runDirOf(this.runsDir, id);
    if (!existsSync(dir)) return false;
    await rm(dir, { recursive: true, force: true });
    return true;
  }
}
