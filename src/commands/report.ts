/** `imgpipe report --html DIR`: a static report of a ledger, to look at rather than read. */
import { Command, Option } from 'commander';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { invalid, parseInteger, parsePath } from '../validate.js';
import { dbOption, examples } from './common.js';
import { onInterrupt } from './interruption.js';

interface Flags {
  db: string;
  html?: string;
  out: string;
  thumbSize: string;
  previewSize: string;
  threads?: string;
  json?: boolean;
}

export function reportCommand(): Command {
  return new Command('report')
    .summary('write a static HTML report: summary, filterable gallery, image pages with overlays')
    .description(
      'Writes a self-contained HTML report of a ledger into a folder (open its index.html from disk: no server, no network): ' +
        'a summary (counts per task and state, throughput, failures by code, label and class histograms, duplicate groups), ' +
        'a gallery filterable by task, state, label, object class, logo, NSFW verdict, face count and OCR text, and a page per ' +
        'image with the results drawn over it. Thumbnails are made once and reused by later reports into the same folder. ' +
        'The folder must be missing, empty or an earlier report: any other non-empty folder is refused (exit 2), so nothing of yours is overwritten.',
    )
    .addOption(new Option('--html <dir>', 'the report folder: created if missing; an earlier report there is rewritten; any other non-empty folder is refused'))
    .addOption(dbOption())
    .addOption(new Option('--out <dir>', "where the run wrote its artefacts (run's --out), for anonymised copies and cut-outs").default('./imgpipe-out').argParser((value: string) => parsePath('--out', value, 'a folder path')))
    .addOption(new Option('--thumb-size <px>', 'longest side of gallery thumbnails (64-1024)').default('256'))
    .addOption(new Option('--preview-size <px>', 'longest side of the pictures on image pages (256-4096)').default('1024'))
    .addOption(new Option('--threads <n>', 'pictures made at once (default: the number of cores)'))
    .option('--json', 'print what was written as JSON')
    .addHelpText(
      'after',
      examples([
        'imgpipe report --html report/                       # then open report/index.html',
        'imgpipe run ./photos --tasks anonymize,objects,ocr,nsfw --out out && imgpipe report --html report --out out',
        'imgpipe report --html shard-3-report --db shard-3.db --thumb-size 192 --preview-size 800',
      ]),
    )
    .action(async (flags: Flags) => {
      const html = parsePath('--html', flags.html, 'the folder to write the report to');
      const thumb = parseInteger('--thumb-size', flags.thumbSize, 64, 1024);
      const preview = parseInteger('--preview-size', flags.previewSize, 256, 4096);
      const threads = flags.threads === undefined ? availableParallelism() : parseInteger('--threads', flags.threads, 1, 256);
      if (preview < thumb) throw invalid('--preview-size', `at least --thumb-size (${thumb})`, flags.previewSize);
      const dir = path.resolve(html);
      const { reportFolderProblem, buildReport } = await import('../report/build.js');
      const problem = reportFolderProblem(dir);
      if (problem) throw new UsageError(`--html: ${problem}`);
      const { Ledger } = await import('../pipeline/ledger.js');
      const ledger = Ledger.openForRead(flags.db);
      const started = performance.now();
      // Stopped half-way, the folder has no data/summary.js (written last), so its pages say they cannot load rather than show part of the ledger as all of it.
      const unregister = onInterrupt(() => `the report in ${html} is incomplete; run imgpipe report again`);
      try {
        const summary = await buildReport(ledger, { ledgerName: path.basename(flags.db), dir, out: path.resolve(flags.out), sizes: { thumb, preview }, threads });
        const seconds = Math.round((performance.now() - started) / 100) / 10;
        const index = path.join(dir, 'index.html');
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ index, images: summary.images, pictures: summary.pictures, seconds })}\n`);
        } else {
          const { made, reused, failed } = summary.pictures;
          process.stdout.write(`report of ${summary.images} images in ${seconds} s: ${index}\npictures: ${made} made, ${reused} up to date, ${failed} could not be made (shown as placeholders)\n`);
        }
        if (summary.pictures.missingArtefacts > 0) {
          process.stderr.write(`imgpipe: warning: ${summary.pictures.missingArtefacts} artefacts the ledger names are not under ${flags.out}; pass the run's --out to show anonymised copies and cut-outs\n`);
        }
      } finally {
        unregister();
        ledger.close();
      }
    });
}
