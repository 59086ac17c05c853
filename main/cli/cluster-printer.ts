import type { ClusterEvent } from '../cluster/cluster-events.ts';
import type { JobStatus } from '../cluster/job-state.ts';
import type { TrainingEvent } from '../engine/train/reports.ts';
import { ProgressPrinter } from './progress.ts';

/** How a job's state reads in one line: `job 12 RUNNING on n[1-2]`, `job 12 PENDING (Priority)`. */
export function describeStatus(s: JobStatus): string {
  return `job ${s.jobId} ${s.state}${s.reason ? ` (${s.reason})` : ''}${s.exitCode ? ` exit code ${s.exitCode}` : ''}${s.nodes && !s.exitCode ? ` on ${s.nodes}` : ''}`;
}

/** The numbers a progress line needs, present: a step line from another trainer is printed only when it has them. */
function printableStep(line: Record<string, unknown>): boolean {
  return ['step', 'totalSteps', 'loss', 'learningRate', 'tokensPerSecond'].every((k) => typeof line[k] === 'number');
}

/**
 * The CLI's listener of cluster events, on stderr (stdout stays for what a command outputs): progress and state
 * changes as lines, the run's metric lines through the same progress printer a local `finetune` uses, and the job's
 * own log text only when asked (`cluster logs`).
 */
export class ClusterPrinter {
  private readonly progress = new ProgressPrinter();

  constructor(private readonly opts: { logs?: 'stdout' | 'stderr' | 'both'; metrics?: boolean } = {}) {}

  onEvent = (e: ClusterEvent): void => {
    switch (e.type) {
      case 'progress':
        this.print(e.message);
        break;
      case 'note':
        this.print(`${e.level === 'warn' ? 'warning: ' : ''}${e.message}`);
        break;
      case 'submitted':
        this.print(`submitted job ${e.jobId} to ${e.cluster} (run folder there: ${e.remoteDir})`);
        break;
      case 'state':
        this.print(describeStatus(e.status));
        break;
      case 'metric': {
        if (this.opts.metrics === false) break;
        const line = e.line;
        if (line.type === 'step' && !printableStep(line)) this.print(`step ${String(line.step)}: ${JSON.stringify(line)}`);
        else if (['start', 'step', 'eval', 'checkpoint', 'log', 'done'].includes(String(line.type)))
          this.progress.onEvent(line as unknown as TrainingEvent);
        break;
      }
      case 'log':
        if (this.opts.logs === 'both' || this.opts.logs === e.stream) {
          this.progress.finish();
          process.stdout.write(e.text);
        }
        break;
      case 'fetched':
        this.print(`fetched ${e.what} ${e.path} (SHA-256 and PEFT reader checked)`);
        break;
      case 'refused':
        this.print(`refused ${e.what} ${e.path}: ${e.problem}`);
        break;
      case 'offline':
        this.print(`lost the cluster (${e.message}); trying again in ${Math.round(e.retryInMs / 1000)} s`);
        break;
    }
  };

  finish(): void {
    this.progress.finish();
  }

  private print(text: string): void {
    this.progress.finish();
    console.error(text);
  }
}
