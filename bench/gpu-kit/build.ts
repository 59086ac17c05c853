// `npm run gpu-kit`: pack gpu-kit/ (git-ignored), everything the lent GPU machine needs to run our WebGPU trainer
// against PyTorch + PEFT with no Node, no npm and no network there. See README's "GPU kit" and run.sh.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { StudioError } from '../../main/engine/errors.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
export const KIT_DIR = path.join(root, 'gpu-kit');
/** Compressed binaries and the .deb, reused while their source is unchanged (xz of node takes minutes on 2 cores). */
const CACHE_DIR = path.join(root, '.gpu-kit-cache');
/** The device tool carries at most 64 MiB with the working tree (~2 MiB tracked); the issue allows the kit 60. */
export const KIT_MAX_BYTES = 60 * 2 ** 20;
const DAWN_NODE = path.join(root, 'node_modules/webgpu/dist/linux-x64/dawn.node');

export interface KitOptions {
  /** Where the kit goes (default gpu-kit/ in the checkout). */
  dir?: string;
  /** xz preset: 6 (default) packs node into ~23 MiB in minutes on 2 cores; 0 takes seconds for ~30 MiB (the CI test). */
  xzLevel?: number;
  log?: (line: string) => void;
}

export async function buildGpuKit(opts: KitOptions = {}): Promise<{ dir: string; bytes: number }> {
  const { dir = KIT_DIR, xzLevel = 6, log = console.log } = opts;
  // The GPU machine is x86-64 Linux: node and dawn.node from here must run there.
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new StudioError(`the GPU kit packs this machine's node and dawn.node for x86-64 Linux; this is ${process.platform}-${process.arch}`, undefined, 'gpu-kit/platform');
  if (!existsSync(DAWN_NODE)) throw new StudioError('dawn.node is missing: npm install the webgpu package', DAWN_NODE, 'gpu-kit/dawn');
  mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    await build({
      entryPoints: [path.join(here, 'kit-main.ts')],
      outfile: path.join(tmp, 'kit-main.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      minify: true,
      // The dispatch profile names tfjs's programs by their class names.
      keepNames: true,
      logLevel: 'warning',
      // tfjs-node is loaded by a computed require only when asked for; the kit never does.
      external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
      // Bundled CommonJS packages call require(); an ES module has none until we make one.
      banner: { js: "import { createRequire as __kitRequire } from 'node:module'; const require = __kitRequire(import.meta.url);" },
      plugins: [{ name: 'dawn-from-kit', setup: (b) => b.onResolve({ filter: /^webgpu$/ }, () => ({ path: path.join(here, 'dawn-shim.ts') })) }],
    });
    copyFileSync(xzCached(DAWN_NODE, xzLevel, log), path.join(tmp, 'dawn.node.xz'));
    copyFileSync(xzCached(process.execPath, xzLevel, log), path.join(tmp, 'node.xz'));
    const deb = vulkanLoaderDeb(log);
    copyFileSync(deb, path.join(tmp, path.basename(deb)));
    copyFileSync(path.join(here, 'run.sh'), path.join(tmp, 'run.sh'));
    copyFileSync(path.join(here, 'torch_kit.py'), path.join(tmp, 'torch_kit.py'));
    copyFileSync(path.join(root, 'test/reference/torch_llama_lora.py'), path.join(tmp, 'torch_llama_lora.py'));
    const files = Object.fromEntries(readdirSync(tmp).map((f) => [f, statSync(path.join(tmp, f)).size]));
    const bytes = Object.values(files).reduce((a, b) => a + b, 0);
    if (bytes > KIT_MAX_BYTES) throw new StudioError(`the kit is ${(bytes / 2 ** 20).toFixed(1)} MiB, over its ${KIT_MAX_BYTES / 2 ** 20} MiB`, tmp, 'gpu-kit/size');
    const manifest = { built: new Date().toISOString(), commit: gitCommit(), node: process.version, compression: `xz -${xzLevel}`, files, bytes };
    writeFileSync(path.join(tmp, 'MANIFEST.json'), JSON.stringify(manifest, null, 2) + '\n');
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    log(`${path.relative(process.cwd(), dir) || dir}: ${(bytes / 2 ** 20).toFixed(1)} MiB (${Object.entries(files).map(([f, b]) => `${f} ${(b / 2 ** 20).toFixed(1)}`).join(', ')} MiB)`);
    return { dir, bytes };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** `file` compressed with xz (every Linux has it, and python3's lzma can undo it where it has not), from the cache. */
function xzCached(file: string, level: number, log: (line: string) => void): string {
  const s = statSync(file);
  const base = path.basename(file);
  const cached = path.join(CACHE_DIR, `${base}-${s.size}-${Math.round(s.mtimeMs)}.${level}.xz`);
  if (existsSync(cached)) return cached;
  log(`compressing ${file} (${(s.size / 2 ** 20).toFixed(0)} MiB) with xz -${level}; cached in ${path.relative(root, CACHE_DIR)}/ for the next build`);
  for (const f of readdirSync(CACHE_DIR)) if (f.startsWith(`${base}-`) && f.endsWith(`.${level}.xz`)) rmSync(path.join(CACHE_DIR, f));
  execFileSync('sh', ['-c', `xz -T0 -${level} -c "$1" > "$2.tmp" && mv "$2.tmp" "$2"`, 'xz', file, cached]);
  return cached;
}

/** Debian's Vulkan loader as a .deb (`apt-get download libvulkan1`), fetched once into the cache. */
function vulkanLoaderDeb(log: (line: string) => void): string {
  const find = () => readdirSync(CACHE_DIR).find((f) => /^libvulkan1_.*_amd64\.deb$/.test(f));
  if (!find()) {
    log('apt-get download libvulkan1');
    try {
      execFileSync('apt-get', ['download', '-oAPT::Architecture=amd64', 'libvulkan1'], { cwd: CACHE_DIR, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      throw new StudioError(`apt-get download libvulkan1 failed (${(e as Error).message.split('\n')[0]}); put Debian's libvulkan1_*_amd64.deb into ${CACHE_DIR}`, CACHE_DIR, 'gpu-kit/vulkan-deb');
    }
  }
  const deb = find();
  if (!deb) throw new StudioError('apt-get download libvulkan1 left no libvulkan1_*_amd64.deb', CACHE_DIR, 'gpu-kit/vulkan-deb');
  return path.join(CACHE_DIR, deb);
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await buildGpuKit();
  } catch (e) {
    console.error(`gpu-kit: ${(e as Error).message}`);
    process.exit(1);
  }
}
