import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { CallReply } from '../../../main/contract/contract.ts';
import { formatBytes } from '../format.ts';
import { call, transport } from '../transport.ts';
import { ErrorBox } from './common.tsx';

type Listing = CallReply<'files.list'>;

const parentOf = (p: string) => p.replace(/[\\/][^\\/]*$/, '') || undefined;

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
}) {
  const { t } = useTranslation();
  const [listing, setListing] = useState<Listing>();
  const [error, setError] = useState<string>();
  const choose = (path: string) => {
    props.onChange(path);
    props.onPicked?.(path);
    setListing(undefined);
  };
  const open = async (dir?: string) => {
    setError(undefined);
    try {
      setListing(await call('files.list', { dir }));
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
    const start = props.value.trim() ? (props.kind === 'file' ? parentOf(props.value.trim()) : props.value.trim()) : undefined;
    // A typed path that does not exist (yet) falls back to the home folder.
    await call('files.list', { dir: start }).then(setListing, () => open());
  };
  const shown = listing?.entries.filter((e) => e.kind === 'folder' || props.kind === 'file') ?? [];
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
          <span className="entries">
            {shown.length === 0 && <span className="muted">{t('picker.empty')}</span>}
            {shown.map((e) =>
              e.kind === 'folder' ? (
                <button type="button" key={e.path} className="link entry" onClick={() => void open(e.path)}>
                  📁 {e.name}
                </button>
              ) : (
                <button type="button" key={e.path} className="link entry" disabled={!matches(e.name)} onClick={() => choose(e.path)}>
                  📄 {e.name} <small className="muted">{formatBytes(e.bytes ?? 0)}</small>
                </button>
              ),
            )}
          </span>
        </span>
      )}
    </span>
  );
}
