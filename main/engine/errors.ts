/**
 * Every error the engine raises on bad input is a StudioError: it names the file (or row, or tensor, or flag) and
 * says what is wrong, so the CLI and the studio can show it as it is. Callers tell kinds apart with `instanceof`
 * (and `code`), never by the class's name string.
 */
export class StudioError extends Error {
  constructor(
    message: string,
    /** The file the problem is in, when there is one. */
    readonly file?: string,
    /** A short machine-readable kind, e.g. 'safetensors/header-too-large'. */
    readonly code: string = 'error',
  ) {
    super(file ? `${file}: ${message}` : message);
    this.name = 'StudioError';
  }
}

/** A file that breaks the rules of its format (safetensors, GGUF, JSON config, ...). */
export class FormatError extends StudioError {
  constructor(message: string, file?: string, code = 'format') {
    super(message, file, code);
    this.name = 'FormatError';
  }
}
