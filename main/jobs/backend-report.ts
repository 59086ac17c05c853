import type { BackendReport } from '../api/contract.ts';
import { backendInfo } from '../engine/backend/index.ts';

/** The job's tfjs backend as the studio shows it (undefined before a backend started). */
export function backendReport(): BackendReport | undefined {
  const info = backendInfo();
  if (!info) return undefined;
  return { name: info.name, detail: info.detail };
}
