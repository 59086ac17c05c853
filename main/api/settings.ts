import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { settingsSchema, type Settings } from '../contract/contract.ts';
import { writeFileAtomic } from '../engine/fs/atomic-write.ts';
import { JSON_FILE_LIMITS, readJsonFile } from '../engine/fs/json-file.ts';

/** Where settings live: electron-store in the app, a JSON file or memory in browser mode and tests. */
export interface SettingsStore {
  get(): Settings | Promise<Settings>;
  set(patch: Partial<Settings>): Settings | Promise<Settings>;
}

/** A store that answers at once (memory, electron-store): the desktop app reads its runs folder from it at start. */
export interface SyncSettingsStore extends SettingsStore {
  get(): Settings;
  set(patch: Partial<Settings>): Settings;
}

export function memorySettings(initial: Partial<Settings> = {}): SyncSettingsStore {
  let current = settingsSchema.parse(initial);
  return {
    get: () => structuredClone(current),
    set: (patch) => (current = settingsSchema.parse({ ...current, ...patch })),
  };
}

/**
 * A JSON file; a missing or broken file gives the defaults (a broken one is replaced on the next set). Read and written
 * asynchronously, a regular file only, size-capped: the file lives in the runs folder, which the server must not trust
 * to be well-behaved (a FIFO there would otherwise stall every settings call).
 */
export function fileSettings(file: string, defaults: Partial<Settings> = {}): SettingsStore {
  const read = async (): Promise<Settings> => {
    try {
      if (existsSync(file))
        return settingsSchema.parse({
          ...defaults,
          ...((await readJsonFile(file, { maxBytes: JSON_FILE_LIMITS.config, code: 'settings/json' })) as object),
        });
    } catch {
      // fall through to the defaults
    }
    return settingsSchema.parse(defaults);
  };
  return {
    get: read,
    set: async (patch) => {
      const next = settingsSchema.parse({ ...(await read()), ...patch });
      await mkdir(path.dirname(file), { recursive: true });
      await writeFileAtomic(file, JSON.stringify(next, null, 2) + '\n'); // replaces whatever is there, never opens it
      return next;
    },
  };
}
