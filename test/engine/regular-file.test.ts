import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeJsonError, readJsonFile } from '../../main/engine/fs/json-file.ts';
import { readRegularFile, readRegularTextSync, streamRegularFile, withReadTimeout } from '../../main/engine/fs/regular-file.ts';
import { workFolder } from '../helpers/work-folder.ts';

/**
 * Every file a user names is read through these: a special file (FIFO, device, socket, folder) refused by its type
 * before any read, so nothing blocks; sizes capped before anything is allocated; each read with a time limit; JSON
 * errors that never quote the file.
 */

const dir = workFolder('regular-file');
const at = (name: string) => path.join(dir, name);
execFileSync('mkfifo', [at('pipe')]);
writeFileSync(at('small.json'), '{"a": 1}');
writeFileSync(at('secret'), 'root:$y$j9T$hash:19000:0:99999:7:::\n');

describe('only regular files are read', () => {
  it.each([
    ['a FIFO', () => at('pipe'), 'is a FIFO (named pipe), not a regular file'],
    ['a character device', () => '/dev/zero', 'is a character device, not a regular file'],
    ['a folder', () => dir, 'is a folder, not a regular file: give the file inside it'],
    ['a missing file', () => at('nope'), 'no such file or folder'],
  ])('%s is refused by type, at once, by every reader', async (_what, file, message) => {
    await expect(readRegularFile(file(), { maxBytes: 1 << 20 })).rejects.toThrow(`${file()}: ${message}`);
    await expect(readJsonFile(file(), { maxBytes: 1 << 20, code: 'x' })).rejects.toThrow(`${file()}: ${message}`);
    await expect(streamRegularFile(file()).next()).rejects.toThrow(`${file()}: ${message}`);
    expect(() => readRegularTextSync(file(), { maxBytes: 1 << 20 })).toThrow(`${file()}: ${message}`);
  });

  it('a socket is refused by type', async () => {
    const socket = at('sock');
    const server = createServer().listen(socket);
    await new Promise((r) => server.once('listening', r));
    try {
      await expect(readRegularFile(socket, { maxBytes: 1 << 20 })).rejects.toThrow(`${socket}: is a socket, not a regular file`);
    } finally {
      server.close();
    }
  });

  it('a file over its cap is refused before it is read, with both sizes', async () => {
    await expect(readRegularFile(at('small.json'), { maxBytes: 4, what: 'config.json' })).rejects.toThrow(
      `${at('small.json')}: is 0.000 MiB, more than the 0.000 MiB a config.json may be`,
    );
    expect((await readRegularFile(at('small.json'), { maxBytes: 8 })).toString()).toBe('{"a": 1}');
  });

  it('a read that never ends is abandoned after the time limit, naming the file', async () => {
    await expect(withReadTimeout(new Promise(() => {}), at('stalled'), 50)).rejects.toThrow(
      `${at('stalled')}: no data after 0 s of waiting`,
    );
  });
});

describe('JSON errors never quote the file', () => {
  it("V8's excerpt of the text is left out; positions are kept", () => {
    for (const text of ['root:x:0:0:root:/root:/bin/bash', '{"a":tru}', '<html>secret</html>']) {
      let error: unknown;
      try {
        JSON.parse(text);
      } catch (e) {
        error = e;
      }
      expect(String((error as Error).message)).toContain(text.slice(0, 4)); // V8 quotes it...
      expect(describeJsonError(error)).toBe('an invalid character'); // ...we do not
    }
    expect(describeJsonError(new SyntaxError("Expected property name or '}' in JSON at position 1 (line 1 column 2)"))).toBe(
      "expected property name or '}' at line 1, column 2",
    );
    expect(describeJsonError(new SyntaxError('Unexpected end of JSON input'))).toBe('unexpected end of JSON input');
  });

  it('a file that is not JSON is named, its bytes are not', async () => {
    const error = await readJsonFile(at('secret'), { maxBytes: 1 << 20, code: 'x' }).catch((e: Error) => e);
    expect((error as Error).message).toBe(`${at('secret')}: not valid JSON (an invalid character)`);
  });
});
