import { settingsSchema, type Settings } from '../contract/contract.ts';
import type { SyncSettingsStore } from '../api/settings.ts';

/** The part of electron-store we use (its `store` property holds the whole object). */
interface ElectronStoreLike {
  store: Record<string, unknown>;
}

/** Settings in electron-store: read through the contract's schema, so a hand-edited file cannot break the app. */
export function electronStoreSettings(store: ElectronStoreLike, defaults: Partial<Settings> = {}): SyncSettingsStore {
  const read = (): Settings => {
    const r = settingsSchema.safeParse({ ...defaults, ...store.store });
    return r.success ? r.data : settingsSchema.parse(defaults);
  };
  return {
    get: read,
    set: (patch) => {
      const next = settingsSchema.parse({ ...read(), ...patch });
      store.store = next;
      return next;
    },
  };
}
