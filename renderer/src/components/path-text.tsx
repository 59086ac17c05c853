import { createContext, useContext, useMemo } from 'react';
import { shortPath, shortPathsIn } from '../paths.ts';

/** The home folder of the machine the studio runs on (from app.info); undefined until it is known. */
export const HomeDirContext = createContext<string | undefined>(undefined);

/** Shorten paths as the pages show them: `~/…` under the home folder (see paths.ts). */
export function usePathDisplay(): { path(p: string): string; text(t: string): string } {
  const home = useContext(HomeDirContext);
  return useMemo(() => ({ path: (p: string) => shortPath(p, home), text: (t: string) => shortPathsIn(t, home) }), [home]);
}

/** One path, shortened (`~/runs/…`), with the full path in its tooltip. */
export function PathText({ path, testId }: { path: string; testId?: string }) {
  const paths = usePathDisplay();
  return (
    <span className="mono" title={path} data-testid={testId}>
      {paths.path(path)}
    </span>
  );
}
