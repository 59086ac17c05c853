import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { jobResultOf } from '../../../main/contract/contract.ts';
import { ErrorBox, Field } from '../components/common.tsx';
import { RunSelect, runOrigin, stamp, type RunDetails } from '../components/run-select.tsx';
import { useJobs, noteJob, type JobView } from '../job-store.ts';
import { jobRequest } from '../job-request.ts';
import { call } from '../transport.ts';

type Target = 'merge' | 'stateDict' | 'gguf' | 'int8';

/** One click each for merge + HF checkpoint, Meta state dict, GGUF with an Ollama Modelfile, and int8. */
export function ExportPage({ visible }: { visible: boolean }) {
  const { t } = useTranslation();
  const [run, setRun] = useState<RunDetails>();
  const [shard, setShard] = useState('2GB');
  const [dtype, setDtype] = useState('f16');
  const [ggufType, setGgufType] = useState('q8_0');
  const [started, setStarted] = useState<{ id: string; target: Target }[]>([]);
  const [error, setError] = useState<string>();
  const { jobs } = useJobs();
  const { baseModel, template } = runOrigin(run);
  const start = async (target: Target) => {
    if (!run || !baseModel) return;
    setError(undefined);
    // Relative outputs land in the run's own folder (the host resolves them inside the runs folder).
    const out = `${run.run.id}/exports/${target === 'gguf' ? `gguf-${ggufType}` : target === 'merge' ? `merged-${dtype}` : target === 'stateDict' ? `state-dict-${dtype}` : 'int8'}-${stamp()}`;
    const common = { base_model: baseModel, lora_weights: run.run.dir };
    const request = {
      merge: { kind: 'merge' as const, config: { ...common, output_dir: out, max_shard_size: shard, dtype } },
      stateDict: { kind: 'export' as const, config: { ...common, output_dir: out, dtype } },
      gguf: {
        kind: 'quantize' as const,
        config: { ...common, format: `gguf-${ggufType}`, output: `${out}/model-${ggufType}.gguf`, prompt_template: template },
      },
      int8: { kind: 'quantize' as const, config: { ...common, format: 'int8', output: out } },
    }[target];
    try {
      const job = await call('jobs.start', jobRequest(request));
      noteJob(job.id, job.kind);
      setStarted((s) => [{ id: job.id, target }, ...s]);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <section data-testid="export-page">
      <h2>{t('export.title')}</h2>
      <p className="muted">{t('export.hint')}</p>
      <div className="form-grid">
        <RunSelect visible={visible} selected={run} onSelect={setRun} testId="export-run" />
        <Field label={t('export.shard')}>
          <input value={shard} onChange={(e) => setShard(e.target.value)} />
        </Field>
        <Field label={t('export.dtype')}>
          <select value={dtype} onChange={(e) => setDtype(e.target.value)}>
            <option value="f16">float16</option>
            <option value="bf16">bfloat16</option>
            <option value="f32">float32</option>
          </select>
        </Field>
        <Field label={t('export.ggufType')}>
          <select data-testid="gguf-type" value={ggufType} onChange={(e) => setGgufType(e.target.value)}>
            <option value="q8_0">Q8_0</option>
            <option value="f16">F16</option>
          </select>
        </Field>
      </div>
      <div className="row wrap">
        <button data-testid="export-merge" disabled={!baseModel} onClick={() => void start('merge')}>
          {t('export.merge')}
        </button>
        <button data-testid="export-state-dict" disabled={!baseModel} onClick={() => void start('stateDict')}>
          {t('export.stateDict')}
        </button>
        <button data-testid="export-gguf" className="primary" disabled={!baseModel} onClick={() => void start('gguf')}>
          {t('export.gguf')}
        </button>
        <button data-testid="export-int8" disabled={!baseModel} onClick={() => void start('int8')}>
          {t('export.int8')}
        </button>
      </div>
      <ErrorBox error={error} />
      {started.map(({ id, target }) => (
        <ExportJob key={id} job={jobs[id]} label={t(`export.${target}`)} />
      ))}
    </section>
  );
}

function ExportJob({ job, label }: { job?: JobView; label: string }) {
  const { t } = useTranslation();
  if (!job) return null;
  const result =
    job.kind === 'merge' || job.kind === 'export' || job.kind === 'quantize' ? jobResultOf(job.kind, job.done?.result) : undefined;
  const p = job.progress;
  return (
    <div className="panel" data-testid="export-job" data-state={job.state}>
      <h3>
        {label} · <span data-testid="export-state">{t(`run.states.${job.state}`)}</span>
      </h3>
      {p && job.state === 'running' && (
        <div className="meter-row">
          <div className="meter">
            <div style={{ width: `${p.total ? (100 * p.done) / p.total : 0}%` }} />
          </div>
          <small className="mono">
            {p.done}/{p.total} {p.message}
          </small>
        </div>
      )}
      {job.failed && <ErrorBox error={job.failed.error} />}
      {result && (
        <>
          <p data-testid="export-summary">{result.summary}</p>
          <p className="mono" data-testid="export-output">
            {result.output}
          </p>
          <ul data-testid="export-checks">
            {checksOf(result.report).map((c) => (
              <li key={c}>{c}</li>
            ))}
          </ul>
          <details>
            <summary>{t('export.report', { file: result.reportFile })}</summary>
            <pre className="log report" data-testid="export-report">
              {JSON.stringify(result.report, null, 2)}
            </pre>
          </details>
        </>
      )}
    </div>
  );
}

/** The report's checks as lines: GGUF's named verifications, the others' list of checks. */
function checksOf(report?: Record<string, unknown>): string[] {
  const verification = report?.verification as Record<string, string> | undefined;
  if (verification) return Object.entries(verification).map(([k, v]) => `${k}: ${v}`);
  return Array.isArray(report?.checks) ? report.checks.map(String) : [];
}
