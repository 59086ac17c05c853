import { useState } from 'react';
import { Trans, useTranslation } from 'react-i18next';
import { ErrorBox, Field } from '../components/common.tsx';
import { ExportJobCard } from '../components/export-job-card.tsx';
import { RunSelect, runOrigin, stamp, type Preselect, type RunDetails } from '../components/run-select.tsx';
import { useJobs, noteJob } from '../job-store.ts';
import { jobRequest } from '../job-request.ts';
import { call } from '../transport.ts';

type Target = 'merge' | 'stateDict' | 'gguf' | 'int8';

/** One click each for merge + HF checkpoint, Meta state dict, GGUF with an Ollama Modelfile, and int8. */
export function ExportPage({ visible, preselect }: { visible: boolean; preselect?: Preselect }) {
  const { t } = useTranslation();
  const [run, setRun] = useState<RunDetails>();
  const [shard, setShard] = useState('2GB');
  const [dtype, setDtype] = useState('f16');
  const [ggufType, setGgufType] = useState('q8_0');
  const [started, setStarted] = useState<{ id: string; target: Target; runId: string }[]>([]);
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
      noteJob(job.id, job.kind, undefined, job.state);
      setStarted((s) => [{ id: job.id, target, runId: run.run.id }, ...s]);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <section data-testid="export-page">
      <h2>{t('export.title')}</h2>
      <p className="muted">
        <Trans i18nKey="export.hint" components={{ folder: <code className="mono" /> }} />
      </p>
      <div className="form-grid">
        <RunSelect visible={visible} selected={run} onSelect={setRun} testId="export-run" preselect={preselect} />
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
      {started.map(({ id, target, runId }) => (
        <ExportJobCard key={id} job={jobs[id]} label={t(`export.${target}`)} runId={runId} />
      ))}
    </section>
  );
}
