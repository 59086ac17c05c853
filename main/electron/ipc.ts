import { channelOf, type IpcResult } from '../contract/bridge.ts';
import { CALL_NAMES, type CallName } from '../contract/contract.ts';
import { errorPayload, type Api } from '../api/create-api.ts';
import { isAppUrl } from './security.ts';

/** The allowlist: exactly one channel per contract call. */
export const IPC_CHANNELS: ReadonlyMap<string, CallName> = new Map(CALL_NAMES.map((n) => [channelOf(n), n]));

/** What the checks read of Electron's WebFrameMain. */
interface FrameLike {
  url: string;
  /** null for a main frame; the parent frame for an <iframe>. */
  parent: unknown;
  routingId: number;
  processId: number;
}

/** What the checks read of an IpcMainInvokeEvent: the frame that sent it and the web contents it lives in. */
export interface IpcEventLike {
  senderFrame: FrameLike | null;
  sender: { mainFrame: FrameLike };
}

/**
 * Why an IPC message is refused before its payload is even looked at, or undefined when it may proceed. As VS Code's
 * validateEvent: the channel is in the allowlist, the sender frame is our app:// page, and it is the window's main
 * frame, so an <iframe> (even one of ours, even same-origin) cannot reach the API.
 */
function refuseIpc(channel: string, event: IpcEventLike): string | undefined {
  if (!IPC_CHANNELS.has(channel)) return `channel "${channel}" is not in the allowlist`;
  const frame = event.senderFrame;
  if (!frame || !isAppUrl(frame.url)) return `sender frame ${frame?.url ?? '(gone)'} is not the studio's app:// page`;
  if (frame.parent !== null) return `sender frame ${frame.url} is a subframe, not the window's main frame`;
  const main = event.sender.mainFrame;
  if (frame.routingId !== main.routingId || frame.processId !== main.processId)
    return `sender frame ${frame.url} is not the window's main frame`;
  return undefined;
}

export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcEventLike, ...args: unknown[]) => unknown): void;
}

/** One handler per allowed channel: checks the channel and the sender frame, then the contract's schema (in api.call). */
export function registerIpc(ipcMain: IpcMainLike, api: Api): void {
  for (const [channel, name] of IPC_CHANNELS) {
    ipcMain.handle(channel, async (event, request): Promise<IpcResult> => {
      const refused = refuseIpc(channel, event);
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
