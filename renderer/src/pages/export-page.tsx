import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Field, NotAvailable } from '../components/common.tsx';

/** One click each for merge + HF checkpoint, state dict, GGUF, int8. The export jobs are not in this build yet. */
export function ExportPage({ available }: { available: boolean }) {
  const { t } = useTranslation();
  const [shard, setShard] = useState('5GB');
  const [dtype, setDtype] = useState('float16');
  const [run, setRun] = useState('');
  return (
    <section data-testid="export-page">
      <h2>{t('export.title')}</h2>
      {!available && <NotAvailable what={t('export.title')} part="export/" />}
      <div className="form-grid">
        <Field label={t('export.run')}>
          <input value={run} onChange={(e) => setRun(e.target.value)} placeholder="runs/…" />
        </Field>
        <Field label={t('export.shard')}>
          <input value={shard} onChange={(e) => setShard(e.target.value)} />
        </Field>
        <Field label={t('export.dtype')}>
          <select value={dtype} onChange={(e) => setDtype(e.target.value)}>
            <option>float16</option>
            <option>bfloat16</option>
            <option>float32</option>
          </select>
        </Field>
      </div>
      <div className="row wrap">
        <button disabled={!available}>{t('export.merge')}</button>
        <button disabled={!available}>{t('export.stateDict')}</button>
        <button disabled={!available}>{t('export.gguf')}</button>
        <button disabled={!available}>{t('export.int8')}</button>
      </div>
    </section>
  );
}
