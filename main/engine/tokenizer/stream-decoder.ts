/** Incremental detokenizer: push ids one at a time, get only the new, complete text. */
export interface StreamDecoder {
  /** Add one id; returns the text it completes (may be '' while a character is still incomplete). */
  push(id: number): string;
  /** Whatever is still held back (an incomplete or invalid UTF-8 sequence, a held space at the very end). */
  flush(): string;
  /** Every id pushed so far. */
  readonly ids: readonly number[];
}

/**
 * The end of the text that a later piece may still rewrite when decode() cleans up tokenization spaces
 * (`" ,"` → `","`, `" 's"` → `"'s"`, `" n't"` → `"n't"`, `" ' "` → `"'"`): a trailing space, or a space followed
 * by the start of one of those suffixes. It is shown once the next piece settles it.
 */
export const CLEANUP_HOLD_BACK = /(?: '?[vr]?| n'?)+$/;

/**
 * Stream decoding over a short window (the idea of text-generation-inference's decode_token): decode the ids
 * from `prefix` to the end and from `prefix` to `read`; the difference is the new text. Each push costs a
 * couple of short decodes instead of a decode of everything so far.
 *
 * Why it holds:
 * - A trailing U+FFFD means the window ends inside a multi-byte character spread over byte-fallback pieces
 *   (`<0xE4><0xB8>`): nothing is emitted until the character completes, so a stream of Chinese never shows a
 *   broken character.
 * - SentencePiece's decoder strips one leading space of the whole string (LLaMA's `Strip` decoder, Metaspace's
 *   first-token rule). Both decodes start with the same non-empty context, so the strip cancels out. When the
 *   context decodes to '' (a lone '▁'), the strip could eat a space that belongs to the middle of the text:
 *   then, and when the window text is not an extension of its context (space clean-up rewrote it), we decode
 *   everything once and diff against what was shown.
 * - `holdBack` keeps back an end of the text that a later piece may rewrite (see CLEANUP_HOLD_BACK).
 * The pushes plus flush() always add up to decode(all ids).
 */
export function createStreamDecoder(decode: (ids: number[]) => string, opts: { holdBack?: RegExp } = {}): StreamDecoder {
  const ids: number[] = [];
  let prefix = 0; // start of the context window
  let read = 0; // the text of ids before this index is known: `known`
  let known = '';
  let shown = ''; // what push() has returned so far: `known` less what is held back

  const show = (text: string, final = false) => {
    known = text;
    prefix = read;
    read = ids.length;
    const visible = final || !opts.holdBack ? known : known.replace(opts.holdBack, '');
    if (visible.length <= shown.length) return '';
    const fresh = visible.slice(shown.length);
    shown = visible;
    return fresh;
  };

  const fromFull = (final: boolean) => {
    const full = decode(ids);
    if (!final && full.endsWith('\uFFFD')) return '';
    if (!full.startsWith(shown)) return ''; // a later piece rewrote text already shown: nothing safe to add
    return show(full, final);
  };

  return {
    ids,
    push(id: number) {
      ids.push(id);
      const context = read > prefix ? decode(ids.slice(prefix, read)) : '';
      const text = decode(ids.slice(prefix));
      if (text.endsWith('\uFFFD')) return '';
      if ((context === '' && known !== '') || !text.startsWith(context)) return fromFull(false);
      if (text.length === context.length) return ''; // e.g. a skipped special token: keep the context window
      return show(known + text.slice(context.length));
    },
    flush() {
      return fromFull(true);
    },
  };
}
