/** `imgpipe status`: where a ledger stands. */
import { Command } from 'commander';
import { counted, dbOption, examples, formatTable } from './common.js';

export function statusCommand(): Command {
  return new Command('status')
    .summary('per task: pending, running, done, failed; failures by code; duplicates; the last run')
    .addOption(dbOption())
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples(['imgpipe status', 'imgpipe status --db shard-3.db --json']))
    .action(async (flags: { db: string; json?: boolean }) => {
      const { Ledger } = await import('../pipeline/ledger.js');
      const queries = await import('../pipeline/ledger-queries.js');
      const ledger = Ledger.openForRead(flags.db);
      try {
        const tasks = queries.taskStateCounts(ledger.db);
        const failures = queries.failureGroups(ledger.db, 10, 3);
        const duplicates = queries.duplicateGroups(ledger.db, 5);
        const run = queries.lastRun(ledger.db);
        const images = queries.imageCount(ledger.db);
        const counts = run?.counts ? (JSON.parse(run.counts) as { jobsPerSecond?: number; jobs?: { done: number; failed: number } }) : undefined;
        const lastRun = run && {
          id: run.id,
          status: run.status,
          startedAt: run.startedAt,
          endedAt: run.endedAt,
          durationSeconds: run.durationMs === null ? null : Math.round(run.durationMs / 100) / 10,
          jobsPerSecond: counts?.jobsPerSecond ?? null,
          jobs: counts?.jobs ?? null,
          shard: run.shard,
          host: run.host,
          argv: JSON.parse(run.argv) as string[],
        };
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ db: flags.db, images, tasks, failures, duplicates, lastRun }, null, 2)}\n`);
          return;
        }
        const out: string[] = [`ledger ${flags.db}: ${images} images`];
        out.push(tasks.length ? formatTable(['task', 'pending', 'running', 'done', 'failed'], tasks.map((t) => [t.task, t.pending, t.running, t.done, t.failed])) : 'no jobs yet');
        if (failures.length) {
          out.push('', 'failures by code:');
          for (const group of failures) {
            out.push(`  ${group.task} ${group.code}: ${group.count}`);
            for (const example of group.examples) out.push(`    ${example.path}: ${example.message}`);
          }
        }
        if (duplicates.groups > 0) {
          out.push('', `exact duplicates (same sha256): ${counted(duplicates.groups, 'group')}, ${counted(duplicates.images, 'image')}`);
          for (const group of duplicates.top) out.push(`  ${group.sha256.slice(0, 12)}: ${group.keys.slice(0, 5).join(', ')}${group.keys.length > 5 ? `, ... (${group.keys.length})` : ''}`);
        }
        if (lastRun) {
          const took = lastRun.durationSeconds !== null ? `${lastRun.durationSeconds} s` : lastRun.status === 'running' ? 'still running or stopped abruptly' : 'end unknown';
          const rate = lastRun.jobsPerSecond === null ? '' : `, ${lastRun.jobsPerSecond} jobs/s`;
          out.push('', `last run: #${lastRun.id} ${lastRun.status}, started ${lastRun.startedAt}, ${took}${rate}${lastRun.shard ? `, shard ${lastRun.shard}` : ''} on ${lastRun.host}`);
        }
        process.stdout.write(`${out.join('\n')}\n`);
      } finally {
        ledger.close();
      }
    });
}
