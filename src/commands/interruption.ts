/**
 * Ctrl-C and SIGTERM (what Kubernetes, AWS Batch and systemd send to stop a job), for every command.
 *
 * Every command exits 130 on a signal (src/cli.ts installs `stopAtOnceOnSignals` first thing):
 * without a listener Node dies by the signal (143 for SIGTERM), and leaves whatever the command
 * held. A command that reads (status, duplicates, export, report) stops at once, after the
 * cleanups it registered with `onInterrupt` (export removes its temporary file, report says its
 * folder is incomplete). A command that writes a ledger (run, merge) stops in order instead,
 * through an `Interruption`: while one exists, the stop-at-once listener leaves the signal to it.
 *
 * For `run`:
 * The handlers are installed before the ledger is opened and stay until the run returns: a signal
 * that lands while the run is still starting (opening the ledger, loading the scheduler, setting up
 * metrics) or while it writes its summary must not kill the process outright, which would exit
 * 143 or die by the signal, leave the run `running` in the ledger and its lock held (for 30 s, to
 * a writer on another host). A signal that comes before the run can stop is kept, and acted on as
 * soon as it can.
 */
import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { ExitCode } from '../errors.js';

/** Undoes what a command started, or tells what it left; may return a note for the interruption's message. */
export type Cleanup = () => string | void;

const cleanups = new Set<Cleanup>();
/** Interruptions alive: a signal is theirs to handle. */
let ordered = 0;

function stopAtOnce(signal: NodeJS.Signals): void {
  if (ordered > 0) return;
  // A second signal after a command already stopped in order for the first (and said so): nothing more to say.
  if (process.exitCode === ExitCode.interrupted) process.exit(ExitCode.interrupted);
  const notes: string[] = [];
  for (const cleanup of cleanups) {
    try {
      const note = cleanup();
      if (note) notes.push(note);
    } catch {
      // One cleanup failing must not keep the others from running, nor the process from exiting.
    }
  }
  process.stderr.write(`imgpipe: interrupted by ${signal}${notes.length > 0 ? `: ${notes.join('; ')}` : ''}\n`);
  process.exit(ExitCode.interrupted);
}

/**
 * Lets a signal that came during synchronous work (a long query) reach its listener now. Node
 * hears signals in the event loop's poll phase; one setImmediate can run before the next poll
 * (when awaited from an I/O callback), two always have one between them.
 */
export async function letSignalsIn(): Promise<void> {
  await yieldToEvents();
  await yieldToEvents();
}

/** Called once, before the command line is parsed: from then on no signal kills the process outright. */
export function stopAtOnceOnSignals(): void {
  process.on('SIGINT', stopAtOnce);
  process.on('SIGTERM', stopAtOnce);
}

/** Runs `cleanup` if a signal stops the command at once; the returned function unregisters it. */
export function onInterrupt(cleanup: Cleanup): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

export type StopHandler = (signal: NodeJS.Signals) => void;
export type ExitHook = (code: number) => void;

export class Interruption {
  private received: NodeJS.Signals | undefined;
  private count = 0;
  private handler: StopHandler | undefined;
  private handled = false;
  private exitHook: ExitHook | undefined;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.count += 1;
    // A second signal: the person (or the orchestrator) means it. The exit hook still gives back what the command holds.
    if (this.count > 1) process.exit(ExitCode.interrupted);
    this.received = signal;
    this.deliver();
  };

  private disposed = false;

  constructor() {
    ordered += 1;
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

  /**
   * Runs `hook` if the process exits before `dispose`: a second signal (or an error in a timer)
   * exits at once, skipping every catch and finally, and what the command holds (its ledger's
   * lock, an open transaction) must still be given back. Ledger calls are synchronous, so a hook
   * can. One hook per interruption.
   */
  atExit(hook: ExitHook): void {
    this.exitHook = hook;
    process.once('exit', hook);
  }

  private deliver(): void {
    if (!this.received || !this.handler || this.handled) return;
    this.handled = true;
    this.handler(this.received);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    ordered -= 1;
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    if (this.exitHook) process.off('exit', this.exitHook);
  }
}
