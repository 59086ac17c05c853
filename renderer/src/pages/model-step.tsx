import { useTranslation } from 'react-i18next';
import type { ModelReport } from '../../../main/contract/contract.ts';
import { ErrorBox, Field } from '../components/common.tsx';
import { formatBytes, formatCount } from '../format.ts';
import { PathPicker } from '../components/path-picker.tsx';
import { usePathDisplay } from '../components/path-text.tsx';
import { CheckState } from '../wizard/check-state.tsx';
import type { AutoCheck } from '../wizard/use-auto-check.ts';

const folderOf = (p: string) => p.replace(/[\\/][^\\/]*$/, '') || undefined;

/**
 * The base model: a typed path is inspected after a pause in typing, a picked one at once; the report shown is always
 * the one for the path in the field (a changed path clears it).
 */
export function ModelStep({
  dir,
  setDir,
  check,
  recent,
}: {
  dir: string;
  setDir(d: string): void;
  check: AutoCheck<ModelReport>;
  recent: string[];
}) {
  const { t } = useTranslation();
  const paths = usePathDisplay();
  const report = check.result;
  const pick = (p: string) => {
    setDir(p);
    check.now(p.trim());
  };
  const a = report?.architecture;
  const yes = (b: boolean) => (b ? t('wizard.model.yes') : t('wizard.model.no'));
  return (
    <section data-testid="model-step">
      <h2>{t('wizard.model.title')}</h2>
      <p className="muted">{t('wizard.model.hint')}</p>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          check.now();
        }}
      >
        <Field label={t('wizard.model.path')}>
          <PathPicker
            kind="folder"
            testId="model-path"
            value={dir}
            onChange={setDir}
            onPicked={pick}
            placeholder="/path/to/model"
            startDir={recent[0] && folderOf(recent[0])}
          />
        </Field>
        <button type="submit" data-testid="model-inspect" disabled={check.state === 'checking' || !dir.trim()}>
          {check.state === 'checking' ? t('common.loading') : t('wizard.model.inspect')}
        </button>
      </form>
      {recent.length > 0 && (
        <p className="recent">
          {t('wizard.model.recent')}:{' '}
          {recent.map((r) => (
            <button key={r} className="link" title={r} onClick={() => pick(r)}>
              {paths.path(r)}
            </button>
          ))}
        </p>
      )}
      <CheckState state={check.state} testId="model-check-state" />
      <ErrorBox error={check.error} />
      {report && (
        <div className="cards" data-testid="model-report">
          {a && (
            <div className="panel">
              <h3>{t('wizard.model.architecture')}</h3>
              <table className="kv" data-testid="architecture">
                <tbody>
                  <tr>
                    <th>{t('wizard.model.type')}</th>
                    <td>{a.modelType}</td>
                  </tr>
                  <tr>
                    <th>{t('wizard.model.layers')}</th>
                    <td>{a.layers}</td>
                  </tr>
                  <tr>
                    <th>{t('wizard.model.hidden')}</th>
                    <td>{a.hiddenSize}</td>
                  </tr>
                  <tr>
                    <th>{t('wizard.model.ffn')}</th>
                    <td>{a.intermediateSize}</td>
                  </tr>
                  <tr>
                    <th>{t('wizard.model.heads')}</th>
                    <td>{a.heads}</td>
                  </tr>
                  <tr>
                    <th>{t('wizard.model.kvHeads')}</th>
                    <td>{a.kvHeads}</td>
                  </tr>
                  <tr>
                    <th>{t('wizard.model.headDim')}</th>
                    <td>{a.headDim}</td>
                  </tr>
                  <tr>
                    <th>{t('wizard.model.vocab')}</th>
                    <td>{a.vocabSize}</td>
                  </tr>
                  <tr>
                    <th>{t('wizard.model.context')}</th>
                    <td>{a.contextLength}</td>
                  </tr>
                  <tr>
                    <th>{t('wizard.model.rope')}</th>
                    <td>
                      {a.ropeTheta} / {a.ropeScaling}
                    </td>
                  </tr>
                  <tr>
                    <th>{t('wizard.model.tied')}</th>
                    <td>{yes(a.tiedEmbeddings)}</td>
                  </tr>
                </tbody>
              </table>
            </div>
          )}
          <div className="panel">
            {report.parameters !== undefined && (
              <>
                <h3>{t('wizard.model.parameters')}</h3>
                <p className="big" data-testid="parameters">
                  {formatCount(report.parameters)} <small className="muted">({report.parameters.toLocaleString()})</small>
                </p>
              </>
            )}
            {report.dtypes && (
              <>
                <h3>{t('wizard.model.dtypes')}</h3>
                <ul>
                  {Object.entries(report.dtypes).map(([d, v]) => (
                    <li key={d}>
                      {d}: {v.tensors} · {formatBytes(v.bytes)}
                    </li>
                  ))}
                </ul>
              </>
            )}
            {report.tokenizer && (
              <>
                <h3>{t('wizard.model.tokenizer')}</h3>
                <p>
                  {t('wizard.model.tokens', { count: report.tokenizer.vocabSize })} · BOS {report.tokenizer.bos ?? '–'} · EOS{' '}
                  {report.tokenizer.eos.join(' ') || '–'}
                  {report.tokenizer.chatTemplate && ` · ${t('wizard.model.chatTemplate')}`}
                </p>
              </>
            )}
            <h3>{t('wizard.model.files')}</h3>
            <p className="muted mono">{report.files.join('  ')}</p>
          </div>
          <div className="panel wide">
            <h3>{t('wizard.model.problems')}</h3>
            {report.problems.length === 0 ? (
              <p className="ok" data-testid="no-problems">
                {t('wizard.model.noProblems')}
              </p>
            ) : (
              <ul className="problems" data-testid="model-problems">
                {report.problems.map((p) => (
                  <li key={p}>{p}</li>
                ))}
              </ul>
            )}
            {report.warnings.length > 0 && (
              <>
                <h3>{t('wizard.model.warnings')}</h3>
                <ul className="problems" data-testid="model-warnings">
                  {report.warnings.map((w) => (
                    <li key={w} className="warning">
                      {w}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </div>
        </div>
      )}
    </section>
  );
}
