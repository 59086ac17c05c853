import { buildWindowOptions, hardenWebContents, type WebContentsLike } from './security.ts';

interface BrowserWindowLike {
  webContents: WebContentsLike;
  once(event: 'ready-to-show', listener: () => void): unknown;
  show(): void;
  loadURL(url: string): Promise<void>;
}

type BrowserWindowCtor<W extends BrowserWindowLike> = new (options: ReturnType<typeof buildWindowOptions>) => W;

/** The main window: the options of buildWindowOptions, its web contents hardened, the app:// page loaded. */
export function createMainWindow<W extends BrowserWindowLike>(
  BrowserWindow: BrowserWindowCtor<W>,
  opts: { preload: string; url: string },
): W {
  const win = new BrowserWindow(buildWindowOptions(opts.preload));
  hardenWebContents(win.webContents);
  win.once('ready-to-show', () => win.show());
  void win.loadURL(opts.url);
  return win;
}
