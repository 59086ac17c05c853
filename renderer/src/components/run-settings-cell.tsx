import { useTranslation } from 'react-i18next';
import type { RunKeySettings } from '../../../main/contract/contract.ts';

/** A run's key settings in two short lines: learning rate, LoRA rank and alpha; batch, cutoff, epochs or steps. */
export function RunSettingsCell({ settings: s }: { settings: RunKeySettings }) {
  const { t } = useTranslation();
  const first = [
    s.learningRate !== undefined && t('runsTable.lr', { lr: s.learningRate.toExponential(0) }),
    s.loraR !== undefined && t('runsTable.rank', { r: s.loraR, alpha: s.loraAlpha ?? '–' }),
    s.baseDtype && t('runsTable.baseDtype', { dtype: s.baseDtype }),
  ].filter(Boolean);
  const second = [
    s.batchSize !== undefined && t('runsTable.batch', { batch: s.batchSize, micro: s.microBatchSize ?? s.batchSize }),
    s.cutoffLen !== undefined && t('runsTable.cutoff', { cutoff: s.cutoffLen }),
    s.maxSteps !== undefined && s.maxSteps > 0
      ? t('runsTable.maxSteps', { count: s.maxSteps })
      : s.epochs !== undefined && t('runsTable.epochs', { count: s.epochs }),
  ].filter(Boolean);
  return (
    <div className="settings-cell">
      <div>{first.join(' · ')}</div>
      <small className="muted">{second.join(' · ')}</small>
    </div>
  );
}
