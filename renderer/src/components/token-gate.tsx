import { useEffect, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { call, readToken, transport } from '../transport.ts';
import './token-gate.css';

/**
 * Browser mode needs the address `lora-studio serve` printed, with its ?token=: without it (or with a stale one, after
 * the server restarted) every call is refused. Rather than a studio whose every control fails, this says so on a page
 * of its own and tells how to get in.
 */
export function TokenGate({ children }: { children: ReactNode }) {
  const { t, i18n } = useTranslation();
  const browser = transport.mode === 'browser';
  const [state, setState] = useState<'checking' | 'ok' | 'missing' | 'refused'>(() =>
    !browser ? 'ok' : readToken() ? 'checking' : 'missing',
  );
  useEffect(() => {
    if (state !== 'checking') return;
    call('app.info', {}).then(
      () => setState('ok'),
      (e: Error & { status?: number }) => setState(e.status === 401 ? 'refused' : 'ok'), // other errors: the pages say them
    );
  }, [state]);
  useEffect(() => {
    // The saved language needs the token too: follow the browser's until then.
    if ((state === 'missing' || state === 'refused') && navigator.language.toLowerCase().startsWith('zh'))
      void i18n.changeLanguage('zh-CN');
  }, [state, i18n]);
  if (state === 'ok') return <>{children}</>;
  if (state === 'checking') return null;
  return (
    <main className="token-page" data-testid="token-page" data-state={state}>
      <h1>{t('app.title')}</h1>
      <h2>{t(state === 'missing' ? 'tokenGate.missingTitle' : 'tokenGate.refusedTitle')}</h2>
      <p>{t(state === 'missing' ? 'tokenGate.missing' : 'tokenGate.refused')}</p>
      <pre className="mono">lora-studio serve</pre>
      <p className="muted">{t('tokenGate.how', { example: `${location.origin}/?token=…` })}</p>
    </main>
  );
}
