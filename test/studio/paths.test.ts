import { describe, expect, it } from 'vitest';
import { shortPath, shortPathsIn } from '../../renderer/src/paths.ts';

describe('paths as the pages show them', () => {
  it('shortPath: under the home folder as ~/…, anything else unchanged', () => {
    expect(shortPath('/home/ann/models/stories260K', '/home/ann')).toBe('~/models/stories260K');
    expect(shortPath('/home/ann/models/stories260K', '/home/ann/')).toBe('~/models/stories260K');
    expect(shortPath('/home/ann', '/home/ann')).toBe('~');
    expect(shortPath('/home/anna/x', '/home/ann')).toBe('/home/anna/x');
    expect(shortPath('/srv/data/x.json', '/home/ann')).toBe('/srv/data/x.json');
    expect(shortPath('C:\\Users\\ann\\runs\\r1', 'C:\\Users\\ann')).toBe('~\\runs\\r1');
    expect(shortPath('/home/ann/x', undefined)).toBe('/home/ann/x');
  });

  it('a home folder that is a root stands for nothing', () => {
    expect(shortPath('/etc/passwd', '/')).toBe('/etc/passwd');
    expect(shortPath('C:\\data', 'C:\\')).toBe('C:\\data');
    expect(shortPathsIn('read /etc/x and /tmp/y', '/')).toBe('read /etc/x and /tmp/y');
  });

  it('shortPathsIn: every whole path prefix in a log line, and nothing else', () => {
    const home = '/home/ann';
    expect(shortPathsIn('data: 1000 rows in /home/ann/data/zh.json, 1000 used', home)).toBe('data: 1000 rows in ~/data/zh.json, 1000 used');
    expect(shortPathsIn('checkpoint written: /home/ann/runs/r1/checkpoints/step-2\nadapter: /home/ann/runs/r1/adapter', home)).toBe(
      'checkpoint written: ~/runs/r1/checkpoints/step-2\nadapter: ~/runs/r1/adapter',
    );
    expect(shortPathsIn("cannot read '/home/ann/m/config.json'", home)).toBe("cannot read '~/m/config.json'");
    expect(shortPathsIn('runs in (/home/ann), not elsewhere', home)).toBe('runs in (~), not elsewhere');
    expect(shortPathsIn('/home/anna/x /srv/home/ann/x /home/ann.bak/x', home)).toBe('/home/anna/x /srv/home/ann/x /home/ann.bak/x');
    // Characters of the home folder that mean something in a regular expression are matched as they are.
    expect(shortPathsIn('at /h(o)me+1/x and /hXome+1/x', '/h(o)me+1')).toBe('at ~/x and /hXome+1/x');
  });
});
