import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { CALL_NAMES } from '../../main/contract/contract.ts';

const ipc = {
  invoke: vi.fn(async (_channel: string, req: unknown) => ({ ok: true, reply: { echoed: req } })),
  on: vi.fn(),
  removeListener: vi.fn(),
  send: vi.fn(),
  sendSync: vi.fn(),
};
const exposed: Record<string, unknown> = {};
vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: (key: string, value: unknown) => (exposed[key] = value) },
  ipcRenderer: ipc,
}));

await import('../../preload/index.ts');
const studio = exposed.studio as Record<string, Record<string, (r?: unknown) => Promise<unknown>>> & {
  onEvent(l: (e: unknown) => void): () => void;
};

describe('preload', () => {
  it('exposes only window.studio', () => {
    expect(Object.keys(exposed)).toEqual(['studio']);
  });

  it('has one method per contract call plus onEvent, and nothing else', () => {
    const methods = Object.entries(studio).flatMap(([group, v]) =>
      typeof v === 'function' ? [group] : Object.keys(v).map((m) => `${group}.${m}`),
    );
    expect(methods.sort()).toEqual([...CALL_NAMES, 'onEvent'].sort());
    for (const name of CALL_NAMES) {
      const [g, m] = name.split('.');
      expect(typeof studio[g][m]).toBe('function');
    }
  });

  it('never hands the page ipcRenderer or any of its functions', () => {
    const seen = new Set<unknown>();
    const walk = (v: unknown) => {
      if (v === null || (typeof v !== 'object' && typeof v !== 'function') || seen.has(v)) return;
      seen.add(v);
      for (const k of Object.keys(v as object)) walk((v as Record<string, unknown>)[k]);
    };
    walk(studio);
    for (const f of [ipc, ipc.invoke, ipc.on, ipc.send, ipc.sendSync, ipc.removeListener]) expect(seen.has(f)).toBe(false);
  });

  it('each method invokes its own channel only', async () => {
    expect(await studio.model.inspect({ dir: '/m' })).toEqual({ echoed: { dir: '/m' } });
    expect(ipc.invoke).toHaveBeenLastCalledWith('studio:model.inspect', { dir: '/m' });
    await studio.jobs.list();
    expect(ipc.invoke).toHaveBeenLastCalledWith('studio:jobs.list', {});
  });

  it('turns a refused call into an Error with its message', async () => {
    ipc.invoke.mockResolvedValueOnce({ ok: false, error: { message: 'nope', code: 'ipc/refused', status: 403 } } as never);
    await expect(studio.runs.list()).rejects.toThrow('nope');
  });

  it('onEvent passes event data only, not the IPC event, and unsubscribes', () => {
    const got: unknown[] = [];
    const off = studio.onEvent((e) => got.push(e));
    const [channel, listener] = ipc.on.mock.calls.at(-1) as [string, (ev: unknown, data: unknown) => void];
    expect(channel).toBe('studio:event');
    listener({ sender: ipc }, { jobId: 'j', type: 'log', level: 'info', message: 'hi' });
    expect(got).toEqual([{ jobId: 'j', type: 'log', level: 'info', message: 'hi' }]);
    off();
    expect(ipc.removeListener).toHaveBeenCalledWith('studio:event', listener);
  });

  it('the renderer never mentions ipcRenderer', () => {
    const root = path.resolve(import.meta.dirname, '../../renderer');
    const hits: string[] = [];
    const walk = (dir: string) => {
      for (const n of readdirSync(dir)) {
        const p = path.join(dir, n);
        if (statSync(p).isDirectory()) walk(p);
        else if (/ipcRenderer|require\(['"]electron/.test(readFileSync(p, 'utf8'))) hits.push(p);
      }
    };
    walk(root);
    expect(hits).toEqual([]);
  });
});
