/**
 * Ctrl-C and SIGTERM (what Kubernetes, AWS Batch and systemd send to stop a job) during `run`.
 *
 * The handlers are installed before the ledger is opened and stay until the run returns: a signal
 * that lands while the run is still starting (opening the ledger, loading the scheduler, setting up
 * metrics) or while it writes its summary must not kill the process outright, which would exit
 * 143 or die by the signal, leave the run `running` in the ledger and its lock held (for 30 s, to
 * a writer on another host). A signal that comes before the run can stop is kept, and acted on as
 * soon as it can.
 */
import { ExitCode } from '../errors.js';

export type StopHandler = (signal: NodeJS.Signals) => void;

export class Interruption {
  private received: NodeJS.Signals | undefined;
  private count = 0;
  private handler: StopHandler | undefined;
  private handled = false;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.count += 1;
    // A second signal: the person (or the orchestrator) means it. The exit hook still ends the run's row.
    if (this.count > 1) process.exit(ExitCode.interrupted);
    this.received = signal;
    this.deliver();
  };

  constructor() {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  /** The signal received, if any. */
  get signal(): NodeJS.Signals | undefined {
    return this.received;
  }

  /** What a first signal does from now on; called at once if one came before and no handler took it. */
  onStop(handler: StopHandler): void {
    this.handler = handler;
    this.deliver();
  }

  private deliver(): void {
    if (!this.received || !this.handler || this.handled) return;
    this.handled = true;
    this.handler(this.received);
  }

  dispose(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}
