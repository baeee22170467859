/** `imgpipe merge`: union shard ledgers into one. */
import { Command } from 'commander';
import { existsSync, rmSync } from 'node:fs';
import { parsePath } from '../validate.js';
import type { Ledger } from '../pipeline/ledger.js';
import { counted, examples } from './common.js';
import { Interruption, letSignalsIn } from './interruption.js';

function removeLedger(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
}

export function mergeCommand(): Command {
  return new Command('merge')
    .summary('union shard ledgers into one (refuses ledgers that disagree)')
    .argument('<target>', 'ledger to merge into (created if missing)')
    .argument('<shards...>', 'ledgers to merge from')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      examples([
        'imgpipe merge all.db shard-1.db shard-2.db shard-3.db',
        'imgpipe merge all.db shards/*.db && imgpipe status --db all.db',
        '',
        'The merge is all or nothing: when two ledgers hold different done results for the same',
        '(image, task, version), it exits 2 and the target is left as it was; stopped by Ctrl-C or',
        'SIGTERM, it exits 130 and the target is left as it was too.',
      ]),
    )
    .action(async (target: string, shards: string[], flags: { json?: boolean }) => {
      parsePath('merge <target>', target, 'a ledger file');
      for (const shard of shards) parsePath('merge <shards...>', shard, 'a ledger file');
      const { Ledger: LedgerClass } = await import('../pipeline/ledger.js');
      const { mergeLedgers, openSources } = await import('../pipeline/merge.js');
      // From here a signal stops the merge in order: rolled back, lock released, exit 130.
      const interruption = new Interruption();
      const stop = new AbortController();
      interruption.onStop((signal) => stop.abort(signal));
      let sources: Ledger[] = [];
      // A refused or interrupted merge into a new target leaves no file behind, as it leaves an old one as it was.
      const created = !existsSync(target);
      let ledger: Ledger | undefined;
      // A second signal exits at once: the merge is rolled back all the same (by SQLite), the lock released here.
      interruption.atExit(() => {
        if (!ledger?.db.open) return;
        try {
          if (ledger.db.inTransaction) {
            ledger.db.exec('ROLLBACK');
            process.stderr.write(`imgpipe: merge interrupted by ${interruption.signal}: nothing was merged, ${target} is as it was\n`);
          }
          ledger.close();
        } catch {
          // As after a kill: the lock goes stale.
        }
        if (created) removeLedger(target);
      });
      try {
        sources = openSources(target, shards);
        ledger = LedgerClass.openForWrite(target, { argument: 'merge' });
        try {
          ledger.acquireLock();
          const report = await mergeLedgers(ledger, sources, stop.signal);
          if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
          else {
            for (const source of report.sources) process.stdout.write(`merged ${source.file}: ${counted(source.images, 'image')}, ${counted(source.jobs, 'job')}, ${counted(source.runs, 'run')}\n`);
            process.stdout.write(`${target}: ${counted(report.images, 'image')} and ${counted(report.jobs, 'job')} merged from ${counted(report.sources.length, 'ledger')}\n`);
          }
        } finally {
          ledger.close();
        }
        // A signal taken after the commit finds the merge done: it ends as merged (exit 0), not as interrupted.
        await letSignalsIn();
      } catch (error) {
        if (created) removeLedger(target);
        throw error;
      } finally {
        for (const source of sources) source.close();
        interruption.dispose();
      }
    });
}
