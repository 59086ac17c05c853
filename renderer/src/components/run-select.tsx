import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { CallReply, RunSummary } from '../../../main/contract/contract.ts';
import { call } from '../transport.ts';
import { PathText } from './path-text.tsx';

export type RunDetails = CallReply<'runs.read'>;

/** A run another page chose for this one (the Run page's Export and Playground buttons); `at` tells two choices apart. */
export interface Preselect {
  runId: string;
  at: number;
}

/**
 * Pick a run that has a saved adapter; the page gets its folder, config (base model, template) and summary. A run
 * chosen on another page (`preselect`) is picked as it arrives.
 */
export function RunSelect({
  visible,
  selected,
  onSelect,
  testId,
  preselect,
}: {
  visible: boolean;
  selected?: RunDetails;
  onSelect(run?: RunDetails): void;
  testId: string;
  preselect?: Preselect;
}) {
  const { t } = useTranslation();
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [error, setError] = useState<string>();
  useEffect(() => {
    if (!visible) return;
    call('runs.list', {})
      .then((r) => setRuns(r.runs.filter((x) => x.hasAdapter)))
      .catch((e: Error) => setError(e.message));
  }, [visible]);
  const pick = async (id: string) => {
    if (!id) return onSelect(undefined);
    try {
      onSelect(await call('runs.read', { id }));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  useEffect(() => {
    if (!preselect) return;
    call('runs.read', { id: preselect.runId })
      .then(onSelect)
      .catch((e: Error) => setError(e.message));
    // eslint-disable-next-line react-hooks/exhaustive-deps -- once per choice, whatever the page's callback
  }, [preselect]);
  // The chosen run is an option even before the list has been read again (it may have just finished).
  const options = selected && !runs.some((r) => r.id === selected.run.id) ? [selected.run, ...runs] : runs;
  return (
    <label className="field run-field">
      <span className="label">{t('runSelect.label')}</span>
      <select data-testid={testId} value={selected?.run.id ?? ''} onChange={(e) => void pick(e.target.value)}>
        <option value="">{options.length ? t('runSelect.choose') : t('runSelect.none')}</option>
        {options.map((r) => (
          <option key={r.id} value={r.id}>
            {r.id} · {t(`runs.states.${r.status}`)} · {t('runsTable.stepCount', { count: r.steps })}
            {r.lastLoss !== undefined ? ` · ${t('runsTable.lossShort', { loss: r.lastLoss.toFixed(3) })}` : ''}
          </option>
        ))}
      </select>
      {error && <small className="error">{error}</small>}
      {selected && (
        <small className="help mono" data-testid={`${testId}-paths`}>
          <PathText path={String(selected.config?.base_model ?? '')} /> + <PathText path={selected.run.dir} />
        </small>
      )}
    </label>
  );
}

/** What a run was trained from: its base model folder (undefined when the run's config lacks it) and prompt template. */
/** The run's base model, its template and the base_dtype it trained against (the playground holds the base the same way). */
export function runOrigin(run?: RunDetails): { baseModel?: string; template: string; baseDtype?: string } {
  const c = run?.config;
  return {
    baseModel: typeof c?.base_model === 'string' ? c.base_model : undefined,
    template: typeof c?.prompt_template_name === 'string' ? c.prompt_template_name : 'alpaca',
    baseDtype: typeof c?.base_dtype_used === 'string' ? c.base_dtype_used : undefined,
  };
}

/** `20261125-0514`: a suffix that keeps each export in its own new folder. */
export function stamp(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
}
