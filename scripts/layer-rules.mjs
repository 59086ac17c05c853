// Turns the layer table (import-layers.mjs) into ESLint config blocks: for every source folder, a
// `no-restricted-imports` rule whose regexes match the relative specifiers that would reach a forbidden folder from
// there. Built-in rule, no resolver: our imports are relative paths with their extensions, so a specifier names its
// folder. Folders are found when ESLint loads its config, so a new folder is covered without editing this file.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { CONTRACT_ONLY, ELECTRON_FOLDERS, LAYER_TIERS, PAGE_SAFE } from './import-layers.mjs';

const SOURCE_ROOTS = ['main', 'renderer', 'preload'];
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const inside = (folder, root) => folder === root || folder.startsWith(root + '/');

/** Every folder under the source roots (repo-relative, '/'-separated). */
function sourceFolders(repo) {
  const out = [];
  const walk = (rel) => {
    out.push(rel);
    for (const e of readdirSync(path.join(repo, rel), { withFileTypes: true })) if (e.isDirectory()) walk(`${rel}/${e.name}`);
  };
  for (const root of SOURCE_ROOTS) walk(root);
  return out;
}

/** The table's tier of a folder: the deepest table folder holding it. */
function tierOf(folder) {
  let best;
  LAYER_TIERS.forEach((tier, rank) => {
    for (const f of tier) if (inside(folder, f) && (!best || f.length > best.folder.length)) best = { folder: f, rank };
  });
  return best;
}

/** The table folders a file in `folder` may not import. */
function forbiddenFolders(folder) {
  const own = tierOf(folder);
  if (CONTRACT_ONLY.some((r) => inside(folder, r))) return ['main'].map((f) => ({ folder: f, except: 'main/contract' }));
  if (!own) return [];
  return LAYER_TIERS.flatMap((tier, rank) => (rank < own.rank ? [] : tier.filter((f) => f !== own.folder))).map((f) => ({ folder: f }));
}

/** A regex on the specifier for the imports from `from` that land in `target` (and not in `except`). */
function specifierRegex(from, target, except) {
  let rel = path.posix.relative(from, target);
  rel = rel.startsWith('..') ? rel : `./${rel}`; // a folder below this one: './x/'
  const allowed = except ? `(?!${escape(path.posix.relative(target, except))}/)` : '';
  return `^${escape(rel)}/${allowed}`;
}

export function layerRules(repo) {
  return sourceFolders(repo).map((folder) => {
    const patterns = forbiddenFolders(folder).map(({ folder: f, except }) => ({
      regex: specifierRegex(folder, f, except),
      message: `${folder} may not import ${except ? `main/ except ${except}` : f} (the layer table: docs/ARCHITECTURE.md, scripts/import-layers.mjs)`,
    }));
    if (PAGE_SAFE.some((r) => inside(folder, r)))
      patterns.push({ regex: '^(node:|@tensorflow/)', message: `${folder} runs in a page: no Node built-ins or tfjs` });
    if (!ELECTRON_FOLDERS.some((r) => inside(folder, r)))
      patterns.push({ regex: '^electron(/|$)', message: `only ${ELECTRON_FOLDERS.join(' and ')} import electron` });
    return { files: [`${folder}/*.{ts,tsx,mts,js,mjs}`], rules: { 'no-restricted-imports': ['error', { patterns }] } };
  });
}
