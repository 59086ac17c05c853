import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

// A newcomer's `npm install` prints no warning that means nothing: the Node versions we declare are ones every
// installed package accepts, and every install script is either allowed or declined in package.json's allowScripts.
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(path.join(repo, 'package-lock.json'), 'utf8'));

describe('the install', () => {
  it('every package in the lockfile accepts the oldest Node of each range `engines` declares', () => {
    const ours: string = pkg.engines.node;
    const oldest = ours.split('||').map((range) => semver.minVersion(range.trim())!.version);
    const refused = Object.entries<{ engines?: { node?: string } }>(lock.packages).flatMap(([name, p]) =>
      oldest
        .filter((v) => name && p.engines?.node && !semver.satisfies(v, p.engines.node))
        .map((v) => `${name} wants ${p.engines!.node}, not ${v}`),
    );
    expect(refused).toEqual([]);
    expect(semver.satisfies(process.version, ours), `this Node (${process.version}) is one we declare`).toBe(true);
  });

  it('every install script is approved or declined in allowScripts', () => {
    const out = execFileSync('npm', ['install-scripts', 'ls'], { cwd: repo, encoding: 'utf8' });
    expect(out).toContain('No packages with unreviewed install scripts');
  });
});
