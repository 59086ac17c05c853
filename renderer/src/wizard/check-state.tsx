import { useTranslation } from 'react-i18next';
import type { AutoCheck } from './use-auto-check.ts';

/** A line saying that a changed input is about to be checked, or is being checked (its old report is gone). */
export function CheckState({ state, testId }: { state: AutoCheck<unknown>['state']; testId: string }) {
  const { t } = useTranslation();
  if (state !== 'waiting' && state !== 'checking') return null;
  return (
    <p className="muted check-state" data-testid={testId} data-state={state}>
      {t(state === 'waiting' ? 'checks.waiting' : 'checks.checking')}
    </p>
  );
}
