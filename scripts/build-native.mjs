// Builds the native CPU kernels (native/: a Node-API addon over OpenBLAS) at install (`postinstall`) and on
// `npm run build:native`. It never fails the install: on a machine without a C++ compiler, node-gyp or Node's
// headers it says why in one line and writes the reason to native/build/status.json, and the CPU backends run the
// wasm kernels instead, printing that reason in each run's log and config.json (cpu-kernels/native-addon.ts).
// LORA_STUDIO_SKIP_NATIVE_BUILD=1 skips it; `--status FILE` writes the status elsewhere (tests of a failed build).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const statusArg = process.argv.indexOf('--status');
const statusFile = statusArg > 0 ? path.resolve(process.argv[statusArg + 1]) : path.join(root, 'native', 'build', 'status.json');

function writeStatus(status) {
  mkdirSync(path.dirname(statusFile), { recursive: true });
  const tmp = `${statusFile}.tmp`;
  writeFileSync(tmp, JSON.stringify({ ...status, at: new Date().toISOString(), node: process.version }, null, 2) + '\n');
  renameSync(tmp, statusFile);
}

function give(reason) {
  writeStatus({ built: false, reason });
  console.warn(
    `lora-studio: native CPU kernels not built (${reason}); the CPU backends use the wasm kernels. \`npm run build:native\` retries.`,
  );
  process.exit(0);
}

if (process.env.LORA_STUDIO_SKIP_NATIVE_BUILD === '1') give('LORA_STUDIO_SKIP_NATIVE_BUILD=1');
if (process.platform === 'win32') give('the native kernels are built on Linux and macOS (they load OpenBLAS with dlopen)');

// A C++ compiler: what node-gyp's make will call (CXX, else c++)
const cxx = process.env.CXX || 'c++';
const probe = spawnSync(cxx, ['--version'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0)
  give(`no C++ compiler: \`${cxx} --version\` ${probe.error ? `failed (${probe.error.code})` : `exited ${probe.status}`}`);

// node-gyp: npm's own (npm names it to install scripts), else the one beside this Node's npm, else on PATH
const candidates = [
  process.env.npm_config_node_gyp,
  path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter((p) => p && existsSync(p));
const gyp = candidates.length ? [process.execPath, candidates[0]] : ['node-gyp'];

// Node's headers: npm's nodedir, else the ones installed beside this Node (no download: installs may be offline)
const args = ['rebuild', '--release'];
const prefix = path.resolve(path.dirname(process.execPath), '..');
const nodedir = process.env.npm_config_nodedir || (existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : '');
if (nodedir) args.push(`--nodedir=${nodedir}`);

const started = Date.now();
const run = spawnSync(gyp[0], [...gyp.slice(1), ...args], { cwd: path.join(root, 'native'), encoding: 'utf8', timeout: 10 * 60_000 });
if (run.error || run.status !== 0) {
  const log = `${run.stdout ?? ''}\n${run.stderr ?? ''}`;
  const line =
    log
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /error|not found|No such file|cannot|failed/i.test(l) && !/^gyp info/.test(l))[0] ??
    (run.error ? `${gyp.join(' ')}: ${run.error.message}` : `node-gyp exited ${run.status}`);
  give(`the build failed: ${line.slice(0, 300)}`);
}
writeStatus({ built: true, seconds: Math.round((Date.now() - started) / 1000) });
console.log(
  `lora-studio: native CPU kernels built (native/build/Release/lora_studio_cpu.node, ${Math.round((Date.now() - started) / 1000)} s)`,
);
