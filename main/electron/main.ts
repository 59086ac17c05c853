/**
 * The Electron app's entry (bundled to out/main/main.js by `npm run build`). Wiring only: every decision lives in
 * security.ts, ipc.ts, protocol.ts, window.ts and menu.ts, which the tests check without Electron.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import electron from 'electron';
import { EVENT_CHANNEL } from '../contract/bridge.ts';
import { createApi } from '../api/create-api.ts';
import { createHandlers } from '../api/handlers.ts';
import { JobHost } from '../jobs/host.ts';
import { RunRegistry } from '../jobs/run-registry.ts';
import { nativePicker } from './dialogs.ts';
import { registerIpc } from './ipc.ts';
import { buildMenuTemplate } from './menu.ts';
import { registerAppScheme, serveApp } from './protocol.ts';
import { APP_ORIGIN, hardenSession, hardenWebContents } from './security.ts';
import { electronStoreSettings } from './settings-store.ts';
import { utilityProcessSpawner } from './utility-spawner.ts';
import { createMainWindow } from './window.ts';

const { app, BrowserWindow, Menu, dialog, ipcMain, protocol, session, shell, utilityProcess } = electron;
// Bundled layout: out/main/main.js, out/main/worker.js, out/preload/index.cjs, dist/renderer/.
const here = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.resolve(here, '..');
const RENDERER_DIR = path.resolve(OUT, '..', 'dist', 'renderer');

registerAppScheme(protocol);
app.enableSandbox();
app.on('web-contents-created', (_e, contents) => hardenWebContents(contents));

app.whenReady().then(async () => {
  const { default: Store } = await import('electron-store');
  const store = new Store({ name: 'settings' }) as unknown as { store: Record<string, unknown> };
  const settings = electronStoreSettings(store, { runsDir: path.join(app.getPath('userData'), 'runs') });
  const runsDir = settings.get().runsDir;
  const jobs = new JobHost({ spawner: utilityProcessSpawner(utilityProcess, path.join(OUT, 'main', 'worker.js')), runsDir });
  // Declared before the window exists: the native picker reads it lazily, and gets undefined until it is made.
  // eslint-disable-next-line prefer-const -- assigned once below, after the API that closes over it
  let win: Electron.BrowserWindow | undefined;
  const pickPath = nativePicker(dialog as never, () => win);
  const runs = new RunRegistry(runsDir);
  jobs.adoptRunning(runs); // runs a killed studio left training: shown as running, with stop
  jobs.followClusterRuns(runs); // cluster runs whose job had not ended: followed again
  const api = createApi(
    createHandlers({
      mode: 'electron',
      app: { name: app.getName(), version: app.getVersion() },
      jobs,
      runs,
      settings,
      pickPath,
    }),
  );

  hardenSession(session.defaultSession);
  serveApp(protocol, RENDERER_DIR);
  registerIpc(ipcMain, api);
  Menu.setApplicationMenu(
    Menu.buildFromTemplate(
      buildMenuTemplate(
        process.platform,
        {
          openRunsFolder: () => void shell.openPath(runsDir),
          openDocs: () => void shell.openExternal('https://github.com/tloen/alpaca-lora'),
        },
        { devTools: !app.isPackaged },
      ) as Electron.MenuItemConstructorOptions[],
    ),
  );
  win = createMainWindow(BrowserWindow, { preload: path.join(OUT, 'preload', 'index.cjs'), url: `${APP_ORIGIN}/` });
  jobs.onEvent((e) => {
    if (win && !win.isDestroyed()) win.webContents.send(EVENT_CHANNEL, e);
  });
  app.on('before-quit', () => void jobs.close());
});

app.on('window-all-closed', () => app.quit());
