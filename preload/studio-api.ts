import { channelOf, EVENT_CHANNEL, type IpcResult, type StudioBridge } from '../main/contract/bridge.ts';
import { CALL_NAME_LIST } from '../main/contract/call-names.ts';
import type { JobEvent } from '../main/contract/contract.ts';

/** The three ipcRenderer functions preload needs; the page never sees this object. */
interface RendererIpc {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

/** Build window.studio: one narrow method per contract call, each bound to its own channel, and onEvent. */
export function buildStudioApi(ipc: RendererIpc): StudioBridge {
  const api: Record<string, Record<string, (request?: unknown) => Promise<unknown>>> = {};
  for (const name of CALL_NAME_LIST) {
    const [group, method] = name.split('.') as [string, string];
    const channel = channelOf(name);
    (api[group] ??= {})[method] = async (request?: unknown) => {
      const r = (await ipc.invoke(channel, request ?? {})) as IpcResult;
      if (r.ok) return r.reply;
      throw Object.assign(new Error(r.error.message), { code: r.error.code, status: r.error.status });
    };
  }
  const onEvent = (listener: (event: JobEvent) => void) => {
    // Hand the page the event's data only, never Electron's IpcRendererEvent (it carries `sender`).
    const wrapped = (_event: unknown, data: unknown) => listener(data as JobEvent);
    ipc.on(EVENT_CHANNEL, wrapped);
    return () => void ipc.removeListener(EVENT_CHANNEL, wrapped);
  };
  return { ...api, onEvent } as unknown as StudioBridge;
}
