/** `imgpipe merge`: union shard ledgers into one. */
import { Command } from 'commander';
import { existsSync, rmSync } from 'node:fs';
import { parsePath } from '../validate.js';
import { counted, examples } from './common.js';

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
        '(image, task, version), it exits 2 and the target is left as it was.',
      ]),
    )
    .action(async (target: string, shards: string[], flags: { json?: boolean }) => {
      parsePath('merge <target>', target, 'a ledger file');
      for (const shard of shards) parsePath('merge <shards...>', shard, 'a ledger file');
      const { Ledger } = await import('../pipeline/ledger.js');
      const { mergeLedgers, openSources } = await import('../pipeline/merge.js');
      const sources = openSources(target, shards);
      // A refused merge into a new target leaves no file behind, as it leaves an old one as it was.
      const created = !existsSync(target);
      try {
        const ledger = Ledger.openForWrite(target, { argument: 'merge' });
        try {
          ledger.acquireLock();
          const report = mergeLedgers(ledger, sources);
          if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
          else {
            for (const source of report.sources) process.stdout.write(`merged ${source.file}: ${counted(source.images, 'image')}, ${counted(source.jobs, 'job')}, ${counted(source.runs, 'run')}\n`);
            process.stdout.write(`${target}: ${counted(report.images, 'image')} and ${counted(report.jobs, 'job')} merged from ${counted(report.sources.length, 'ledger')}\n`);
          }
        } finally {
          ledger.close();
        }
      } catch (error) {
        if (created) for (const suffix of ['', '-wal', '-shm']) rmSync(`${target}${suffix}`, { force: true });
        throw error;
      } finally {
        for (const source of sources) source.close();
      }
    });
}
