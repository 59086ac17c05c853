import { readGpuStats } from '../engine/system/gpu-stats.ts';
import { inspectModel } from '../engine/model/inspect.ts';
import { settingFields } from '../engine/train/config.ts';
import type { JobHost } from '../jobs/host.ts';
import type { RunRegistry } from '../jobs/run-registry.ts';
import type { Handlers } from './create-api.ts';
import { checkData } from './data-check.ts';
import type { SettingsStore } from './settings.ts';

export interface HandlerDeps {
  mode: 'electron' | 'server';
  app: { name: string; version: string };
  jobs: JobHost;
  runs: RunRegistry;
  settings: SettingsStore;
}

/** The main side of every call, shared by Electron IPC and the HTTP server. */
export function createHandlers(d: HandlerDeps): Handlers {
  return {
    'app.info': () => ({ ...d.app, mode: d.mode, platform: process.platform, node: process.versions.node, runsDir: d.runs.runsDir, jobKinds: [...d.jobs.availableKinds] }),
    'model.inspect': ({ dir }) => inspectModel(dir),
    'data.check': (req) => checkData(req),
    'finetune.fields': () => ({ fields: settingFields() }),
    'jobs.list': () => ({ jobs: d.jobs.list() }),
    'jobs.start': ({ kind, config }) => d.jobs.start(kind, config),
    'jobs.stop': ({ id }) => ({ stopped: d.jobs.stop(id) }),
    'runs.list': () => ({ runs: d.runs.list() }),
    'runs.read': ({ id }) => d.runs.read(id),
    'runs.delete': async ({ id }) => ({ deleted: await d.runs.delete(id) }),
    'system.gpu': async () => {
      const m = process.memoryUsage();
      const gpu = await readGpuStats();
      return { ...gpu, process: { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external } };
    },
    'settings.get': () => d.settings.get(),
    'settings.set': (patch) => d.settings.set(patch),
  };
}
