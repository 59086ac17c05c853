import { useTranslation } from 'react-i18next';
import type { DataCheck } from '../../../main/contract/contract.ts';
import { formatCount } from '../format.ts';

/** The rows of a data report that keep nothing to train on, when every row was checked and none keeps a token. */
export function nothingToTrain(report?: DataCheck): boolean {
  const s = report?.stats;
  return Boolean(s && s.rows === report!.kept && s.rows > 0 && s.trainableRows === 0);
}

/**
 * How many rows keep a token to train on after the template, the prompt mask and cutoff_len, how many are lost and
 * why (in warning colour), and the tokens trained; a data file that leaves nothing to train on says so as an error.
 */
export function TrainableRows({ report, trainOnInputs }: { report: DataCheck; trainOnInputs: boolean }) {
  const { t } = useTranslation();
  const s = report.stats;
  if (!s) return null;
  const lost = s.rows - s.trainableRows;
  const where = t(`wizard.data.where_${report.format}`);
  return (
    <div className="trainable" data-testid="trainable-rows" data-trainable={s.trainableRows} data-lost={lost}>
      <p className={lost === 0 ? 'ok' : 'warn-text'}>
        {t('trainability.line', { trainable: s.trainableRows, rows: s.rows })}
        {s.rows < report.kept && <span className="muted"> {t('trainability.sampled', { rows: s.rows, kept: report.kept })}</span>}
      </p>
      {lost > 0 && (
        <ul className="warn-text lost-rows" data-testid="lost-rows">
          {s.lostRows.cutAtCutoff > 0 && <li>{t('trainability.cutAtCutoff', { count: s.lostRows.cutAtCutoff, cutoff: s.cutoffLen })}</li>}
          {s.lostRows.noResponseToken > 0 && <li>{t('trainability.noResponseToken', { count: s.lostRows.noResponseToken })}</li>}
          <li className="muted">{t('trainability.firstRows', { where, rows: s.lostRows.firstRows.join(', ') })}</li>
        </ul>
      )}
      {nothingToTrain(report) && (
        <div className="error" role="alert" data-testid="nothing-to-train">
          {t('trainability.nothing', { rows: s.rows, cutoff: s.cutoffLen })}{' '}
          {t(trainOnInputs ? 'trainability.fixCutoff' : 'trainability.fixCutoffOrInputs')}
        </div>
      )}
      <p className="muted" data-testid="loss-tokens">
        {t('trainability.tokens', { tokens: formatCount(s.lossTokens), rows: s.rows })}
      </p>
    </div>
  );
}
