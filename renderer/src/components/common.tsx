import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';

export function ErrorBox({ error }: { error?: string }) {
  if (!error) return null;
  return (
    <div className="error" role="alert" data-testid="error">
      {error}
    </div>
  );
}

/** For pages whose engine calls are not in this build: the form is shown, with a plain note, and nothing fake. */
export function NotAvailable({ what, part }: { what: string; part: string }) {
  const { t } = useTranslation();
  return (
    <p className="notice" data-testid="not-available">
      {t('common.notAvailable', { what, part })}
    </p>
  );
}

export function Field({ label, help, children }: { label: string; help?: string; children: ReactNode }) {
  return (
    <label className="field">
      <span className="label">{label}</span>
      {children}
      {help && <small className="help">{help}</small>}
    </label>
  );
}
