/** Keeps the last lines a process wrote (stdout and stderr interleaved), to show why a job died. */
export class OutputTail {
  private lines: string[] = [];
  private partial = '';

  constructor(private readonly max = 40) {}

  push(chunk: string | Buffer): void {
    const text = this.partial + String(chunk);
    const parts = text.split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.add(line);
  }

  private add(line: string): void {
    this.lines.push(line.length > 2000 ? line.slice(0, 2000) + '…' : line);
    if (this.lines.length > this.max) this.lines.shift();
  }

  /** The kept lines, the unfinished last one included. */
  get(): string[] {
    return this.partial ? [...this.lines, this.partial].slice(-this.max) : [...this.lines];
  }
}
