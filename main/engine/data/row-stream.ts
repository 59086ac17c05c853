/**
 * Splits a data file into the JSON text of its rows as the bytes stream in, so no file is ever held whole: the
 * elements of a top-level JSON array, or the lines of a JSON-lines file. Only the structure is scanned here (strings,
 * escapes, nesting); each row's text is parsed by JSON.parse. A row longer than `maxRowBytes` is not kept: its bytes
 * are skipped as they pass, and it comes out as a `tooLarge` record naming its size.
 */

/** A row's text, or the size of a row that was too large to keep. `row` is 1-based (array index + 1, or line number). */
export type RowRecord = { row: number; text: string } | { row: number; tooLarge: number };

/** A broken structure (not a broken row): the whole file is refused. */
export class RowStreamError extends Error {}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const BOM = [0xef, 0xbb, 0xbf];

const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === NEWLINE || b === 0x0d;

/** The bytes of one row being collected (up to the cap). */
class RowBytes {
  private parts: Uint8Array[] = [];
  bytes = 0;
  /** Bytes that are not whitespace: an empty array element is a structural error. */
  content = false;

  constructor(private readonly cap: number) {}

  add(chunk: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    if (!this.content) for (let i = from; i < to && !this.content; i++) if (!isSpace(chunk[i])) this.content = true;
    if (this.bytes + (to - from) <= this.cap) this.parts.push(chunk.slice(from, to));
    else this.parts = [];
    this.bytes += to - from;
  }

  take(row: number): RowRecord {
    const record: RowRecord =
      this.bytes > this.cap ? { row, tooLarge: this.bytes } : { row, text: Buffer.concat(this.parts).toString('utf8') };
    this.parts = [];
    this.bytes = 0;
    this.content = false;
    return record;
  }
}

export class RowSplitter {
  /** 'json' (an array) or 'jsonl', known once the first non-blank byte has been seen. */
  format?: 'json' | 'jsonl';
  private started = false;
  private bomBytes = 0;
  private inString = false;
  private escape = false;
  private depth = 0;
  private current: RowBytes;
  // JSON array state
  private index = 0;
  private arrayClosed = false;
  private elementEnded = false; // a comma was seen and no element has started since
  // JSON lines state
  private line = 1;
  /** Top-level values seen in a JSON-lines file, and the whole file while it may still be one value (pretty-printed). */
  private topValues = 0;
  private whole: RowBytes;
  private multiLine = false;

  constructor(private readonly maxRowBytes: number) {
    this.current = new RowBytes(maxRowBytes);
    this.whole = new RowBytes(maxRowBytes);
  }

  /** The rows completed by this chunk. */
  push(chunk: Uint8Array): RowRecord[] {
    const out: RowRecord[] = [];
    let i = 0;
    // A UTF-8 byte order mark at the start (it may come split over chunks) is not part of the data.
    while (this.bomBytes < 3 && i < chunk.length && chunk[i] === BOM[this.bomBytes] && !this.started) {
      this.bomBytes++;
      i++;
    }
    if (i < chunk.length) this.bomBytes = 3;
    if (!this.started) {
      while (i < chunk.length && isSpace(chunk[i])) {
        if (chunk[i] === NEWLINE) this.line++;
        i++;
      }
      if (i === chunk.length) return out;
      this.started = true;
      if (chunk[i] === OPEN_BRACKET) {
        this.format = 'json';
        i++;
      } else if (chunk[i] === OPEN_BRACE) this.format = 'jsonl';
      else throw new RowStreamError('shape');
    }
    if (this.format === 'json') this.scanArray(chunk, i, out);
    else this.scanLines(chunk, i, out);
    return out;
  }

  /** The last rows, at the end of the file. */
  end(): RowRecord[] {
    if (!this.started) return [];
    if (this.format === 'json') {
      if (!this.arrayClosed)
        throw new RowStreamError(
          this.inString
            ? 'the file ends inside a string (is it truncated?)'
            : 'the file ends before the array is closed with "]" (is it truncated?)',
        );
      return [];
    }
    const out: RowRecord[] = [];
    if (this.current.bytes > 0) out.push(this.lineRecord());
    return out;
  }

  /**
   * The text of a JSON-lines file that turned out to be one value over several lines (a pretty-printed object), which
   * is read as a whole, as JSON.parse of the file would; undefined otherwise (or when it is over the cap).
   */
  singleValueText(): string | undefined {
    if (this.format !== 'jsonl' || this.topValues !== 1 || !this.multiLine || this.depth !== 0) return undefined;
    const r = this.whole.take(0);
    return 'text' in r ? r.text : undefined;
  }

  private scanArray(chunk: Uint8Array, from: number, out: RowRecord[]): void {
    let start = from;
    for (let i = from; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.arrayClosed) {
        if (!isSpace(b)) throw new RowStreamError(`unexpected content after the closing "]" of the array (after row ${this.index})`);
        continue;
      }
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (b === BACKSLASH) this.escape = true;
        else if (b === QUOTE) this.inString = false;
        continue;
      }
      if (b === QUOTE) this.inString = true;
      else if (b === OPEN_BRACE || b === OPEN_BRACKET) this.depth++;
      else if ((b === CLOSE_BRACE || b === CLOSE_BRACKET) && this.depth > 0) this.depth--;
      else if (this.depth === 0 && (b === COMMA || b === CLOSE_BRACKET)) {
        this.current.add(chunk, start, i);
        start = i + 1;
        const empty = !this.current.content;
        if (empty && (b === COMMA || this.elementEnded)) throw new RowStreamError(`an empty element after row ${this.index}`);
        if (!empty) out.push(this.current.take(++this.index));
        this.elementEnded = b === COMMA;
        if (b === CLOSE_BRACKET) this.arrayClosed = true;
      } else if (b === CLOSE_BRACE) throw new RowStreamError(`unbalanced "}" in row ${this.index + 1}`);
    }
    if (!this.arrayClosed) this.current.add(chunk, start, chunk.length);
  }

  private scanLines(chunk: Uint8Array, from: number, out: RowRecord[]): void {
    let start = from;
    for (let i = from; i < chunk.length; i++) {
      const b = chunk[i];
      // The nesting is followed across lines only to spot one value spread over several lines.
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (b === BACKSLASH) this.escape = true;
        else if (b === QUOTE) this.inString = false;
      } else if (b === QUOTE) this.inString = true;
      else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
        if (this.depth++ === 0) this.topValues++;
      } else if ((b === CLOSE_BRACE || b === CLOSE_BRACKET) && this.depth > 0) this.depth--;
      if (b === NEWLINE) {
        if (this.depth > 0) this.multiLine = true;
        this.inString = false; // a JSON string never holds a raw newline: the next line starts afresh
        this.escape = false;
        this.current.add(chunk, start, i);
        start = i + 1;
        if (this.current.bytes > 0) out.push(this.lineRecord());
        this.line++;
      }
    }
    this.current.add(chunk, start, chunk.length);
    if (this.topValues <= 1) this.whole.add(chunk, from, chunk.length);
  }

  private lineRecord(): RowRecord {
    const r = this.current.take(this.line);
    return 'text' in r ? { row: r.row, text: r.text.replace(/\r$/, '') } : r;
  }
}
