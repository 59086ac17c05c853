import type { TrainingEvent } from '../engine/train/reports.ts';

/** The CLI's listener: one redrawn progress line on a terminal, plain lines otherwise; logs on stderr. */
export class ProgressPrinter {
  private readonly tty = Boolean(process.stderr.isTTY);
  private lineOpen = false;

  onEvent(e: TrainingEvent): void {
    switch (e.type) {
      case 'log':
        this.print(`${e.level === 'warn' ? 'warning: ' : ''}${e.message}`);
        break;
      case 'start':
        this.print(`training ${e.totalSteps} steps${e.startStep ? ` from step ${e.startStep}` : ''}`);
        break;
      case 'step': {
        const width = 24;
        const filled = Math.round((width * e.step) / e.totalSteps);
        const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
        const skips = e.skippedMicroBatches ? ` (${e.skippedMicroBatches} empty micro-batches skipped)` : '';
        const line = `${bar} ${e.step}/${e.totalSteps} loss ${e.loss.toFixed(4)}${skips} lr ${e.learningRate.toExponential(2)} ${e.tokensPerSecond.toFixed(0)} tok/s ETA ${formatMs(e.etaMs)}`;
        if (this.tty) {
          process.stderr.write(`\r${line}`);
          this.lineOpen = true;
        } else this.print(line);
        break;
      }
      case 'skipped':
        this.print(`step ${e.step}/${e.totalSteps}: ${e.skippedSteps} steps skipped since the last report (no token to train on)`);
        break;
      case 'eval':
        this.print(`step ${e.step}: validation loss ${e.evalLoss.toFixed(4)}`);
        break;
      case 'checkpoint':
        this.print(`checkpoint ${e.dir}`);
        break;
      case 'done':
        break;
    }
  }

  finish(): void {
    if (this.lineOpen) process.stderr.write('\n');
    this.lineOpen = false;
  }

  private print(text: string): void {
    this.finish();
    console.error(text);
  }
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  const s = Math.round(ms / 1000);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}
