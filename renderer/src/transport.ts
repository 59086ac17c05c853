import type { StudioBridge } from '../../main/contract/bridge.ts';
import { jobEventSchema, type CallName, type CallReply, type CallRequest, type JobEvent } from '../../main/contract/contract.ts';

/**
 * How the page reaches the main side: Electron's preload bridge (window.studio) when it exists, otherwise the
 * browser-mode server's HTTP API and /events WebSocket, with the token from the page's ?token=.
 */
export interface Transport {
  mode: 'electron' | 'browser';
  call<K extends CallName>(name: K, request: CallRequest<K>): Promise<CallReply<K>>;
  onEvent(listener: (e: JobEvent) => void): () => void;
  /** Browser mode: the address that downloads a file of the runs folder (the desktop app has the files at hand). */
  downloadUrl?(file: string): string;
}

declare global {
  interface Window {
    studio?: StudioBridge;
  }
}

function electronTransport(bridge: StudioBridge): Transport {
  return {
    mode: 'electron',
    call: (name, request) => {
      const [group, method] = name.split('.') as [string, string];
      const fn = (bridge as unknown as Record<string, Record<string, (r: unknown) => Promise<unknown>>>)[group][method];
      return fn(request) as never;
    },
    onEvent: (l) => bridge.onEvent(l),
  };
}

/** The token: from ?token= on first load, then kept for this tab so a reload without it still works. */
export function readToken(loc: Location = location, storage: Storage = sessionStorage): string {
  const fromUrl = new URLSearchParams(loc.search).get('token');
  if (fromUrl) {
    storage.setItem('studio-token', fromUrl);
    return fromUrl;
  }
  return storage.getItem('studio-token') ?? '';
}

function browserTransport(): Transport {
  const token = readToken();
  const listeners = new Set<(e: JobEvent) => void>();
  let socket: WebSocket | undefined;
  const connect = () => {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    socket = new WebSocket(`${proto}://${location.host}/events?token=${encodeURIComponent(token)}`);
    socket.onmessage = (m) => {
      const parsed = jobEventSchema.safeParse(JSON.parse(String(m.data)));
      if (parsed.success) for (const l of listeners) l(parsed.data);
    };
    // The server restarted or the network blinked: try again shortly.
    socket.onclose = () => setTimeout(() => listeners.size && connect(), 1500);
  };
  return {
    mode: 'browser',
    async call(name, request) {
      const res = await fetch(`/api/${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-studio-token': token },
        body: JSON.stringify(request ?? {}),
      });
      const body = await res.json().catch(() => ({ error: { message: `${res.status} ${res.statusText}` } }));
      if (!res.ok) throw Object.assign(new Error(body?.error?.message ?? `HTTP ${res.status}`), { status: res.status });
      return body;
    },
    onEvent(l) {
      listeners.add(l);
      if (!socket) connect();
      return () => listeners.delete(l);
    },
    // The server's /download route (main/server/download.ts); a link sends no header, so the token rides along.
    downloadUrl: (file) => `/download?path=${encodeURIComponent(file)}&token=${encodeURIComponent(token)}`,
  };
}

export function createTransport(): Transport {
  return typeof window !== 'undefined' && window.studio ? electronTransport(window.studio) : browserTransport();
}

export const transport = createTransport();
export const call = transport.call;
