import { describe, expect, it } from 'vitest';
import { nativePicker, openDialogOptions } from '../../main/electron/dialogs.ts';

describe('native file pickers (Electron dialog options, checked without the binary)', () => {
  it('asks for one folder, or one file filtered by extension with an escape hatch', () => {
    expect(openDialogOptions({ kind: 'folder', title: 'Base model' })).toEqual({ title: 'Base model', properties: ['openDirectory'] });
    expect(openDialogOptions({ kind: 'file', extensions: ['json', 'jsonl'] })).toEqual({
      title: undefined,
      properties: ['openFile'],
      filters: [
        { name: 'json, jsonl', extensions: ['json', 'jsonl'] },
        { name: '*', extensions: ['*'] },
      ],
    });
  });

  it('returns the chosen path, null when cancelled or when there is no window', async () => {
    const calls: unknown[] = [];
    const dialog = (result: { canceled: boolean; filePaths: string[] }) => ({
      showOpenDialog: async (w: string, o: unknown) => (calls.push([w, o]), result),
    });
    expect(await nativePicker(dialog({ canceled: false, filePaths: ['/models/llama'] }), () => 'win')({ kind: 'folder' })).toBe(
      '/models/llama',
    );
    expect(calls[0]).toEqual(['win', { title: undefined, properties: ['openDirectory'] }]);
    expect(await nativePicker(dialog({ canceled: true, filePaths: [] }), () => 'win')({ kind: 'file' })).toBeNull();
    expect(await nativePicker(dialog({ canceled: false, filePaths: ['/x'] }), () => undefined)({ kind: 'file' })).toBeNull();
  });
});
