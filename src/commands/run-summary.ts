/** The end-of-run summary, for people (text) and for the ledger's runs table (counts). */
import type { RunSettings } from './run-settings.js';
import type { SchedulerResult } from '../pipeline/scheduler.js';
import { formatShard } from '../pipeline/shard.js';
import { counted, formatTable } from './common.js';

export interface RunReport {
  runId: number;
  durationMs: number;
  /** Time the main thread (scanning, ledger, scheduling, progress) was busy: the engine's own cost. */
  mainThreadBusyMs: number;
  settings: RunSettings;
  result: SchedulerResult;
  /** `--fail-on` tasks: how many of this run's images each flagged. */
  flagged: Record<string, number>;
  scanProblems: number;
  maxRssMb: number;
}

export function runCounts(report: RunReport) {
  const tasks = report.result.tasks;
  const sum = (field: keyof (typeof tasks)[string]) => Object.values(tasks).reduce((total, c) => total + c[field], 0);
  const settled = sum('done') + sum('failed');
  return {
    runId: report.runId,
    status: report.result.interrupted ? 'interrupted' : 'completed',
    durationMs: report.durationMs,
    mainThreadBusyMs: report.mainThreadBusyMs,
    shard: formatShard(report.settings.shard),
    images: { ...report.result.images, scanProblems: report.scanProblems },
    jobs: { done: sum('done'), failed: sum('failed'), retries: sum('retries'), alreadyDone: sum('alreadyDone'), alreadyFailed: sum('alreadyFailed') },
    jobsPerSecond: Math.round((settled / Math.max(report.durationMs / 1000, 0.001)) * 10) / 10,
    maxRssMb: report.maxRssMb,
    flagged: report.flagged,
    failures: Object.fromEntries(Object.entries(report.result.failures).map(([code, { count }]) => [code, count])),
    tasks,
  };
}

export function printRunSummary(report: RunReport, out: NodeJS.WritableStream): void {
  const counts = runCounts(report);
  const seconds = (report.durationMs / 1000).toFixed(1);
  const lines: string[] = [];
  const { images } = report.result;
  const shard = report.settings.shard ? ` (shard ${formatShard(report.settings.shard)}: ${images.inShard} of ${counted(images.scanned, 'image')})` : ` (${counted(images.inShard, 'image')})`;
  lines.push(`imgpipe: run ${report.runId} ${counts.status} in ${seconds} s${shard}`);
  lines.push(
    formatTable(
      ['task', 'done', 'failed', 'retries', 'already done', 'already failed'],
      Object.entries(report.result.tasks).map(([name, c]) => [name, c.done, c.failed, c.retries, c.alreadyDone, c.alreadyFailed]),
    )
      .split('\n')
      .map((line) => `  ${line}`)
      .join('\n'),
  );
  const settled = counts.jobs.done + counts.jobs.failed;
  if (images.inShard === 0 && !report.result.interrupted) {
    lines.push(report.settings.shard ? `Nothing to do: none of the ${counted(images.scanned, 'image')} falls in shard ${formatShard(report.settings.shard)}.` : 'Nothing to do: the inputs hold no images.');
  } else if (settled === 0 && !report.result.interrupted) {
    const retryHint = counts.jobs.alreadyFailed > 0 ? `, --retry-failed to retry the ${counts.jobs.alreadyFailed} failed` : '';
    lines.push(`Nothing to do: all ${counted(counts.jobs.alreadyDone + counts.jobs.alreadyFailed, 'job')} were already settled (--force redoes them${retryHint}).`);
  } else {
    lines.push(`${counted(settled, 'job')} in ${seconds} s (${counts.jobsPerSecond} jobs/s); peak memory ${report.maxRssMb} MB.`);
  }
  const failed = counts.jobs.failed + counts.jobs.alreadyFailed;
  const byCode = Object.entries(report.result.failures).sort(([, a], [, b]) => b.count - a.count);
  if (byCode.length > 0) lines.push(`Failed in this run: ${byCode.map(([code, { count }]) => `${code} ${count}`).join(', ')}.`);
  const write = report.result.failures.E_WRITE;
  // Unlike a bad image, this is the machine's or the command's problem (a full disk, permissions,
  // an --out over the inputs): say it plainly; the example says which.
  if (write) lines.push(`${counted(write.count, 'job')} could not write their artefacts under --out ${report.settings.out} (disk full, not writable, or an artefact that would replace its own input?), e.g. ${write.example}`);
  if (failed > 0) lines.push(`${counted(failed, 'job')} failed: imgpipe status --db ${report.settings.db} shows why; imgpipe export --state failed lists them.`);
  if (images.duplicateKeys > 0) lines.push(`${images.duplicateKeys === 1 ? '1 image was' : `${images.duplicateKeys} images were`} skipped because another path had the same key (see the warnings).`);
  if (report.scanProblems > 0) lines.push(`${report.scanProblems === 1 ? '1 manifest entry or folder' : `${report.scanProblems} manifest entries or folders`} could not be read (see the warnings).`);
  for (const [task, count] of Object.entries(report.flagged)) {
    if (count > 0) lines.push(`${counted(count, 'image')} flagged by ${task} (--fail-on ${task}: exit 3); imgpipe export --task ${task} shows which.`);
  }
  if (report.result.interrupted) lines.push('Interrupted: run the same command again to finish.');
  out.write(`${lines.join('\n')}\n`);
}
