import { useTranslation } from 'react-i18next';
import { type DataCheck, BUILTIN_TEMPLATE_NAMES } from '../../../main/contract/contract.ts';
import { ErrorBox, Field } from '../components/common.tsx';
import { Histogram } from '../components/histogram.tsx';
import { PathPicker } from '../components/path-picker.tsx';
import { CheckState } from '../wizard/check-state.tsx';
import { SettingsField } from '../wizard/settings-field.tsx';
import { FIELDS, type FormValues, type RawValue } from '../wizard/settings-form.ts';
import type { AutoCheck } from '../wizard/use-auto-check.ts';
import { TrainableRows } from '../wizard/trainable-rows.tsx';

const folderOf = (p: string) => p.replace(/[\\/][^\\/]*$/, '') || undefined;

/**
 * The data file and how it is read (template, cutoff_len, masking). Any change re-checks it after a pause: the report
 * (rows, the rows that keep a token to train on, token lengths, a preview) is always the one for what the form shows.
 */
export function DataStep({
  path,
  setPath,
  check,
  form,
  setField,
  issues,
  modelReady,
  recent,
}: {
  path: string;
  setPath(p: string): void;
  check: AutoCheck<DataCheck>;
  form: FormValues;
  setField(name: string, v: RawValue): void;
  issues: Map<string, string>;
  modelReady: boolean;
  recent: string[];
}) {
  const { t } = useTranslation();
  const report = check.result;
  const stats = report?.stats;
  const field = (name: string) => (
    <SettingsField f={FIELDS[name]} raw={form[name]} set={(v) => setField(name, v)} issue={issues.get(name)} />
  );
  return (
    <section data-testid="data-step">
      <h2>{t('wizard.data.title')}</h2>
      <p className="muted">{t('wizard.data.hint')}</p>
      <form
        className="row wrap"
        onSubmit={(e) => {
          e.preventDefault();
          check.now();
        }}
      >
        <Field label={t('wizard.data.path')}>
          <PathPicker
            kind="file"
            extensions={['json', 'jsonl']}
            testId="data-path"
            value={path}
            onChange={setPath}
            onPicked={() => check.now()}
            placeholder="/path/to/data.json"
            startDir={recent[0] && folderOf(recent[0])}
          />
        </Field>
        <button type="submit" data-testid="data-check" disabled={check.state === 'checking' || !path.trim()}>
          {check.state === 'checking' ? t('common.loading') : t('wizard.data.check')}
        </button>
      </form>
      <div className="form-grid data-settings">
        <label className="field setting" data-field="prompt_template_name">
          <span className="label">
            {t('settingsForm.labels.prompt_template_name')} <code className="flag">prompt_template_name</code>
          </span>
          <select value={String(form.prompt_template_name)} onChange={(e) => setField('prompt_template_name', e.target.value)}>
            {BUILTIN_TEMPLATE_NAMES.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>
        {field('cutoff_len')}
        {field('train_on_inputs')}
        {field('add_eos_token')}
      </div>
      <CheckState state={check.state} testId="data-check-state" />
      <ErrorBox error={check.error} />
      {report && (
        <div className="cards" data-testid="data-report">
          <div className="panel">
            <p className="big">{t('wizard.data.rows', { kept: report.kept, total: report.total, format: report.format })}</p>
            {stats ? (
              <TrainableRows report={report} trainOnInputs={form.train_on_inputs === true} />
            ) : (
              <p className="muted">{modelReady ? t('trainability.noStats') : t('trainability.needModel')}</p>
            )}
            {report.problemCount > 0 && (
              <>
                <h3>{t('wizard.data.problems', { count: report.problemCount })}</h3>
                <ul className="problems">
                  {report.problems.slice(0, 20).map((p, i) => (
                    <li key={i} className={p.severity}>
                      {t(`wizard.data.problem.${p.reason.replace(/[ -]/g, '_')}`, {
                        where: t(`wizard.data.where_${report.format}`),
                        row: p.row,
                        field: p.field,
                        ofRow: p.ofRow,
                        type: p.valueType,
                        tokenId: p.tokenId,
                        limit: p.limit,
                        sizeMiB: p.size === undefined ? undefined : (p.size / 2 ** 20).toFixed(1),
                        limitMiB: p.limit === undefined ? undefined : (p.limit / 2 ** 20).toFixed(1),
                        defaultValue: p.message,
                      })}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </div>
          {stats && (
            <div className="panel">
              <h3 data-testid="histogram-title">{t('wizard.data.histogram', { cutoff: stats.cutoffLen })}</h3>
              <Histogram bins={stats.histogram} />
              <p className="muted">
                <span className={stats.truncated > 0 ? 'warn-text' : undefined} data-testid="truncated">
                  {t('wizard.data.truncated', { count: stats.truncated })}
                </span>{' '}
                · {t('wizard.data.lengths', { mean: stats.meanLength.toFixed(0), max: stats.maxLength })}
              </p>
            </div>
          )}
          {report.preview && (
            <div className="panel wide">
              <h3>{t('wizard.data.preview')}</h3>
              {report.preview.map((p) => (
                <div key={p.row} className="preview-row">
                  <small className="muted">
                    {t(`wizard.data.where_${report.format}`)} {p.row}
                    {stats?.lostRows.firstRows.includes(p.row) && <span className="warn-text"> · {t('trainability.lostBadge')}</span>}
                  </small>
                  <pre className="preview" data-testid="preview" data-row={p.row}>
                    {p.segments.map((s, i) => (
                      <span
                        key={i}
                        className={s.trained ? 'trained' : 'masked'}
                        title={s.trained ? t('wizard.data.trained') : t('wizard.data.masked')}
                      >
                        {s.text}
                      </span>
                    ))}
                    {p.cut && (
                      <span className="cut-mark" title={t('trainability.cutTitle', { cutoff: stats?.cutoffLen })}>
                        {' '}
                        {t('trainability.cut', { cutoff: stats?.cutoffLen })}
                      </span>
                    )}
                  </pre>
                </div>
              ))}
            </div>
          )}
        </div>
      )}
    </section>
  );
}
