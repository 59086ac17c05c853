import { channelOf, type IpcResult } from '../api/bridge.ts';
import { CALL_NAMES, type CallName } from '../api/contract.ts';
import { errorPayload, type Api } from '../api/create-api.ts';
import { isAppUrl } from './security.ts';

/** The allowlist: exactly one channel per contract call. */
export const IPC_CHANNELS: ReadonlyMap<string, CallName> = new Map(CALL_NAMES.map((n) => [channelOf(n), n]));

/** Why an IPC message is refused before its payload is even looked at, or undefined when it may proceed. */
export function refuseIpc(channel: string, senderFrameUrl: string | undefined | null): string | undefined {
  if (!IPC_CHANNELS.has(channel)) return `channel "${channel}" is not in the allowlist`;
  if (!senderFrameUrl || !isAppUrl(senderFrameUrl)) return `sender frame ${senderFrameUrl ?? '(gone)'} is not the studio's app:// page`;
  return undefined;
}

export interface IpcMainLike {
  handle(channel: string, listener: (event: { senderFrame: { url: string } | null }, ...args: unknown[]) => unknown): void;
}

/** One handler per allowed channel: checks the sender frame, then the contract's schema (in api.call). */
export function registerIpc(ipcMain: IpcMainLike, api: Api): void {
  for (const [channel, name] of IPC_CHANNELS) {
    ipcMain.handle(channel, async (event, request): Promise<IpcResult> => {
      const refused = refuseIpc(channel, event.senderFrame?.url);
      if (refused) return { ok: false, error: { message: refused, code: 'ipc/refused', status: 403 } };
      try {
        return { ok: true, reply: await api.call(name, request) };
      } catch (e) {
        const p = errorPayload(e);
        return { ok: false, error: { ...p.error, status: p.status } };
      }
    });
  }
}
