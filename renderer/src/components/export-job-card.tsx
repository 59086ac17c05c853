import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { jobResultOf } from '../../../main/contract/contract.ts';
import { exportBaseModel, exportChecks, exportFiles, exportSummary, ollamaCommand, type ExportResult } from '../export-report.ts';
import type { JobView } from '../job-view.ts';
import { call, transport } from '../transport.ts';
import { ErrorBox } from './common.tsx';
import { PathText, usePathDisplay } from './path-text.tsx';

/**
 * One export job: busy from the moment it starts (the model loads before the first tensor's progress), its progress,
 * then what it wrote in the page's language, the checks it passed, the `ollama create` command of a GGUF, and in
 * browser mode links that download the files.
 */
export function ExportJobCard({ job, label, runId }: { job?: JobView; label: string; runId?: string }) {
  const { t } = useTranslation();
  const paths = usePathDisplay();
  if (!job) return null;
  const result =
    job.kind === 'merge' || job.kind === 'export' || job.kind === 'quantize' ? jobResultOf(job.kind, job.done?.result) : undefined;
  const p = job.progress;
  const running = job.state === 'running';
  return (
    <div className="panel" data-testid="export-job" data-state={job.state}>
      <h3>
        {label} · <span data-testid="export-state">{t(`runView.states.${job.state}`)}</span>
      </h3>
      {running && (
        <div className="meter-row" data-testid="export-activity" data-progress={p ? 'yes' : 'no'}>
          <div className={`meter${p ? '' : ' busy'}`}>
            <div style={p ? { width: `${p.total ? (100 * p.done) / p.total : 0}%` } : undefined} />
          </div>
          <small className="mono">
            {p ? `${p.done}/${p.total} ${p.message ?? ''}` : (job.logs.at(-1)?.message ?? t('exportResult.starting'))}
          </small>
        </div>
      )}
      {job.state === 'queued' && <p className="muted">{t('exportResult.queued')}</p>}
      {job.failed && <ErrorBox error={paths.text(job.failed.error)} />}
      {result && <ExportOutcome result={result} runId={runId} />}
    </div>
  );
}

function ExportOutcome({ result, runId }: { result: ExportResult; runId?: string }) {
  const { t } = useTranslation();
  const paths = usePathDisplay();
  const command = ollamaCommand(result, runId, paths.path);
  const base = exportBaseModel(result);
  return (
    <>
      <p data-testid="export-summary">{exportSummary(result, t)}</p>
      <dl className="facts">
        <div>
          <dt>{t('exportResult.output')}</dt>
          <dd>
            <PathText path={result.output} testId="export-output" />
          </dd>
        </div>
        {base && (
          <div>
            <dt>{t('exportResult.baseModel')}</dt>
            <dd>
              <PathText path={base} testId="export-base" />
            </dd>
          </div>
        )}
      </dl>
      <ul data-testid="export-checks">
        {exportChecks(result, t).map((c) => (
          <li key={c.name}>
            <strong>{c.name}</strong>
            {t('punctuation.colon')}
            {c.found}
            {c.sample !== undefined && <span className="mono"> {c.sample}</span>}
          </li>
        ))}
      </ul>
      {command && <CopyCommand command={command} />}
      {transport.downloadUrl && <Downloads result={result} url={transport.downloadUrl} />}
      <details>
        <summary>
          {t('exportResult.report')} <PathText path={result.reportFile} />
        </summary>
        <pre className="log report" data-testid="export-report">
          {JSON.stringify(result.report, null, 2)}
        </pre>
      </details>
    </>
  );
}

/** The command in a box a person can select, and a button that copies it. */
function CopyCommand({ command }: { command: string }) {
  const { t } = useTranslation();
  const box = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(command);
    } catch {
      // No clipboard API (plain HTTP from another machine): select the text and copy the old way.
      box.current?.select();
      document.execCommand('copy');
    }
    setCopied(true);
  };
  return (
    <div className="field">
      <span className="label">{t('exportResult.ollama')}</span>
      <div className="row copy-row">
        <input ref={box} readOnly className="mono" value={command} data-testid="ollama-command" onFocus={(e) => e.target.select()} />
        <button data-testid="copy-ollama" onClick={() => void copy()}>
          {copied ? t('exportResult.copied') : t('exportResult.copy')}
        </button>
      </div>
    </div>
  );
}

/** Links to the written files (a folder's files are listed first). */
function Downloads({ result, url }: { result: ExportResult; url: (file: string) => string }) {
  const { t } = useTranslation();
  const wanted = exportFiles(result);
  const [files, setFiles] = useState<{ path: string; name: string; bytes?: number }[]>(
    wanted.files.map((f) => ({ path: f, name: f.split(/[\\/]/).at(-1)! })),
  );
  useEffect(() => {
    if (!wanted.folder) return;
    call('files.list', { dir: wanted.folder })
      .then((l) => setFiles(l.entries.filter((e) => e.kind === 'file').map((e) => ({ path: e.path, name: e.name, bytes: e.bytes }))))
      .catch(() => {});
  }, [wanted.folder]);
  if (files.length === 0) return null;
  return (
    <div className="downloads" data-testid="export-downloads">
      <span className="label">{t('exportResult.download')}</span>
      <ul>
        {files.map((f) => (
          <li key={f.path}>
            <a href={url(f.path)} download={f.name} className="mono">
              {f.name}
            </a>
          </li>
        ))}
      </ul>
    </div>
  );
}
