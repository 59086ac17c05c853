import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { CallReply, JobInfo } from '../../main/contract/contract.ts';
import { HomeDirContext } from './components/path-text.tsx';
import { LANGUAGES } from './i18n.ts';
import { noteJob } from './job-store.ts';
import { ExportPage } from './pages/export-page.tsx';
import { PlaygroundPage } from './pages/playground-page.tsx';
import { RunPage, type NextPage } from './pages/run-page.tsx';
import { RunsPage } from './pages/runs-page.tsx';
import { Wizard } from './pages/wizard.tsx';
import { call, transport } from './transport.ts';

const PAGES = ['wizard', 'run', 'runs', 'export', 'playground'] as const;
type Page = (typeof PAGES)[number];

export function App() {
  const { t, i18n } = useTranslation();
  const [page, setPage] = useState<Page>('wizard');
  const [info, setInfo] = useState<CallReply<'app.info'>>();
  // The run the Run page shows (none: the running one, else the newest), and the run Export and the Playground start on.
  const [runId, setRunId] = useState<string>();
  const [chosenRun, setChosenRun] = useState<{ page: NextPage; runId: string; at: number }>();
  const [error, setError] = useState<string>();
  const [theme, setTheme] = useState<'system' | 'light' | 'dark'>('system');
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  useEffect(() => {
    call('app.info', {})
      .then(setInfo)
      .catch((e: Error) => setError(e.message));
    call('settings.get', {})
      .then((s) => {
        void i18n.changeLanguage(s.language);
        setTheme(s.theme);
      })
      .catch(() => {});
  }, [i18n]);
  useEffect(() => {
    document.documentElement.lang = i18n.language;
  }, [i18n.language]);
  const setLanguage = (lng: 'en' | 'zh-CN') => {
    void i18n.changeLanguage(lng);
    call('settings.set', { language: lng }).catch(() => {});
  };
  const started = (job: JobInfo) => {
    noteJob(job.id, job.kind, job.runId);
    if (job.runId) setRunId(job.runId);
    setPage('run');
  };
  const openRun = (id: string) => {
    setRunId(id);
    setPage('run');
  };
  const goNext = (next: NextPage, id: string) => {
    setChosenRun({ page: next, runId: id, at: Date.now() });
    setPage(next);
  };
  const preselect = (p: NextPage) => (chosenRun?.page === p ? chosenRun : undefined);
  // Pages stay mounted (hidden) so a half-filled wizard survives a look at the Run page.
  const show = (p: Page) => ({ hidden: page !== p });
  return (
    <div className="app">
      <header>
        <h1 data-testid="app-title">{t('app.title')}</h1>
        <nav>
          {PAGES.map((p) => (
            <button key={p} data-testid={`nav-${p}`} className={p === page ? 'active' : ''} onClick={() => setPage(p)}>
              {t(`nav.${p}`)}
            </button>
          ))}
        </nav>
        <label className="lang">
          {t('app.language')}{' '}
          <select data-testid="language" value={i18n.language} onChange={(e) => setLanguage(e.target.value as 'en' | 'zh-CN')}>
            {LANGUAGES.map((l) => (
              <option key={l.code} value={l.code}>
                {l.label}
              </option>
            ))}
          </select>
        </label>
        <label className="lang">
          {t('app.theme')}{' '}
          <select
            data-testid="theme"
            value={theme}
            onChange={(e) => {
              const v = e.target.value as typeof theme;
              setTheme(v);
              call('settings.set', { theme: v }).catch(() => {});
            }}
          >
            <option value="system">{t('app.theme_system')}</option>
            <option value="light">{t('app.theme_light')}</option>
            <option value="dark">{t('app.theme_dark')}</option>
          </select>
        </label>
        <small className="muted">
          {transport.mode === 'electron' ? t('app.mode_electron') : t('app.mode_browser')}
          {info && ` · v${info.version}`}
        </small>
      </header>
      {error && (
        <div className="error" role="alert">
          {error}
        </div>
      )}
      <HomeDirContext.Provider value={info?.homeDir}>
        <main>
          <div {...show('wizard')}>
            <Wizard onStarted={started} />
          </div>
          <div {...show('run')}>
            <RunPage runId={runId} visible={page === 'run'} onSelect={setRunId} onNext={goNext} />
          </div>
          <div {...show('runs')}>
            <RunsPage visible={page === 'runs'} onStarted={started} onOpen={openRun} />
          </div>
          <div {...show('export')}>
            <ExportPage visible={page === 'export'} preselect={preselect('export')} />
          </div>
          <div {...show('playground')}>
            <PlaygroundPage visible={page === 'playground'} preselect={preselect('playground')} />
          </div>
        </main>
      </HomeDirContext.Provider>
    </div>
  );
}
