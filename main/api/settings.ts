import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { settingsSchema, type Settings } from '../contract/contract.ts';

/** Where settings live: electron-store in the app, a JSON file or memory in browser mode and tests. */
export interface SettingsStore {
  get(): Settings;
  set(patch: Partial<Settings>): Settings;
}

export function memorySettings(initial: Partial<Settings> = {}): SettingsStore {
  let current = settingsSchema.parse(initial);
  return {
    get: () => structuredClone(current),
    set: (patch) => (current = settingsSchema.parse({ ...current, ...patch })),
  };
}

/** A JSON file; a missing or broken file gives the defaults (a broken one is replaced on the next set). */
export function fileSettings(file: string, defaults: Partial<Settings> = {}): SettingsStore {
  const read = (): Settings => {
    try {
      if (existsSync(file)) return settingsSchema.parse({ ...defaults, ...JSON.parse(readFileSync(file, 'utf8')) });
    } catch {
      // fall through to the defaults
    }
    return settingsSchema.parse(defaults);
  };
  return {
    get: read,
    set: (patch) => {
      const next = settingsSchema.parse({ ...read(), ...patch });
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify(next, null, 2) + '\n');
      return next;
    },
  };
}
