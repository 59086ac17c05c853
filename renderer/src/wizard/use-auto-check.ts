import { useCallback, useEffect, useRef, useState } from 'react';

/** A check of one input (a model folder, a data file with its settings), keyed by what it checked. */
export interface AutoCheck<T> {
  /** idle: nothing to check; waiting: the input changed and is checked after a pause; checking; done; failed. */
  state: 'idle' | 'waiting' | 'checking' | 'done' | 'failed';
  /** Only ever the answer for the input as it is now: a changed input clears it. */
  result?: T;
  error?: string;
  /** Check the input as it is now, at once (a picked path, a Check button). */
  now(key?: string): void;
}

/** How long typing must pause before a changed input is checked. */
const CHECK_PAUSE_MS = 600;

/**
 * Check `key` (undefined: nothing to check) after it has stopped changing for `pauseMs`. A result is kept with the key
 * it was made for and shown only while the input still has that key, so no report can outlive the input it describes;
 * an answer that arrives for an input already changed is dropped.
 */
export function useAutoCheck<T>(key: string | undefined, run: (key: string) => Promise<T>, pauseMs = CHECK_PAUSE_MS): AutoCheck<T> {
  const [entry, setEntry] = useState<{ key: string; busy: boolean; result?: T; error?: string }>();
  const latest = useRef<string | undefined>(undefined);
  // The newest `run` (it closes over the page's state); the checks start from events and timers, after this is set.
  const runRef = useRef(run);
  useEffect(() => {
    runRef.current = run;
  });

  const start = useCallback((k: string) => {
    latest.current = k;
    setEntry({ key: k, busy: true });
    runRef.current(k).then(
      (result) => latest.current === k && setEntry({ key: k, busy: false, result }),
      (e: Error) => latest.current === k && setEntry({ key: k, busy: false, error: e.message }),
    );
  }, []);

  useEffect(() => {
    if (key === undefined) {
      latest.current = undefined;
      return;
    }
    if (latest.current === key) return; // checked (or being checked) already, e.g. by now()
    latest.current = undefined; // an answer for an earlier key that arrives now is dropped
    const timer = setTimeout(() => start(key), pauseMs);
    return () => clearTimeout(timer);
  }, [key, pauseMs, start]);

  const now = useCallback((k?: string) => (k ?? key) !== undefined && start((k ?? key)!), [key, start]);
  if (key === undefined) return { state: 'idle', now };
  if (!entry || entry.key !== key) return { state: 'waiting', now };
  if (entry.busy) return { state: 'checking', now };
  return entry.error !== undefined ? { state: 'failed', error: entry.error, now } : { state: 'done', result: entry.result, now };
}
