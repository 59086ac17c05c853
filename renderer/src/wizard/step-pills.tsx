import { useTranslation } from 'react-i18next';
import type { WizardStep } from './settings-groups.ts';

/** empty: the step's input is not given yet. */
export type StepState = 'valid' | 'invalid' | 'checking' | 'empty';

/**
 * The wizard's steps as pills that say whether each step is valid (✓), has a problem (✗), is being checked (…) or
 * waits for its input (○).
 * A step can be opened when every step before it is valid; going back is always possible.
 */
export function StepPills({
  steps,
  states,
  current,
  onGo,
}: {
  steps: readonly WizardStep[];
  states: Record<WizardStep, StepState>;
  current: WizardStep;
  onGo(step: WizardStep): void;
}) {
  const { t } = useTranslation();
  const at = steps.indexOf(current);
  return (
    <ol className="steps">
      {steps.map((s, k) => {
        const reachable = k <= at || steps.slice(0, k).every((p) => states[p] === 'valid');
        const mark = { valid: '✓', invalid: '✗', checking: '…', empty: '○' }[states[s]];
        return (
          <li key={s} className={`${s === current ? 'active ' : ''}${states[s]}`}>
            <button
              data-testid={`step-${s}`}
              data-state={states[s]}
              disabled={!reachable}
              title={t(`stepStates.${states[s]}`)}
              aria-current={s === current ? 'step' : undefined}
              onClick={() => onGo(s)}
            >
              <span className="mark" aria-hidden="true">
                {mark}
              </span>{' '}
              {k + 1}. {t(`wizard.steps.${s}`)}
            </button>
          </li>
        );
      })}
    </ol>
  );
}
