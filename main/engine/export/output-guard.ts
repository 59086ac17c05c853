import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { StudioError } from '../errors.ts';
import { adapterFolder } from '../formats/peft-adapter.ts';
import { checkOutputParent, refuseOutputOverInputs } from '../fs/output-folder.ts';

interface ExportOutputCheck {
  /** The output path and the flag that named it (`output_dir`, `output`). */
  output: string;
  flag: string;
  /** A file (GGUF) or a folder (merge, state dict, int8). */
  kind: 'file' | 'folder';
  /** The folders read from: an output inside one would change or destroy the input. */
  baseModel: string;
  loraWeights?: string;
  /** Files written beside a file output (the Modelfile, the report). */
  beside?: string[];
}

/**
 * Refuse, before anything is read or written, an export that would overwrite something or write into its own input:
 * an existing output file (or a file beside it), an output inside the base model or adapter folder, or an output
 * whose parent is not an ordinary writable folder. Folders must also be new or empty (withAtomicDir checks that).
 */
export async function checkExportOutput(c: ExportOutputCheck): Promise<void> {
  const inputs: [string, string][] = [['base_model', c.baseModel]];
  if (c.loraWeights) inputs.push(['lora_weights', adapterFolder(c.loraWeights)]);
  refuseOutputOverInputs({ output: c.output, flag: c.flag, inputs, who: 'an export', code: 'export/inside-input' });
  if (c.kind === 'file') {
    for (const f of [c.output, ...(c.beside ?? [])]) {
      if (existsSync(f))
        throw new StudioError(
          `already exists; --${c.flag} never overwrites a file. Choose another --${c.flag} or remove it`,
          f,
          'export/exists',
        );
    }
    await checkOutputParent(path.dirname(path.resolve(c.output)), c.flag);
  } else {
    if (existsSync(c.output) && !statSync(c.output).isDirectory()) {
      throw new StudioError(`--${c.flag} is a file, not a folder; choose a new folder`, c.output, 'export/not-a-folder');
    }
    await checkOutputParent(c.output, c.flag);
  }
}
