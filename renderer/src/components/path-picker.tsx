import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { CallReply } from '../../../main/contract/contract.ts';
import { formatBytes } from '../format.ts';
import { call, transport } from '../transport.ts';
import { ErrorBox } from './common.tsx';
import { FileIcon, FolderIcon } from './file-icons.tsx';

type Listing = CallReply<'files.list'>;

const parentOf = (p: string) => p.replace(/[\\/][^\\/]*$/, '') || undefined;

/** The last folder each picker showed (by its test id), so Browse opens where the person was, not at home again. */
const lastFolders = new Map<string, string>();

/**
 * A path field with a Browse button: the desktop app opens the native dialog; browser mode lists the server's
 * folders in the page (the files live where the studio runs, which may be another machine).
 */
export function PathPicker(props: {
  kind: 'folder' | 'file';
  value: string;
  onChange(path: string): void;
  onPicked?(path: string): void;
  extensions?: string[];
  testId: string;
  placeholder?: string;
  /** Where Browse opens when the field is empty and this picker has shown no folder yet (e.g. a recent file's folder). */
  startDir?: string;
}) {
  const { t } = useTranslation();
  const [listing, setListing] = useState<Listing>();
  const [error, setError] = useState<string>();
  const choose = (path: string) => {
    props.onChange(path);
    props.onPicked?.(path);
    setListing(undefined);
  };
  const show = (l: Listing) => {
    lastFolders.set(props.testId, l.dir);
    setListing(l);
  };
  const open = async (dir?: string) => {
    setError(undefined);
    try {
      show(await call('files.list', { dir }));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const browse = async () => {
    if (transport.mode === 'electron') {
      const r = await call('files.pick', { kind: props.kind, extensions: props.extensions }).catch(
        (e: Error) => (setError(e.message), undefined),
      );
      if (r?.path) choose(r.path);
      return;
    }
    if (listing) return setListing(undefined);
    const typed = props.value.trim() ? (props.kind === 'file' ? parentOf(props.value.trim()) : props.value.trim()) : undefined;
    const start = typed ?? lastFolders.get(props.testId) ?? props.startDir;
    // A typed path that does not exist (yet) falls back to the last folder shown, then to the home folder.
    const fallback = typed ? (lastFolders.get(props.testId) ?? props.startDir) : undefined;
    await call('files.list', { dir: start }).then(show, () => open(fallback));
  };
  // A folder picker lists the files too (greyed): a model folder shows its config.json and weights, not "Nothing here".
  const shown = listing?.entries ?? [];
  const looksLikeModel = props.kind === 'folder' && shown.some((e) => e.kind === 'file' && e.name === 'config.json');
  const matches = (name: string) => !props.extensions?.length || props.extensions.some((x) => name.toLowerCase().endsWith(`.${x}`));
  return (
    <span className="path-picker">
      <span className="row">
        <input
          data-testid={props.testId}
          value={props.value}
          onChange={(e) => props.onChange(e.target.value)}
          placeholder={props.placeholder}
          spellCheck={false}
        />
        <button type="button" data-testid={`${props.testId}-browse`} onClick={() => void browse()}>
          {t('picker.browse')}
        </button>
      </span>
      <ErrorBox error={error} />
      {listing && (
        <span className="browser panel" data-testid={`${props.testId}-browser`}>
          <span className="row">
            <span className="mono">{listing.dir}</span>
            {listing.parent && (
              <button type="button" className="link" onClick={() => void open(listing.parent!)}>
                ↑ {t('picker.up')}
              </button>
            )}
            {props.kind === 'folder' && (
              <button type="button" data-testid={`${props.testId}-choose`} onClick={() => choose(listing.dir)}>
                {t('picker.chooseFolder')}
              </button>
            )}
          </span>
          {looksLikeModel && (
            <span className="ok" data-testid={`${props.testId}-model-hint`}>
              {t('pickerHints.modelFolder')}
            </span>
          )}
          <span className="entries">
            {shown.length === 0 && <span className="muted">{t('picker.empty')}</span>}
            {shown.map((e) =>
              e.kind === 'folder' ? (
                <button type="button" key={e.path} className="link entry" onClick={() => void open(e.path)}>
                  <FolderIcon /> {e.name}
                </button>
              ) : (
                <button
                  type="button"
                  key={e.path}
                  className="link entry"
                  disabled={props.kind === 'folder' || !matches(e.name)}
                  onClick={() => choose(e.path)}
                >
                  <FileIcon /> {e.name} <small className="muted">{formatBytes(e.bytes ?? 0)}</small>
                </button>
              ),
            )}
          </span>
        </span>
      )}
    </span>
  );
}
