import { memo, useLayoutEffect, useRef } from 'react';
import { useTranslation } from 'react-i18next';
import type { JobView } from '../job-view.ts';
import { usePathDisplay } from './path-text.tsx';

/** How close to the bottom (px) still counts as "reading the newest line". */
const STICK_PX = 24;

/**
 * A job's log, warnings and errors in their colours. It follows its newest line (checkpoints, the saved adapter)
 * unless the reader has scrolled up to read an older one; scrolling back down follows again.
 */
export function RunLog({ lines }: { lines: JobView['logs'] }) {
  const { t } = useTranslation();
  const paths = usePathDisplay();
  const box = useRef<HTMLPreElement>(null);
  const follow = useRef(true);
  useLayoutEffect(() => {
    const el = box.current;
    if (el && follow.current) el.scrollTop = el.scrollHeight;
  }, [lines]);
  const onScroll = () => {
    const el = box.current;
    if (el) follow.current = el.scrollHeight - el.scrollTop - el.clientHeight <= STICK_PX;
  };
  return (
    <pre className="log" data-testid="job-log" ref={box} onScroll={onScroll}>
      {lines.length === 0 && <span className="log-muted">{t('runView.logEmpty')}</span>}
      {lines.map((l, i) => (
        <LogLine key={i} line={l} prefix={l.level === 'info' ? '' : `${t(`runView.level.${l.level}`)} `} text={paths.text} />
      ))}
    </pre>
  );
}

/** One line; a long log redraws only its new lines (the others keep their objects). */
const LogLine = memo(function LogLine({ line, prefix, text }: { line: JobView['logs'][number]; prefix: string; text(s: string): string }) {
  return (
    <span className={`log-line log-${line.level}`} data-level={line.level}>
      {prefix}
      {text(line.message)}
      {'\n'}
    </span>
  );
});
