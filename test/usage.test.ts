/** Usage errors exit 2 naming the problem, before any work and before the ledger is touched. */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { cli, FIXTURES, scratch } from './helpers.js';

describe('usage errors', () => {
  const photos = path.join(FIXTURES, 'colours');
  const cases: [string, string[], RegExp][] = [
    ['unknown task', ['--tasks', 'meta,ocrr'], /unknown task 'ocrr'/],
    ['unknown flag', ['--bogus'], /unknown option '--bogus'/],
    ['bad shard', ['--shard', '9/8'], /--shard: expected I\/N/],
    ['shard and shard-count', ['--shard', '1/2', '--shard-count', '2'], /--shard and --shard-count exclude each other/],
    ['shard-count without an index', ['--shard-count', '4'], /JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX/],
    ['bad concurrency', ['--concurrency', 'meta=zero'], /--concurrency \(meta\): expected an integer from 1 to 256, got "zero"/],
    ['concurrency for a task not in the run', ['--concurrency', 'preprocess=2'], /--concurrency: task 'preprocess' is not part of this run/],
    ['bad task option', ['--tasks', 'preprocess', '--preprocess-quality', '200'], /--preprocess-quality: expected an integer from 1 to 100, got "200"/],
    ['bad enum option', ['--tasks', 'preprocess', '--preprocess-format', 'bmp'], /--preprocess-format: expected one of jpeg, png, webp, avif, same, got "bmp"/],
    ['option of a task not in the run', ['--preprocess-quality', '80'], /--preprocess-quality is an option of task 'preprocess', which is not part of this run/],
    ['bad timeout', ['--timeout', 'meta=-1'], /--timeout \(meta\): expected a number/],
    // Number() would read these as 16 and 2: flags take plain decimal numbers.
    ['hexadecimal timeout', ['--timeout', 'meta=0x10'], /--timeout \(meta\): expected a number from 0.1 to 86400, got "0x10"/],
    ['binary timeout', ['--timeout', 'meta=0b10'], /--timeout \(meta\): expected a number from 0.1 to 86400, got "0b10"/],
    ['timeout with a unit', ['--timeout', 'meta=5s'], /--timeout \(meta\): expected a number from 0.1 to 86400, got "5s"/],
    ['empty --db', ['--db', ''], /--db: expected a file path, got ""/],
    ['empty --out', ['--out', ''], /--out: expected a folder path, got ""/],
    ['empty --labels-from', ['--tasks', 'labels', '--labels-from', ''], /--labels-from: expected a folder path, got ""/],
    ['bad max-pixels', ['--max-pixels', '0'], /--max-pixels: expected an integer from 1 up, got "0"/],
    // Tesseract's mode 0 detects orientation and script only: every image would be "done, no text".
    ['ocr psm 0', ['--tasks', 'ocr', '--ocr-psm', '0'], /--ocr-psm: expected an integer from 1 to 13, got "0"/],
  ];
  for (const [name, flags, message] of cases) {
    it(`${name}: exit 2 with a clear message, no ledger created`, async () => {
      const work = scratch();
      const db = path.join(work, 'ledger.db');
      const result = await cli(['run', photos, '--db', db, ...flags], { env: { JOB_COMPLETION_INDEX: '', AWS_BATCH_JOB_ARRAY_INDEX: '' } });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(existsSync(db)).toBe(false);
    });
  }

  // Commander finds these itself; they must read (and exit) as every other usage error does.
  it("the parser's own errors, on the program and every sub-command: exit 2, 'imgpipe: error:', the help hint, nothing on stdout; no command: the help on stderr, exit 2", async () => {
    const cases: [string[], string][] = [
      [['--foo'], "unknown option '--foo'"],
      [['frob'], "unknown command 'frob'"],
      [['status', '--foo'], "unknown option '--foo'"],
      [['run', photos, '--bogus'], "unknown option '--bogus'"],
      [['merge'], "missing required argument 'target'"],
      [['merge', 'all.db'], "missing required argument 'shards'"],
      [['export', '--format'], "option '--format <format>' argument missing"],
      [['models', 'verify', '--bogus'], "unknown option '--bogus'"],
      [['report', '--html'], "option '--html <dir>' argument missing"],
    ];
    for (const [args, message] of cases) {
      const result = await cli(args);
      expect({ args, code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({
        args,
        code: 2,
        stdout: '',
        stderr: expect.stringMatching(new RegExp(`^imgpipe: error: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n(.*\n)?\\(add --help for usage\\)\n$`)),
      });
    }
    // Help and version are not errors: stdout, exit 0.
    const version = await cli(['--version']);
    expect({ code: version.code, stderr: version.stderr }).toEqual({ code: 0, stderr: '' });
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    const help = await cli(['status', '--help']);
    expect({ code: help.code, stderr: help.stderr }).toEqual({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: imgpipe status/);
    for (const asked of [['--help'], ['help']]) {
      const programHelp = await cli(asked);
      expect({ asked, code: programHelp.code, stderr: programHelp.stderr }).toEqual({ asked, code: 0, stderr: '' });
      expect(programHelp.stdout).toMatch(/^Usage: imgpipe \[options\] \[command\]\n[^]*Examples:/);
    }
    // No command, or help for one that does not exist: the help on stderr, as a usage error.
    for (const incomplete of [[], ['help', 'frob']]) {
      const shown = await cli(incomplete);
      expect({ incomplete, code: shown.code, stdout: shown.stdout }).toEqual({ incomplete, code: 2, stdout: '' });
      expect(shown.stderr).toMatch(/^Usage: imgpipe \[options\] \[command\]\n[^]*Commands:\n[^]*Examples:/);
    }
  });

  it('a missing input, no input, or a bad config file: exit 2 before the ledger', async () => {
    const work = scratch();
    const db = path.join(work, 'ledger.db');
    const missing = await cli(['run', path.join(work, 'nope'), '--db', db]);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringMatching(/input not found: .*nope/)]);
    const none = await cli(['run', '--db', db]);
    expect([none.code, none.stderr]).toEqual([2, expect.stringMatching(/no inputs/)]);
    const config = path.join(work, 'c.json');
    writeFileSync(config, JSON.stringify({ tasks: 'meta', maxAtempts: 3 }));
    const bad = await cli(['run', photos, '--db', db, '--config', config]);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/--config: unknown key 'maxAtempts'/)]);
    writeFileSync(config, '{ not json');
    expect((await cli(['run', photos, '--db', db, '--config', config])).stderr).toMatch(/is not valid JSON/);
    const csv = path.join(work, 'list.csv');
    writeFileSync(csv, 'file,id\na.jpg,1\n');
    expect((await cli(['run', csv, '--db', db])).stderr).toMatch(/its first line must name a 'path' column/);
    expect(existsSync(db)).toBe(false);
  });

  it('numbers in decimal, with an exponent or spaces around, are taken', async () => {
    const work = scratch();
    const db = path.join(work, 'ledger.db');
    const result = await cli(['run', photos, '--db', db, '--timeout', 'meta= 1e3', '--max-pixels', '1e8', '--max-attempts', ' 2 ', '--quiet']);
    expect(result.code, result.stderr).toBe(0);
  });

  it('an empty or mistyped --db or --out, in a config file too, and an empty path to any command: exit 2 naming it, before any work', async () => {
    const work = scratch();
    const config = path.join(work, 'c.json');
    for (const [key, value, expected] of [['db', 5, 'a file path'], ['db', ['a.db'], 'a file path'], ['out', false, 'a folder path'], ['db', '', 'a file path']] as const) {
      writeFileSync(config, JSON.stringify({ [key]: value }));
      const result = await cli(['run', photos, '--config', config], { cwd: work });
      expect([result.code, result.stderr]).toEqual([2, `imgpipe: error: --config ${key}: expected ${expected}, got ${JSON.stringify(value)}\n`]);
    }
    const ledger = path.join(work, 'l.db');
    expect((await cli(['run', photos, '--db', ledger, '--quiet'])).code).toBe(0);
    const commands: [string[], string][] = [
      [['run', ''], 'input: expected a path'],
      [['run', photos, '--config', ''], '--config: expected a JSON file'],
      [['run', photos, '--model-card', ''], '--model-card: expected a card file (JSON)'],
      [['status', '--db', ''], '--db: expected a file path'],
      [['duplicates', '--db', ''], '--db: expected a file path'],
      [['export', '--db', ledger, '--output', ''], '--output: expected a file path'],
      [['report', '--db', ledger, '--html', path.join(work, 'report'), '--out', ''], '--out: expected a folder path'],
      [['report', '--db', ledger, '--html', ''], '--html: expected the folder to write the report to'],
      [['merge', '', ledger], 'merge <target>: expected a ledger file'],
      [['merge', path.join(work, 'all.db'), ''], 'merge <shards...>: expected a ledger file'],
    ];
    for (const [args, message] of commands) {
      const result = await cli(args, { cwd: work });
      expect([result.code, result.stderr], args.join(' ')).toEqual([2, `imgpipe: error: ${message}, got ""\n`]);
    }
    // Nothing was written: no ledger, report, export or artefacts folder, here or in the current folder.
    expect(readdirSync(work).sort()).toEqual(['c.json', 'l.db']);
  });

  it('an unreadable manifest, and a glob whose folder does not exist: exit 2 before the ledger; a glob that matches nothing is a run with nothing to do', async () => {
    const work = scratch();
    // The CLI runs as nobody when the test runs as root, whom permissions do not stop.
    const asRoot = process.getuid?.() === 0;
    chmodSync(work, 0o777);
    const user = asRoot ? { uid: 65534, gid: 65534 } : {};
    const db = path.join(work, 'ledger.db');
    for (const [name, content] of [['m.txt', 'red.png\n'], ['m.jsonl', '{"path": "red.png"}\n'], ['m.csv', 'path\nred.png\n']]) {
      const manifest = path.join(work, name);
      writeFileSync(manifest, content);
      chmodSync(manifest, 0o000);
      const result = await cli(['run', manifest, '--db', db], user);
      expect([result.code, result.stderr]).toEqual([2, expect.stringMatching(new RegExp(`^imgpipe: error: cannot read manifest .*${name}: EACCES`))]);
    }
    const glob = await cli(['run', 'nonexist/*.jpg', '--db', db], { cwd: work });
    expect([glob.code, glob.stderr]).toEqual([2, 'imgpipe: error: input not found: nonexist/*.jpg (no folder nonexist)\n']);
    expect(existsSync(db)).toBe(false);
    const nothing = await cli(['run', `${photos}/*.tiff`, '--db', db]);
    expect([nothing.code, nothing.stdout]).toEqual([0, expect.stringMatching(/\(0 images\)[^]*Nothing to do/)]);
  });

  it('refuses a file that is not a ledger, a ledger from a newer imgpipe, and a ledger in use', async () => {
    const work = scratch();
    const text = path.join(work, 'notes.db');
    writeFileSync(text, 'just some text, certainly not SQLite, long enough to have a header........................................................');
    const notDb = await cli(['run', photos, '--db', text]);
    expect([notDb.code, notDb.stderr]).toEqual([2, expect.stringMatching(/is not an imgpipe ledger/)]);
    expect(readFileSync(text, 'utf8')).toMatch(/^just some text/);

    const newer = path.join(work, 'newer.db');
    const connection = new Database(newer);
    connection.pragma(`application_id = ${0x696d6770}`);
    connection.pragma('user_version = 99');
    connection.exec('CREATE TABLE future (x)');
    connection.close();
    const future = await cli(['status', '--db', newer]);
    expect([future.code, future.stderr]).toEqual([2, expect.stringMatching(/schema version 99, newer than this imgpipe understands/)]);

    const busy = path.join(work, 'busy.db');
    expect((await cli(['run', photos, '--db', busy, '--quiet'])).code).toBe(0);
    const held = new Database(busy);
    held.prepare('INSERT INTO lock (id, host, pid, acquired_at, heartbeat_at) VALUES (1, ?, ?, ?, ?)').run(hostname(), process.pid, new Date().toISOString(), new Date().toISOString());
    held.close();
    const refused = await cli(['run', photos, '--db', busy, '--force']);
    expect([refused.code, refused.stderr]).toEqual([2, expect.stringMatching(new RegExp(`in use by imgpipe process ${process.pid}`))]);

    const missing = await cli(['status', '--db', path.join(work, 'none.db')]);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringMatching(/no ledger at/)]);
    expect((await cli(['export', '--db', busy, '--format', 'xml'])).stderr).toMatch(/--format: expected one of jsonl, csv, got "xml"/);
  });

  it('an empty file as the ledger of a command that reads one: exit 2 saying it is empty (not an old ledger to upgrade), the file left as it was', async () => {
    const work = scratch();
    const empty = path.join(work, 'empty.db');
    writeFileSync(empty, '');
    const commands = [
      ['status', '--db', empty],
      ['export', '--db', empty],
      ['duplicates', '--db', empty],
      ['report', '--db', empty, '--html', path.join(work, 'report')],
    ];
    for (const args of commands) {
      const result = await cli(args);
      expect([result.code, result.stdout, result.stderr], args[0]).toEqual([2, '', `imgpipe: error: ${empty} is empty, not an imgpipe ledger (no run has written it); run imgpipe run with this --db first, or pass another --db\n`]);
    }
    const merge = await cli(['merge', path.join(work, 'all.db'), empty]);
    expect([merge.code, merge.stderr]).toEqual([2, `imgpipe: error: ${empty} is empty, not an imgpipe ledger (no run has written it); name another ledger file\n`]);
    expect(readFileSync(empty, 'utf8')).toBe('');
    // run makes it a ledger, as it would a missing file.
    expect((await cli(['run', photos, '--db', empty, '--quiet'])).code).toBe(0);
    expect((await cli(['status', '--db', empty])).code).toBe(0);
  });

  it('a lock left by a process that died is taken over', async () => {
    const work = scratch();
    const db = path.join(work, 'l.db');
    expect((await cli(['run', photos, '--db', db, '--quiet'])).code).toBe(0);
    const held = new Database(db);
    // pid 2^22 - 1 is beyond Linux's default pid_max: no such process.
    held.prepare('INSERT INTO lock (id, host, pid, acquired_at, heartbeat_at) VALUES (1, ?, ?, ?, ?)').run(hostname(), 4194303, new Date().toISOString(), new Date().toISOString());
    held.close();
    expect((await cli(['run', photos, '--db', db, '--quiet'])).code).toBe(0);
  });
});

describe('flags of the commands that read a ledger', () => {
  /** An exit 2 with one line on stderr, naming the problem, and nothing on stdout. */
  function expectRefused(result: { code: number | null; stdout: string; stderr: string }, message: RegExp): void {
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/^imgpipe: error: [^\n]+\n$/);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  }

  it('export --output where no file can be written: exit 2 naming the path, before the ledger is read', async () => {
    const work = scratch();
    const db = path.join(work, 'l.db');
    expect((await cli(['run', path.join(FIXTURES, 'colours'), '--db', db, '--quiet'])).code).toBe(0);
    expectRefused(await cli(['export', '--db', db, '--output', path.join(work, 'nope', 'x.csv')]), /--output: cannot write .*nope\/x\.csv \(ENOENT/);
    const folder = path.join(work, 'folder');
    mkdirSync(folder);
    expectRefused(await cli(['export', '--db', db, '--output', folder]), /--output: .*folder is a folder; give a file path/);
    // Checked first: the missing ledger is not what is reported.
    expectRefused(await cli(['export', '--db', path.join(work, 'none.db'), '--output', folder]), /--output: .*folder is a folder/);
  });

  it('a --task or --embedding-task that is neither a built-in task nor in the ledger: exit 2 naming it', async () => {
    const work = scratch();
    const db = path.join(work, 'l.db');
    expect((await cli(['run', path.join(FIXTURES, 'colours'), '--db', db, '--quiet'])).code).toBe(0);
    const output = path.join(work, 'out.jsonl');
    expectRefused(await cli(['export', '--db', db, '--task', 'mta', '--output', output]), /--task: unknown task 'mta': .*has no jobs of it \(its tasks: meta\)/);
    expect(existsSync(output)).toBe(false);
    expectRefused(await cli(['duplicates', '--db', db, '--by', 'embedding', '--embedding-task', 'embd']), /--embedding-task: unknown task 'embd'/);

    // A built-in task without jobs here selects nothing; a task this build does not know (a model
    // card's) that the ledger has jobs of is exported.
    expect(await cli(['export', '--db', db, '--task', 'ocr'])).toMatchObject({ code: 0, stdout: '' });
    const connection = new Database(db);
    connection.prepare("INSERT INTO jobs (image_id, task, state, result) SELECT image_id, 'defects', 'done', '{\"top\":\"scratch\"}' FROM jobs").run();
    connection.close();
    const cards = await cli(['export', '--db', db, '--task', 'defects']);
    expect(cards.code, cards.stderr).toBe(0);
    expect(cards.stdout.trim().split('\n').map((line) => JSON.parse(line).result)).toEqual([{ top: 'scratch' }, { top: 'scratch' }]);
  });

  it('report --html under a file: exit 2 naming it, before the ledger is read', async () => {
    const work = scratch();
    const file = path.join(work, 'file');
    writeFileSync(file, '');
    // The ledger does not even exist: the folder is what is reported.
    const result = await cli(['report', '--db', path.join(work, 'none.db'), '--html', path.join(file, 'report')]);
    expectRefused(result, /--html: .*file\/report cannot be created: .*file is a file, not a folder/);
  });
});

describe('help and introspection', () => {
  it('every command has --help with examples', async () => {
    for (const command of [[], ['run'], ['status'], ['export'], ['merge'], ['tasks'], ['models'], ['models', 'verify'], ['duplicates']]) {
      const result = await cli([...command, '--help']);
      expect(result.code, command.join(' ')).toBe(0);
      expect(result.stdout, command.join(' ')).toMatch(/Examples:/);
    }
  });

  it('help reads as sentences: no line of a description stops short mid-paragraph, no empty default', async () => {
    for (const command of [['run'], ['duplicates'], ['report'], ['export']]) {
      const help = (await cli([...command, '--help'])).stdout;
      // The description: between the usage line and the first section.
      const description = help.split('\n\n').slice(1).join('\n\n').split(/\n(?:Arguments|Options):/)[0]!.trim();
      for (const paragraph of description.split('\n\n')) {
        const lines = paragraph.split('\n');
        // Wrapped at 80 columns, every line but a paragraph's last is nearly full: a short one is a hard break left in the text.
        for (const line of lines.slice(0, -1)) expect(line.length, `${command.join(' ')}: "${line}"`).toBeGreaterThan(60);
      }
      expect(help, command.join(' ')).not.toMatch(/\(default: \)/);
    }
    const run = (await cli(['run', '--help'])).stdout.replace(/\s+/g, ' ');
    expect(run).toMatch(/--labels-from <value> labels: folder of examples[^()]*embedding space --/);
    expect(run).toMatch(/--logos-from <value> logos: .*aliases\.txt \(required\) --/);
  });

  it('imgpipe tasks lists each task with version, prerequisites, concurrency and options', async () => {
    const text = await cli(['tasks']);
    expect(text.stdout).toMatch(/^preprocess \(version 1\)/m);
    expect(text.stdout).toMatch(/--preprocess-max-size <integer>/);
    const tasks = JSON.parse((await cli(['tasks', '--json'])).stdout) as { name: string; needs: string[]; concurrency: number; options: { flag: string }[] }[];
    expect(tasks.map((t) => t.name)).toEqual(['preprocess', 'meta', 'nsfw', 'faces', 'anonymize', 'ocr', 'objects', 'embed', 'labels', 'background', 'logos']);
    expect(tasks[1]!.options.map((o) => o.flag)).toContain('--meta-blur-threshold');
    // What run would use on this machine, with the rule: background's cap of 4 is not its pool on 2 cores.
    const threads = availableParallelism();
    const background = tasks.find((t) => t.name === 'background')!;
    expect(background).toMatchObject({ concurrency: Math.min(4, threads), concurrencyRule: 'one per thread, at most 4' });
    expect(tasks.find((t) => t.name === 'preprocess')).toMatchObject({ concurrency: 2 * threads, concurrencyRule: 'two per thread' });
    expect(tasks.find((t) => t.name === 'faces')).toMatchObject({ concurrency: threads, concurrencyRule: 'one per thread' });
    expect(text.stdout).toContain(`default concurrency ${Math.min(4, threads)} (one per thread, at most 4); timeout 300 s`);
    // A required option says so, from its spec (text and JSON); an optional one with no default says "none".
    expect(text.stdout).toMatch(/^  --logos-from <string>  the brand gallery: .*aliases\.txt \(required\)$/m);
    expect(text.stdout).toMatch(/^  --labels-from <string>  folder of examples.*embedding space \(default: none\)$/m);
    const flags = tasks.flatMap((t) => t.options as { flag: string; required?: boolean }[]);
    expect(flags.filter((o) => o.required).map((o) => o.flag)).toEqual(['--logos-from']);
  });

  it('export writes CSV with quoting and JSON lines with results', async () => {
    const work = scratch();
    const db = path.join(work, 'l.db');
    await cli(['run', path.join(FIXTURES, 'broken'), '--db', db, '--quiet']);
    const csvFile = path.join(work, 'out.csv');
    expect((await cli(['export', '--db', db, '--format', 'csv', '--output', csvFile])).code).toBe(0);
    const lines = readFileSync(csvFile, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('key,path,sha256,task,state,attempts,taskVersion,errorCode,errorMessage,startedAt,finishedAt,durationMs,artifacts,result');
    expect(lines).toHaveLength(5);
    expect(lines.find((l) => l.startsWith('good.jpg'))).toMatch(/,"\{""format"":""jpeg""/);
    const failed = (await cli(['export', '--db', db, '--state', 'failed'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(failed.map((r) => [r.key, r.error.code])).toEqual([['empty.png', 'E_DECODE'], ['not-an-image.jpg', 'E_DECODE'], ['truncated.jpg', 'E_DECODE']]);
  });
});
