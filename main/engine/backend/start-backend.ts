import { describeBackend, initBackend, type BackendChoice, type BackendInfo } from './index.ts';
import { selectMatmulPath, type MatmulPath } from './webgpu-matmul-path.ts';

export interface StartedBackend {
  backend: BackendInfo;
  matmul: MatmulPath;
}

/**
 * Start a backend and choose the frozen products' kernel, the one way every computing entry does it (training and
 * its measured steps, the CLI's commands, the playground): on WebGPU, subgroup matrices only after their self-test;
 * on the CPU backends, our GEMM kernels where the CPU runs them.
 * Both choices go to `log` with their reasons.
 */
export async function startBackend(
  choice: BackendChoice,
  opts: { threads?: number },
  log: (line: string) => void,
): Promise<StartedBackend> {
  const backend = await initBackend(choice, opts);
  log(describeBackend(backend));
  const matmul = await selectMatmulPath();
  log(`frozen-weight matmuls: ${matmul.kernel} kernel (${matmul.reason})`);
  return { backend, matmul };
}
