/**
 * imgpipe's benchmark harness: `npm run bench [-- options]` (builds first, then runs this).
 *
 *   --suite NAME[,NAME]  suites to run (default: all of them)
 *   --sizes N[,N...]     image counts for the engine suite (default 1000,10000)
 *   --repeat N           runs per figure: the median is reported with [min–max] (default 3)
 *   --threads N          thread budget passed to `imgpipe run --threads` (default: imgpipe's own, the cores)
 *   --out FILE           the report (default BENCHMARKS.md in the repository root)
 *   --results FILE       the raw numbers (default bench/results.json)
 *   --render-only        run nothing: regenerate the report from the results file
 *   --install-peers      first install the peer tools the preprocess and ocr-peers suites compare
 *                        against (apt-get: tesseract-ocr imagemagick libvips-tools parallel time;
 *                        npm into bench/.peers/: sharp-cli), none of which imgpipe needs. Without
 *                        them those rows say "skipped" with this command.
 *
 * Suites: every .js file in bench/suites/ is one, default-exporting
 *   { name, title, defaults?, run(context) -> data, render(entry) -> markdown, reproduce?(entry) -> command }
 * and is picked up by that alone (adding a suite = adding a file). `context.workDir` is the
 * suite's own scratch folder, bench/.work/<name>/, empty at the start and removed after a
 * successful run (kept after a failure, to look at). `reproduce` defaults to
 * `npm run bench -- --suite NAME --repeat N`. Results are kept per suite
 * in the results file and the whole report is regenerated from all of them, so re-running one
 * suite leaves the others' sections as they were.
 *
 * Progress goes to stderr. Exits 1 when a measured command fails (the report is not touched
 * for that suite), 2 on a usage error.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BenchFailure, describeMachine, log, ROOT_DIR } from './lib.js';
import { installPeers } from './peers.js';

const SUITES_DIR = new URL('./suites/', import.meta.url);
const RESULTS_VERSION = 1;

function usage(message) {
  process.stderr.write(`bench: ${message}\nusage: npm run bench -- [--suite NAME] [--sizes N,N] [--repeat N] [--threads N] [--out FILE] [--results FILE] [--render-only] [--install-peers]\n`);
  process.exit(2);
}

function positiveInteger(flag, raw) {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) usage(`${flag}: expected a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

/** Every suite in bench/suites/, in a stable order (file name). */
export async function loadSuites() {
  const files = (await readdir(SUITES_DIR)).filter((name) => name.endsWith('.js')).sort();
  const suites = [];
  for (const file of files) {
    const suite = (await import(new URL(file, SUITES_DIR).href)).default;
    for (const field of ['name', 'title', 'run', 'render']) {
      if (!suite?.[field]) throw new Error(`bench/suites/${file}: the default export has no ${field}`);
    }
    suite.reproduce ??= (entry) => `npm run bench -- --suite ${suite.name} --repeat ${entry.settings.repeat}`;
    suites.push(suite);
  }
  return suites;
}

async function readJson(file, fallback) {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    if (error.code === 'ENOENT') return fallback;
    throw new Error(`${file}: ${error.message}`);
  }
}

// ---- the report ---------------------------------------------------------------------------------------

const sectionStart = (name) => `<!-- bench:suite ${name} -->`;
const sectionEnd = (name) => `<!-- /bench:suite ${name} -->`;

/** Suite sections of an existing report, by name, to keep those that results.json does not know. */
function existingSections(markdown) {
  const sections = new Map();
  const pattern = /<!-- bench:suite (\S+) -->[\s\S]*?<!-- \/bench:suite \1 -->/g;
  for (const match of markdown.matchAll(pattern)) sections.set(match[1], match[0]);
  return sections;
}

function machineLine(machine) {
  return `${machine.cores} cores (${machine.cpuModel}), ${machine.totalMemoryGiB} GiB, Node ${machine.node}, load average ${machine.loadAverageAtStart.join(' / ')} at the start`;
}

function machineList(machine) {
  const packages = Object.entries(machine.packages).map(([name, version]) => `${name} ${version}`).join(', ');
  return [
    `- Cores (os.availableParallelism): ${machine.cores}`,
    `- CPU: ${machine.cpuModel}`,
    `- Memory: ${machine.totalMemoryGiB} GiB`,
    `- OS: ${machine.platform}`,
    `- Node: ${machine.node}`,
    `- Packages: ${packages}`,
    ...(machine.peers ? [`- Peer tools: ${Object.entries(machine.peers).map(([name, version]) => `${name} ${version}`).join(', ')} (\`npm run bench -- --install-peers\`)`] : []),
    `- imgpipe: ${machine.imgpipe}, revision ${machine.revision}`,
    `- Load average (1 / 5 / 15 min) when the run started: ${machine.loadAverageAtStart.join(' / ')} — other work may share the machine, hence medians and same-run baselines`,
  ].join('\n');
}

/**
 * From this commit on, imgpipe and the bare loops report their own peak RSS (VmHWM). Before it
 * they reported getrusage's maxrss, which on Linux keeps the parent's resident size at the fork:
 * every Node process the harness spawned reported at least the harness's own size then.
 */
const OWN_PEAK_RSS_SINCE = '763ce6e';

function reportsOwnPeakRss(revision) {
  try {
    execFileSync('git', ['merge-base', '--is-ancestor', OWN_PEAK_RSS_SINCE, String(revision).split(' ')[0]], { cwd: ROOT_DIR, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const INHERITED_RSS_CAVEAT =
  '**Peak RSS in this section is not reliable:** it was measured before imgpipe and the bare loops read their own peak (VmHWM). Their figures then also counted the bench harness\'s size when it spawned them (about 250-400 MB), so any RSS up to that size is a floor, not a measurement, and differences between such figures (memory per extra worker) may be understated. Peer tools, measured by GNU time, are not affected. Times and ratios are.';

function renderReport(suites, results, previous, resultsName) {
  const entries = Object.values(results.suites);
  const latest = entries.reduce((a, b) => (a && a.date > b.date ? a : b), undefined);
  const lines = ['# imgpipe benchmarks', '', `Generated ${new Date().toISOString()} by \`npm run bench\` (bench/run.js); raw numbers in \`${resultsName}\`.`, ''];
  if (latest) {
    lines.push(`## Machine (latest run, ${latest.date})`, '', machineList(latest.machine), '');
  }
  lines.push(
    '## How to reproduce',
    '',
    '```sh',
    'npm ci                 # once',
    'npm run bench -- --install-peers   # once, optional: tesseract, ImageMagick, vipsthumbnail, GNU parallel (apt), sharp-cli (bench/.peers)',
    'npm run bench          # every suite, default sizes, 3 repeats',
    ...suites.map((suite) => (results.suites[suite.name] ? `${suite.reproduce(results.suites[suite.name])}` : `npm run bench -- --suite ${suite.name}`)),
    '```',
    '',
    'The corpora are generated once (deterministically) under `bench/.corpus/`; ledgers and outputs of the measured runs go to `bench/.work/` and are removed afterwards.',
    '',
  );
  const known = new Set();
  for (const suite of suites) {
    known.add(suite.name);
    const entry = results.suites[suite.name];
    if (entry) {
      const body = suite.render(entry);
      // Only sections that show an RSS figure get the caveat; the others have nothing it applies to.
      const caveat = /RSS/.test(body) && !reportsOwnPeakRss(entry.machine.revision) ? [INHERITED_RSS_CAVEAT, ''] : [];
      lines.push(
        sectionStart(suite.name),
        `## ${suite.title}`,
        '',
        `Measured ${entry.date} on ${machineLine(entry.machine)}, imgpipe ${entry.machine.imgpipe} at ${entry.machine.revision}. Reproduce: \`${suite.reproduce(entry)}\``,
        '',
        ...caveat,
        body,
        sectionEnd(suite.name),
        '',
      );
    } else if (previous.has(suite.name)) {
      lines.push(previous.get(suite.name), '');
    }
  }
  // Sections of suites this checkout does not have (removed or renamed) stay as they were.
  for (const [name, text] of previous) if (!known.has(name)) lines.push(text, '');
  return `${lines.join('\n').trimEnd()}\n`;
}

// ---- main -------------------------------------------------------------------------------------------------

async function main() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        suite: { type: 'string' },
        sizes: { type: 'string' },
        repeat: { type: 'string', default: '3' },
        threads: { type: 'string' },
        out: { type: 'string', default: 'BENCHMARKS.md' },
        results: { type: 'string', default: 'bench/results.json' },
        'render-only': { type: 'boolean' },
        'install-peers': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    usage(error.message);
  }
  if (parsed.help) {
    process.stdout.write((await readFile(new URL(import.meta.url), 'utf8')).split('*/')[0].replace(/^\/\*\*\n/, '').replace(/^ \* ?/gm, ''));
    return 0;
  }
  const suites = await loadSuites();
  const names = parsed.suite ? parsed.suite.split(',').map((s) => s.trim()).filter(Boolean) : suites.map((s) => s.name);
  for (const name of names) {
    if (!suites.some((s) => s.name === name)) usage(`--suite: no suite '${name}' (suites: ${suites.map((s) => s.name).join(', ')})`);
  }
  const repeat = positiveInteger('--repeat', parsed.repeat);
  const threads = parsed.threads === undefined ? undefined : positiveInteger('--threads', parsed.threads);
  const sizes = parsed.sizes === undefined ? undefined : parsed.sizes.split(',').map((raw) => positiveInteger('--sizes', raw.trim()));
  const out = path.resolve(ROOT_DIR, parsed.out);
  const resultsFile = path.resolve(ROOT_DIR, parsed.results);

  const results = await readJson(resultsFile, { version: RESULTS_VERSION, suites: {} });
  results.suites ??= {};
  const previous = existsSync(out) ? existingSections(await readFile(out, 'utf8')) : new Map();

  if (parsed['render-only']) {
    await writeFile(out, renderReport(suites, results, previous, path.relative(path.dirname(out), resultsFile)));
    log(`wrote ${path.relative(ROOT_DIR, out)} from ${path.relative(ROOT_DIR, resultsFile)} (${Object.keys(results.suites).join(', ') || 'no suites'})`);
    return 0;
  }
  if (parsed['install-peers']) installPeers();
  if (!existsSync(path.join(ROOT_DIR, 'dist', 'cli.js'))) {
    throw new BenchFailure('dist/ is missing: run `npm run build` first (`npm run bench` does it)');
  }
  for (const name of names) {
    const workDir = path.join(ROOT_DIR, 'bench', '.work', name);
    await rm(workDir, { recursive: true, force: true });
    await mkdir(workDir, { recursive: true });
    const suite = suites.find((s) => s.name === name);
    const machine = describeMachine();
    const context = {
      sizes: sizes ?? suite.defaults?.sizes,
      repeat,
      threads,
      workDir,
    };
    log(`suite ${name}: ${suite.title} (repeat ${repeat}${context.sizes ? `, sizes ${context.sizes.join(',')}` : ''})`);
    const started = performance.now();
    const data = await suite.run(context);
    await rm(workDir, { recursive: true, force: true });
    const date = new Date().toISOString();
    results.suites[name] = { suite: name, title: suite.title, date, durationSeconds: Math.round((performance.now() - started) / 100) / 10, machine, ...data };
    results.version = RESULTS_VERSION;
    await mkdir(path.dirname(resultsFile), { recursive: true });
    await writeFile(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
    await writeFile(out, renderReport(suites, results, previous, path.relative(path.dirname(out), resultsFile)));
    log(`suite ${name}: done in ${results.suites[name].durationSeconds} s; wrote ${path.relative(ROOT_DIR, out)} and ${path.relative(ROOT_DIR, resultsFile)}`);
  }
  return 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  if (error instanceof BenchFailure) {
    log(`FAILED: ${error.message}`);
  } else {
    log(`FAILED (harness error): ${error?.stack ?? error}`);
  }
  process.exitCode = 1;
}
