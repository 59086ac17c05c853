import type { CallName, CallReply, CallRequest, JobEvent } from './contract.ts';
import type { CALL_NAME_LIST } from './call-names.ts';

/**
 * The shape of `window.studio` that preload exposes: one method per contract call, grouped by the part before
 * the dot (`studio.model.inspect({dir})`), plus `onEvent`. Nothing else: no channel names, no ipcRenderer.
 */
type Namespace<N extends string> = N extends `${infer A}.${string}` ? A : never;
type Method<A extends string, K extends CallName> = K extends `${A}.${infer M}` ? M : never;

export type StudioBridge = {
  [A in Namespace<CallName>]: { [K in CallName as Method<A, K>]: (request?: CallRequest<K>) => Promise<CallReply<K>> };
} & {
  /** Job events as they happen; returns the function that unsubscribes. */
  onEvent(listener: (event: JobEvent) => void): () => void;
};

/** The IPC channel of a call. The main side accepts exactly these (plus nothing) — see main/electron/ipc.ts. */
export function channelOf(name: CallName | (typeof CALL_NAME_LIST)[number]): string {
  return `studio:${name}`;
}
export const EVENT_CHANNEL = 'studio:event';

/** What an IPC handler returns: errors travel as data, since Electron flattens thrown errors into strings. */
export type IpcResult = { ok: true; reply: unknown } | { ok: false; error: { message: string; code: string; status: number } };
