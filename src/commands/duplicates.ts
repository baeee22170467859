/** `imgpipe duplicates`: exact duplicates (same sha256), near duplicates (perceptual hash) and similar images (embeddings). */
import { Command, Option } from 'commander';
import { UsageError } from '../errors.js';
import { parseChoice, parseInteger, parseNumber } from '../validate.js';
import { checkTaskFlag, counted, dbOption, examples } from './common.js';
import { csvCell } from './csv-cells.js';

interface Group {
  kind: 'exact' | 'near' | 'similar';
  keys: string[];
  /** near: perceptual-hash distance (bits) within which the group was joined; 0 for exact. */
  distance?: number;
  /** similar: the lowest cosine similarity of the embeddings that joined the group. */
  similarity?: number;
}

interface Content {
  keys: string[];
  phash: string | null;
}

export function duplicatesCommand(): Command {
  return new Command('duplicates')
    .summary('groups of exact duplicates (same bytes) and near duplicates (similar pictures)')
    .description(
      // One line a paragraph: commander wraps it to the terminal's width (a hard break inside a
      // sentence would be wrapped again and leave a stump).
      'Exact duplicates share a sha256 (known once any task has read the file).\n\n' +
        'Near duplicates (--by phash, the default) have perceptual hashes (from the meta task) within --distance bits of ' +
        'each other: resized, re-encoded or lightly edited copies; multi-index hashing keeps this near linear in the number of images.\n\n' +
        'Similar images (--by embedding) have embeddings (from the embed task) with a cosine similarity of at least --similarity. ' +
        'Measured on six photos of people: re-encoded copies and copies resized to 480 px or more score 0.91-1, 90 % crops 0.87-0.96, ' +
        'mirrored copies 0.82-0.93, 75 % crops 0.68-0.92, copies of 400 px 0.74-0.93 and of 240 px 0.41-0.85; two different photos of people 0.40-0.75. ' +
        'LSH bands keep this about n log n (100,000 images: tens of seconds, not an all-pairs scan).',
    )
    .addOption(dbOption())
    .addOption(new Option('--by <what>', 'near duplicates by phash (meta task), embedding (embed task) or both').default('phash'))
    .addOption(new Option('--distance <bits>', 'phash (--by phash or both): at most this many of the 64 hash bits differ (0-16)').default('6'))
    .addOption(new Option('--embedding-task <task>', "embedding (--by embedding or both): the task whose stored vectors are compared (a model card's embedder works too)").default('embed'))
    .addOption(
      new Option(
        '--similarity <cosine>',
        'embedding (--by embedding or both): at least this cosine similarity, 0.8-1 (0.9: re-encoded and resized copies down to 480 px; 0.85: also 90 % crops)',
      ).default('0.9'),
    )
    .addOption(new Option('--format <format>', 'text, json or csv').default('text'))
    .option('--csv-raw', "CSV for a program (pandas, csvkit): keys exactly as stored, without the leading ' that keeps a spreadsheet from running a key starting with =, +, -, @ as a formula")
    .addHelpText(
      'after',
      examples([
        'imgpipe run ./catalogue --tasks meta && imgpipe duplicates',
        'imgpipe duplicates --distance 10 --format csv > duplicates.csv',
        'imgpipe duplicates --format json | jq ".[] | select(.kind == \\"exact\\") | .keys"',
        'imgpipe run ./catalogue --tasks meta,embed && imgpipe duplicates --by both --similarity 0.85',
      ]),
    )
    .action(async (flags: { db: string; by: string; distance: string; similarity: string; embeddingTask: string; format: string; csvRaw?: boolean }, command: Command) => {
      const by = parseChoice('--by', flags.by, ['phash', 'embedding', 'both'] as const);
      // A threshold for a search that does not run would be silently ignored: say so instead.
      const given = (option: string): boolean => command.getOptionValueSource(option) === 'cli';
      if (by === 'phash') {
        for (const [option, flag] of [['similarity', '--similarity'], ['embeddingTask', '--embedding-task']] as const) {
          if (given(option)) throw new UsageError(`${flag} applies to --by embedding or both; add --by embedding (or both), or drop ${flag}`);
        }
      }
      if (by === 'embedding' && given('distance')) throw new UsageError('--distance applies to --by phash or both; add --by phash (or both), or drop --distance');
      const distance = parseInteger('--distance', flags.distance, 0, 16);
      const similarity = parseNumber('--similarity', flags.similarity, 0.8, 1);
      const format = parseChoice('--format', flags.format, ['text', 'json', 'csv'] as const);
      const raw = flags.csvRaw === true;
      if (raw && format !== 'csv') throw new UsageError('--csv-raw applies to --format csv; add --format csv, or drop --csv-raw');
      const embeddingTask = flags.embeddingTask;
      const { Ledger } = await import('../pipeline/ledger.js');
      const { nearDuplicateGroups } = await import('../pipeline/near-duplicates.js');
      const { similarGroups } = await import('../pipeline/similar-vectors.js');
      const { iterateVectors, vectorCount } = await import('../pipeline/ledger-queries.js');
      const ledger = Ledger.openForRead(flags.db);
      const groups: Group[] = [];
      const missing: string[] = [];
      try {
        if (by !== 'phash') await checkTaskFlag('--embedding-task', embeddingTask, ledger);
        const rows = ledger.db
          .prepare(
            `SELECT i.key, i.sha256, json_extract(j.result, '$.phash') AS phash FROM images i
             LEFT JOIN jobs j ON j.image_id = i.id AND j.task = 'meta' AND j.state = 'done'
             WHERE i.sha256 IS NOT NULL ORDER BY i.key`,
          )
          .all() as { key: string; sha256: string; phash: string | null }[];
        const bySha = new Map<string, Content>();
        for (const row of rows) {
          const entry = bySha.get(row.sha256) ?? { keys: [], phash: null };
          entry.keys.push(row.key);
          entry.phash ??= row.phash;
          bySha.set(row.sha256, entry);
        }
        groups.push(...[...bySha.values()].filter((entry) => entry.keys.length > 1).map((entry) => ({ kind: 'exact' as const, keys: entry.keys, distance: 0 })));
        // One representative per content: exact copies are already a group of their own.
        if (by !== 'embedding') {
          const representatives = [...bySha.values()].filter((entry) => entry.phash !== null);
          if (representatives.length === 0) missing.push('no perceptual hashes in this ledger: run the meta task to find near duplicates by phash');
          const byKey = new Map(representatives.map((entry) => [entry.keys[0]!, entry.keys]));
          for (const near of nearDuplicateGroups(representatives.map((entry) => ({ key: entry.keys[0]!, phash: entry.phash! })), distance)) {
            groups.push({ kind: 'near', keys: near.keys.flatMap((key) => byKey.get(key)!).sort(), distance: near.maxDistance });
          }
        }
        if (by !== 'phash') {
          // Vectors go into one array (n x dims float32), one per content.
          const count = vectorCount(ledger.db, embeddingTask);
          const contents: string[][] = [];
          const seen = new Set<string>();
          let data = new Float32Array(0);
          let dims = 0;
          for (const stored of iterateVectors(ledger.db, embeddingTask)) {
            const content = stored.sha256 ?? stored.key;
            if (seen.has(content)) continue;
            seen.add(content);
            if (dims === 0) {
              dims = stored.vector.length;
              data = new Float32Array(count * dims);
            }
            if (stored.vector.length !== dims) continue;
            data.set(stored.vector, contents.length * dims);
            contents.push(stored.sha256 ? bySha.get(stored.sha256)?.keys ?? [stored.key] : [stored.key]);
          }
          if (contents.length === 0) missing.push(`no vectors of task ${embeddingTask} in this ledger: run it to find similar images by embedding`);
          const { groups: found, stats } = similarGroups(data.subarray(0, contents.length * dims), dims, similarity);
          // Fewer than two vectors make no pair to miss (and one, centred on itself, has no spread).
          if (contents.length >= 2 && stats.recall < 0.95) {
            process.stderr.write(`imgpipe: warning: these embeddings are so alike that a pair at cosine ${similarity} is found with probability ${stats.recall.toFixed(2)} only; a higher --similarity is found more surely\n`);
          }
          for (const group of found) groups.push({ kind: 'similar', keys: group.members.flatMap((i) => contents[i]!).sort(), similarity: group.minSimilarity });
        }
      } finally {
        ledger.close();
      }
      const withSimilarity = by !== 'phash';
      if (format === 'json') process.stdout.write(`${JSON.stringify(groups, null, 2)}\n`);
      else if (format === 'csv') {
        process.stdout.write(withSimilarity ? 'group,kind,distance,similarity,key\n' : 'group,kind,distance,key\n');
        groups.forEach((group, i) =>
          group.keys.forEach((key) => {
            const cells = [i + 1, group.kind, group.distance ?? '', ...(withSimilarity ? [group.similarity ?? ''] : []), csvCell(key, raw)];
            process.stdout.write(`${cells.join(',')}\n`);
          }),
        );
      } else {
        for (const message of missing) process.stderr.write(`imgpipe: ${message}\n`);
        const count = (kind: Group['kind']): number => groups.filter((g) => g.kind === kind).length;
        const heads = [`${counted(count('exact'), 'group')} of exact duplicates`];
        if (by !== 'embedding') heads.push(`${counted(count('near'), 'group')} of near duplicates (within ${distance} bits)`);
        if (by !== 'phash') heads.push(`${counted(count('similar'), 'group')} of similar images (cosine >= ${similarity})`);
        const lines = [heads.join(', ')];
        for (const group of groups) {
          const kind = group.kind === 'exact' ? 'exact' : group.kind === 'near' ? `near (${group.distance} bits)` : `similar (cosine ${group.similarity})`;
          lines.push(`${kind}: ${group.keys.join(', ')}`);
        }
        process.stdout.write(`${lines.join('\n')}\n`);
      }
    });
}
