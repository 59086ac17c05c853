import os from 'node:os';
import path from 'node:path';
import { gpuMemoryBytes, readGpuStats } from '../engine/system/gpu-stats.ts';
import { loadLlamaConfig } from '../engine/llama/config.ts';
import { inspectModel } from '../engine/model/inspect.ts';
import { PROJECTIONS, unknownProjections, type ProjectionName } from '../engine/llama/projections.ts';
import { estimateForCheckpoint } from '../engine/system/memory-estimate.ts';
import { settingFields, settingsOfSavedConfig } from '../engine/train/config.ts';
import type { JobHost } from '../jobs/host.ts';
import type { RunRegistry } from '../jobs/run-registry.ts';
import { replayRunHistory } from '../jobs/run-history.ts';
import { clusterLogHistory } from '../jobs/cluster-history.ts';
import { ApiError, type Handlers } from './create-api.ts';
import type { ParsedRequest } from '../contract/contract.ts';
import { listFolder } from './files.ts';
import { checkData } from './data-check.ts';
import type { SettingsStore } from './settings.ts';

export interface HandlerDeps {
  mode: 'electron' | 'server';
  app: { name: string; version: string };
  jobs: JobHost;
  runs: RunRegistry;
  settings: SettingsStore;
  /** The user's home folder (os.homedir() when left out): the folder browser's start and the `~` of the pages' paths. */
  homeDir?: string;
  /** The desktop app's native open dialog (absent in browser mode, where the page lists folders instead). */
  pickPath?: (request: ParsedRequest<'files.pick'>) => Promise<string | null>;
}

/** The main side of every call, shared by Electron IPC and the HTTP server. */
export function createHandlers(d: HandlerDeps): Handlers {
  const homeDir = d.homeDir ?? os.homedir();
  return {
    'app.info': () => ({
      ...d.app,
      mode: d.mode,
      platform: process.platform,
      node: process.versions.node,
      runsDir: d.runs.runsDir,
      homeDir,
      jobKinds: [...d.jobs.availableKinds],
    }),
    'model.inspect': ({ dir }) => inspectModel(dir),
    'data.check': (req) => checkData(req),
    'finetune.fields': () => ({ fields: settingFields() }),
    'finetune.estimate': async (r) => {
      const config = await loadLlamaConfig(r.base_model);
      const unknown = unknownProjections(r.lora_target_modules);
      if (unknown.length)
        throw new ApiError(`unknown target module(s): ${unknown.join(', ')} (known: ${PROJECTIONS.join(', ')})`, 400, 'estimate/modules');
      const workload = {
        microBatchSize: r.micro_batch_size,
        cutoffLen: r.cutoff_len,
        loraR: r.lora_r,
        targetModules: r.lora_target_modules as ProjectionName[],
        gradientCheckpointing: r.gradient_checkpointing,
      };
      const estimate = await estimateForCheckpoint(r.base_model, config, r.base_dtype ?? 'auto', workload);
      const stats = await readGpuStats();
      const first = stats.available ? stats.gpus[0] : undefined;
      const gpu = first && { name: first.name, ...gpuMemoryBytes(first) };
      return { ...estimate, gpu };
    },
    'files.pick': async (r) => {
      if (!d.pickPath)
        throw new ApiError('native file dialogs exist only in the desktop app; browse with files.list', 400, 'files/no-dialog');
      return { path: await d.pickPath(r) };
    },
    'files.list': ({ dir }) => listFolder(dir ?? homeDir),
    'jobs.list': () => ({ jobs: d.jobs.list() }),
    'jobs.start': (request) => d.jobs.start(request.kind, request.config),
    'jobs.stop': ({ id }) => ({ stopped: d.jobs.stop(id) }),
    'runs.list': async () => {
      d.jobs.adoptRunning(d.runs); // a run started meanwhile by the CLI in the runs folder
      const active = d.jobs.list().filter((j) => j.state === 'running' || j.state === 'queued');
      const runs = (await d.runs.list()).map((r) => {
        const jobId = r.status === 'running' ? active.find((j) => j.runId === r.id)?.id : undefined;
        return jobId ? { ...r, jobId } : r;
      });
      return { runs };
    },
    'runs.read': async ({ id }) => {
      const read = await d.runs.read(id);
      return { ...read, resumeSettings: read.config ? settingsOfSavedConfig(read.config) : null };
    },
    'runs.history': async ({ id }) => {
      // The job's event count first, the files after: every event numbered up to it was written before it was sent,
      // so the history holds it. A line written meanwhile may also come live; the page drops such a repeat.
      const dir = d.runs.dirOf(id);
      const job =
        d.jobs
          .list()
          .filter((j) => (j.kind === 'finetune' || j.kind === 'cluster') && j.runDir !== undefined && path.resolve(j.runDir) === dir)
          .at(-1) ?? null;
      if (!d.runs.has(id)) {
        if (!job) throw new ApiError(`${dir}: no such run`, 404, 'runs/missing');
        return { run: null, config: null, events: [], job };
      }
      const { run, config, metricsText } = await d.runs.readWithMetricsText(id);
      const jobId = job?.id ?? `run:${id}`;
      const events = replayRunHistory(dir, metricsText, config, jobId);
      // A cluster run's job state, as cluster.json had it when read: its job's live `cluster` events carry on from it.
      if (run.cluster)
        events.push(...(await clusterLogHistory(dir, run.cluster.jobId, jobId)), { jobId, type: 'cluster', cluster: run.cluster });
      return { run, config, events, job };
    },
    'runs.delete': async ({ id }) => {
      // Refused rather than stopped: a delete cannot be undone, and a stopping job still writes its last checkpoint
      // into the folder during its grace time. The user stops the job, then deletes.
      const busy = d.jobs.activeJobsIn(d.runs.dirOf(id));
      if (busy.length) {
        const jobs = busy.map((j) => `${j.id} (${j.kind}, ${j.state})`).join(', ');
        throw new ApiError(`${d.runs.dirOf(id)}: run ${id} is in use by job ${jobs}; stop it first, then delete the run`, 400, 'runs/busy');
      }
      return { deleted: await d.runs.delete(id) };
    },
    'system.gpu': async () => {
      const m = process.memoryUsage();
      const gpu = await readGpuStats();
      return { ...gpu, process: { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external } };
    },
    'settings.get': () => d.settings.get(),
    'settings.set': (patch) => d.settings.set(patch),
  };
}
