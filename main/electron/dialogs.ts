import type { ParsedRequest } from '../contract/contract.ts';

type PickRequest = ParsedRequest<'files.pick'>;

interface OpenDialogOptions {
  title?: string;
  properties: ('openDirectory' | 'openFile')[];
  filters?: { name: string; extensions: string[] }[];
}

/** Electron's showOpenDialog options for a files.pick request: one folder or one file, filtered by extension. */
export function openDialogOptions(r: PickRequest): OpenDialogOptions {
  const filters =
    r.kind === 'file' && r.extensions?.length
      ? [
          { name: r.extensions.join(', '), extensions: r.extensions },
          { name: '*', extensions: ['*'] },
        ]
      : undefined;
  return { title: r.title, properties: [r.kind === 'folder' ? 'openDirectory' : 'openFile'], ...(filters && { filters }) };
}

interface DialogLike<W> {
  showOpenDialog(window: W, options: OpenDialogOptions): Promise<{ canceled: boolean; filePaths: string[] }>;
}

/** The handler's pickPath: a native dialog over the studio's window; null when cancelled. */
export function nativePicker<W>(dialog: DialogLike<W>, window: () => W | undefined) {
  return async (r: PickRequest): Promise<string | null> => {
    const w = window();
    if (!w) return null;
    const result = await dialog.showOpenDialog(w, openDialogOptions(r));
    return result.canceled || result.filePaths.length === 0 ? null : result.filePaths[0];
  };
}
