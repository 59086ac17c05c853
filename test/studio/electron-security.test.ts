import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { channelOf } from '../../main/contract/bridge.ts';
import { CALL_NAMES, settingsSchema } from '../../main/contract/contract.ts';
import { createApi, type Handlers } from '../../main/api/create-api.ts';
import { IPC_CHANNELS, registerIpc, type IpcMainLike } from '../../main/electron/ipc.ts';
import { buildMenuTemplate } from '../../main/electron/menu.ts';
import { appResponse, registerAppScheme } from '../../main/electron/protocol.ts';
import { APP_CSP, buildWindowOptions, hardenSession, hardenWebContents, isAppUrl } from '../../main/electron/security.ts';
import { electronStoreSettings } from '../../main/electron/settings-store.ts';
import { createMainWindow } from '../../main/electron/window.ts';
import { workFolder } from '../helpers/work-folder.ts';

/** Fake web contents recording what the shell installs. */
function fakeContents() {
  const listeners: Record<string, (...a: never[]) => unknown> = {};
  let openHandler: (() => { action: string }) | undefined;
  return {
    listeners,
    openHandler: () => openHandler,
    on(event: string, l: (...a: never[]) => unknown) {
      listeners[event] = l;
      return this;
    },
    setWindowOpenHandler(h: () => { action: 'deny' }) {
      openHandler = h;
    },
  };
}

function navigate(c: ReturnType<typeof fakeContents>, url: string): boolean {
  let prevented = false;
  (c.listeners['will-navigate'] as (e: { preventDefault(): void }, url: string) => void)({ preventDefault: () => (prevented = true) }, url);
  return !prevented;
}

describe('window options', () => {
  const o = buildWindowOptions('/app/out/preload/index.cjs');
  it('isolates and sandboxes the page', () => {
    expect(o.webPreferences.contextIsolation).toBe(true);
    expect(o.webPreferences.sandbox).toBe(true);
    expect(o.webPreferences.nodeIntegration).toBe(false);
    expect(o.webPreferences.nodeIntegrationInWorker).toBe(false);
    expect(o.webPreferences.nodeIntegrationInSubFrames).toBe(false);
    expect(o.webPreferences.webSecurity).toBe(true);
    expect(o.webPreferences.allowRunningInsecureContent).toBe(false);
    expect(o.webPreferences.webviewTag).toBe(false);
    expect(o.webPreferences.preload).toBe('/app/out/preload/index.cjs');
  });

  it('createMainWindow uses exactly these options, hardens the contents and loads the app:// page', () => {
    const made: { options?: unknown; url?: string; contents: ReturnType<typeof fakeContents> } = { contents: fakeContents() };
    class FakeWindow {
      webContents = made.contents;
      constructor(options: unknown) {
        made.options = options;
      }
      once() {}
      show() {}
      async loadURL(url: string) {
        made.url = url;
      }
    }
    createMainWindow(FakeWindow, { preload: '/p.cjs', url: 'app://studio/' });
    expect(made.options).toEqual(buildWindowOptions('/p.cjs'));
    expect(made.url).toBe('app://studio/');
    expect(made.contents.openHandler()?.()).toEqual({ action: 'deny' });
    expect(navigate(made.contents, 'https://example.com/')).toBe(false);
  });
});

describe('navigation, new windows, webviews', () => {
  const c = fakeContents();
  hardenWebContents(c as never);
  it('refuses navigation away from app://studio', () => {
    expect(navigate(c, 'https://evil.example/')).toBe(false);
    expect(navigate(c, 'file:///etc/passwd')).toBe(false);
    expect(navigate(c, 'app://studio.evil/')).toBe(false);
    expect(navigate(c, 'app://studio/runs')).toBe(true);
  });
  it('denies every new window and webview', () => {
    expect(c.openHandler()?.()).toEqual({ action: 'deny' });
    let prevented = false;
    (c.listeners['will-attach-webview'] as (e: { preventDefault(): void }) => void)({ preventDefault: () => (prevented = true) });
    expect(prevented).toBe(true);
  });
  it('knows its own origin exactly', () => {
    expect(isAppUrl('app://studio/index.html')).toBe(true);
    expect(isAppUrl('app://other/')).toBe(false);
    expect(isAppUrl('http://studio/')).toBe(false);
    expect(isAppUrl('not a url')).toBe(false);
  });
});

describe('session: permissions and CSP', () => {
  const got: {
    request?: (wc: unknown, p: string, cb: (g: boolean) => void) => void;
    check?: () => boolean;
    headers?: (d: { responseHeaders?: Record<string, string[]> }, cb: (r: { responseHeaders: Record<string, string[]> }) => void) => void;
  } = {};
  hardenSession({
    setPermissionRequestHandler: (h) => (got.request = h),
    setPermissionCheckHandler: (h) => (got.check = h),
    webRequest: { onHeadersReceived: (l) => (got.headers = l) },
  });
  it('denies every permission request and check', () => {
    for (const p of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal']) {
      let granted: boolean | undefined;
      got.request?.(null, p, (g) => (granted = g));
      expect(granted).toBe(false);
    }
    expect(got.check?.()).toBe(false);
  });
  it('puts the strict CSP on every response, replacing a looser one', () => {
    let out: Record<string, string[]> = {};
    got.headers?.({ responseHeaders: { 'content-security-policy': ['default-src *'], 'X-A': ['1'] } }, (r) => (out = r.responseHeaders));
    expect(out['Content-Security-Policy']).toEqual([APP_CSP]);
    expect(out['content-security-policy']).toBeUndefined();
    expect(out['X-A']).toEqual(['1']);
    expect(APP_CSP).toContain("default-src 'none'");
    expect(APP_CSP).toContain("script-src 'self'");
    expect(APP_CSP).not.toMatch(/unsafe-eval/);
    expect(APP_CSP).not.toMatch(/script-src[^;]*unsafe-inline/);
  });
});

describe('app:// protocol', () => {
  const dir = workFolder('studio-app');
  mkdirSync(path.join(dir, 'r'));
  writeFileSync(path.join(dir, 'r', 'index.html'), '<html></html>');
  writeFileSync(path.join(dir, 'secret'), 'x');
  it('registers app:// as a standard secure scheme', () => {
    let schemes: unknown;
    registerAppScheme({ registerSchemesAsPrivileged: (s) => (schemes = s) });
    expect(schemes).toEqual([{ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } }]);
  });
  it('serves renderer files with the CSP, and nothing outside the renderer', () => {
    const ok = appResponse('app://studio/index.html', path.join(dir, 'r'));
    expect(ok.status).toBe(200);
    expect(ok.headers['Content-Security-Policy']).toBe(APP_CSP);
    // '..' is resolved inside the origin (app://studio/secret → the SPA's index.html); the file beside it never leaks.
    for (const u of [
      'app://studio/../secret',
      'app://studio/%2e%2e/secret',
      'app://studio/..%2fsecret',
      'app://studio/%2e%2e%2fsecret.txt',
    ]) {
      const r = appResponse(u, path.join(dir, 'r'));
      expect(r.body?.toString()).not.toBe('x');
    }
    expect(appResponse('app://studio/../secret', path.join(dir, 'r')).body?.toString()).toBe('<html></html>');
    expect(appResponse('app://other/index.html', path.join(dir, 'r')).status).toBe(404);
  });
});

describe('IPC', () => {
  const handlers = Object.fromEntries(CALL_NAMES.map((n) => [n, () => Promise.reject(new Error('unused'))])) as unknown as Handlers;
  handlers['model.inspect'] = async ({ dir }) => ({ dir, files: [], problems: [], warnings: [] });
  const registered = new Map<string, Parameters<IpcMainLike['handle']>[1]>();
  registerIpc({ handle: (ch, l) => registered.set(ch, l) }, createApi(handlers));
  // Frames as Electron's WebFrameMain has them: the main frame has no parent; an <iframe> has one and its own id.
  const mainFrame = (url: string) => ({ url, parent: null, routingId: 1, processId: 7 });
  const event = (url: string | null) => {
    const frame = url === null ? null : mainFrame(url);
    return { senderFrame: frame, sender: { mainFrame: frame ?? mainFrame('app://studio/') } };
  };
  const call = (channel: string, url: string | null, payload: unknown) => registered.get(channel)!(event(url), payload);

  it('registers exactly one channel per contract call, nothing else', () => {
    expect([...registered.keys()].sort()).toEqual(CALL_NAMES.map(channelOf).sort());
    expect([...IPC_CHANNELS.keys()].sort()).toEqual([...registered.keys()].sort());
  });
  it('answers our page with a valid request', async () => {
    expect(await call('studio:model.inspect', 'app://studio/index.html', { dir: '/m' })).toEqual({
      ok: true,
      reply: { dir: '/m', files: [], problems: [], warnings: [] },
    });
  });
  it('refuses a sender frame that is not our app:// page', async () => {
    for (const url of ['https://evil.example/', 'file:///tmp/x.html', 'app://evil/', null]) {
      const r = (await call('studio:model.inspect', url, { dir: '/m' })) as { ok: boolean; error: { code: string } };
      expect(r).toMatchObject({ ok: false, error: { code: 'ipc/refused', status: 403 } });
    }
  });
  it('refuses a subframe, even one of our own app:// pages, as VS Code does (senderFrame.parent !== null)', async () => {
    const top = mainFrame('app://studio/index.html');
    const iframe = { url: 'app://studio/index.html', parent: top, routingId: 2, processId: 7 };
    const r = await registered.get('studio:model.inspect')!({ senderFrame: iframe, sender: { mainFrame: top } }, { dir: '/m' });
    expect(r).toMatchObject({ ok: false, error: { code: 'ipc/refused', status: 403, message: expect.stringMatching(/subframe/) } });
  });
  it("refuses a frame that is not its web contents' main frame (a stale or swapped frame)", async () => {
    const top = mainFrame('app://studio/index.html');
    const other = { ...top, routingId: 3 };
    const r = await registered.get('studio:model.inspect')!({ senderFrame: other, sender: { mainFrame: top } }, { dir: '/m' });
    expect(r).toMatchObject({
      ok: false,
      error: { code: 'ipc/refused', status: 403, message: expect.stringMatching(/not the window's main frame/) },
    });
  });
  it('refuses a payload that breaks the schema', async () => {
    const r = (await call('studio:model.inspect', 'app://studio/', { dir: ['..'] })) as {
      ok: boolean;
      error: { status: number; message: string };
    };
    expect(r.ok).toBe(false);
    expect(r.error.status).toBe(400);
    expect(r.error.message).toMatch(/invalid request: dir/);
  });
});

describe('menu and settings', () => {
  it('builds a menu without developer tools unless asked', () => {
    const flat = (items: { role?: string; submenu?: unknown[] }[]): string[] =>
      items.flatMap((i) => [i.role ?? '', ...flat((i.submenu as never) ?? [])]);
    const noop = { openRunsFolder() {}, openDocs() {} };
    expect(flat(buildMenuTemplate('linux', noop))).not.toContain('toggleDevTools');
    expect(flat(buildMenuTemplate('linux', noop, { devTools: true }))).toContain('toggleDevTools');
    expect(buildMenuTemplate('darwin', noop)[0].label).toBe('LoRA Studio');
  });
  it('keeps settings in electron-store through the schema', () => {
    const store = { store: {} as Record<string, unknown> };
    const s = electronStoreSettings(store, { runsDir: '/runs' });
    expect(s.get()).toEqual(settingsSchema.parse({ runsDir: '/runs' }));
    s.set({ language: 'zh-CN', recentModels: ['/m'] });
    expect(store.store).toMatchObject({ language: 'zh-CN', recentModels: ['/m'], runsDir: '/runs' });
    expect(() => s.set({ language: 'xx' as never })).toThrow();
    store.store = { language: 42 }; // a hand-broken file gives the defaults, not a crash
    expect(s.get().language).toBe('en');
  });
});

describe('only main/electron imports electron', () => {
  it('keeps engine, jobs, api, server and renderer free of electron', () => {
    const root = path.resolve(import.meta.dirname, '../..');
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = path.join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (
          /\.tsx?$/.test(name) &&
          /from ['"]electron['"]|import\(['"]electron['"]\)|require\(['"]electron['"]\)/.test(readFileSync(p, 'utf8'))
        )
          offenders.push(path.relative(root, p));
      }
    };
    for (const d of ['main/engine', 'main/jobs', 'main/api', 'main/server', 'renderer']) walk(path.join(root, d));
    expect(offenders).toEqual([]);
  });
});
