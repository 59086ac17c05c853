import type { ReactNode } from 'react';

export function ErrorBox({ error }: { error?: string }) {
  if (!error) return null;
  return (
    <div className="error" role="alert" data-testid="error">
      {error}
    </div>
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
