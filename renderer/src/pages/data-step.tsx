import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { type DataCheck, BUILTIN_TEMPLATE_NAMES } from '../../../main/contract/contract.ts';
import { ErrorBox, Field } from '../components/common.tsx';
import { Histogram } from '../components/histogram.tsx';
import { call } from '../transport.ts';
import { PathPicker } from '../components/path-picker.tsx';

export interface DataOptions {
  path: string;
  template: string;
  cutoffLen: number;
  trainOnInputs: boolean;
  addEosToken: boolean;
}

const TEMPLATES = BUILTIN_TEMPLATE_NAMES;

export function DataStep({
  opts,
  setOpts,
  baseModel,
  report,
  setReport,
}: {
  opts: DataOptions;
  setOpts(o: DataOptions): void;
  baseModel?: string;
  report?: DataCheck;
  setReport(r?: DataCheck): void;
}) {
  const { t } = useTranslation();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const check = async () => {
    setBusy(true);
    setError(undefined);
    setReport(undefined);
    try {
      setReport(await call('data.check', { ...opts, path: opts.path.trim(), baseModel }));
      const s = await call('settings.get', {});
      await call('settings.set', { recentData: [opts.path.trim(), ...s.recentData.filter((m) => m !== opts.path.trim())].slice(0, 10) });
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section data-testid="data-step">
      <h2>{t('wizard.data.title')}</h2>
      <p className="muted">{t('wizard.data.hint')}</p>
      <form
        className="row wrap"
        onSubmit={(e) => {
          e.preventDefault();
          void check();
        }}
      >
        <Field label={t('wizard.data.path')}>
          <PathPicker
            kind="file"
            extensions={['json', 'jsonl']}
            testId="data-path"
            value={opts.path}
            onChange={(path) => setOpts({ ...opts, path })}
            placeholder="/path/to/data.json"
          />
        </Field>
        <Field label={t('wizard.data.template')}>
          <select value={opts.template} onChange={(e) => setOpts({ ...opts, template: e.target.value })}>
            {TEMPLATES.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </Field>
        <Field label={t('wizard.data.cutoff')}>
          <input type="number" min={8} value={opts.cutoffLen} onChange={(e) => setOpts({ ...opts, cutoffLen: Number(e.target.value) })} />
        </Field>
        <label className="check">
          <input type="checkbox" checked={opts.trainOnInputs} onChange={(e) => setOpts({ ...opts, trainOnInputs: e.target.checked })} />{' '}
          {t('wizard.data.trainOnInputs')}
        </label>
        <label className="check">
          <input type="checkbox" checked={opts.addEosToken} onChange={(e) => setOpts({ ...opts, addEosToken: e.target.checked })} />{' '}
          {t('wizard.data.addEos')}
        </label>
        <button type="submit" data-testid="data-check" disabled={busy || !opts.path.trim()}>
          {busy ? t('common.loading') : t('wizard.data.check')}
        </button>
      </form>
      <ErrorBox error={error} />
      {report?.stats && report.stats.cutoffLen !== opts.cutoffLen && (
        <p className="notice" data-testid="data-stale">
          {t('wizard.data.stale', { was: report.stats.cutoffLen, now: opts.cutoffLen })}
        </p>
      )}
      {report && (
        <div className="cards" data-testid="data-report">
          <div className="panel">
            <p className="big">{t('wizard.data.rows', { kept: report.kept, total: report.total, format: report.format })}</p>
            {report.note && <p className="muted">{report.note}</p>}
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
                        defaultValue: p.message,
                      })}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </div>
          {report.stats && (
            <div className="panel">
              <h3>{t('wizard.data.histogram', { cutoff: report.stats.cutoffLen })}</h3>
              <Histogram bins={report.stats.histogram} />
              <p className="muted">
                {t('wizard.data.truncated', { count: report.stats.truncated })} ·{' '}
                {t('wizard.data.lengths', { mean: report.stats.meanLength.toFixed(0), max: report.stats.maxLength })}
              </p>
            </div>
          )}
          {report.preview && (
            <div className="panel wide">
              <h3>{t('wizard.data.preview')}</h3>
              {report.preview.map((p) => (
                <pre key={p.row} className="preview" data-testid="preview">
                  {p.segments.map((s, i) => (
                    <span
                      key={i}
                      className={s.trained ? 'trained' : 'masked'}
                      title={s.trained ? t('wizard.data.trained') : t('wizard.data.masked')}
                    >
                      {s.text}
                    </span>
                  ))}
                </pre>
              ))}
            </div>
          )}
        </div>
      )}
    </section>
  );
}
