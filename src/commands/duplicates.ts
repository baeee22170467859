/** `imgpipe duplicates`: exact duplicates (same sha256) and near duplicates (perceptual hash). */
import { Command, Option } from 'commander';
import { parseChoice, parseInteger } from '../validate.js';
import { dbOption, examples } from './common.js';

interface Group {
  kind: 'exact' | 'near';
  keys: string[];
  /** Perceptual-hash distance (bits) within which the group was joined; 0 for exact. */
  distance: number;
}

function csvCell(text: string | number): string {
  const value = String(text);
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function duplicatesCommand(): Command {
  return new Command('duplicates')
    .summary('groups of exact duplicates (same bytes) and near duplicates (similar pictures)')
    .description(
      'Exact duplicates share a sha256 (known once any task has read the file). Near duplicates\n' +
        "have perceptual hashes (from the meta task) within --distance bits of each other: resized,\n" +
        're-encoded or lightly edited copies. Multi-index hashing keeps this near linear in the\n' +
        'number of images (100,000 images: seconds, not an all-pairs scan).',
    )
    .addOption(dbOption())
    .addOption(new Option('--distance <bits>', 'near duplicates: at most this many of the 64 hash bits differ (0-16)').default('6'))
    .addOption(new Option('--format <format>', 'text, json or csv').default('text'))
    .addHelpText(
      'after',
      examples([
        'imgpipe run ./catalogue --tasks meta && imgpipe duplicates',
        'imgpipe duplicates --distance 10 --format csv > duplicates.csv',
        'imgpipe duplicates --format json | jq ".[] | select(.kind == \\"exact\\") | .keys"',
      ]),
    )
    .action(async (flags: { db: string; distance: string; format: string }) => {
      const distance = parseInteger('--distance', flags.distance, 0, 16);
      const format = parseChoice('--format', flags.format, ['text', 'json', 'csv'] as const);
      const { Ledger } = await import('../pipeline/ledger.js');
      const { nearDuplicateGroups } = await import('../pipeline/near-duplicates.js');
      const ledger = Ledger.openForRead(flags.db);
      let groups: Group[];
      let hashed: number;
      try {
        const rows = ledger.db
          .prepare(
            `SELECT i.key, i.sha256, json_extract(j.result, '$.phash') AS phash FROM images i
             LEFT JOIN jobs j ON j.image_id = i.id AND j.task = 'meta' AND j.state = 'done'
             WHERE i.sha256 IS NOT NULL ORDER BY i.key`,
          )
          .all() as { key: string; sha256: string; phash: string | null }[];
        const bySha = new Map<string, { keys: string[]; phash: string | null }>();
        for (const row of rows) {
          const entry = bySha.get(row.sha256) ?? { keys: [], phash: null };
          entry.keys.push(row.key);
          entry.phash ??= row.phash;
          bySha.set(row.sha256, entry);
        }
        groups = [...bySha.values()].filter((entry) => entry.keys.length > 1).map((entry) => ({ kind: 'exact' as const, keys: entry.keys, distance: 0 }));
        // One representative per content: exact copies are already a group of their own.
        const representatives = [...bySha.values()].filter((entry) => entry.phash !== null);
        hashed = representatives.length;
        const byKey = new Map(representatives.map((entry) => [entry.keys[0]!, entry.keys]));
        for (const near of nearDuplicateGroups(representatives.map((entry) => ({ key: entry.keys[0]!, phash: entry.phash! })), distance)) {
          groups.push({ kind: 'near', keys: near.keys.flatMap((key) => byKey.get(key)!).sort(), distance: near.maxDistance });
        }
      } finally {
        ledger.close();
      }
      if (format === 'json') process.stdout.write(`${JSON.stringify(groups, null, 2)}\n`);
      else if (format === 'csv') {
        process.stdout.write('group,kind,distance,key\n');
        groups.forEach((group, i) => group.keys.forEach((key) => process.stdout.write(`${i + 1},${group.kind},${group.distance},${csvCell(key)}\n`)));
      } else {
        if (hashed === 0) process.stderr.write('imgpipe: no perceptual hashes in this ledger: run the meta task to find near duplicates\n');
        const exact = groups.filter((g) => g.kind === 'exact');
        const near = groups.filter((g) => g.kind === 'near');
        const lines = [`${exact.length} groups of exact duplicates, ${near.length} groups of near duplicates (within ${distance} bits)`];
        for (const group of groups) lines.push(`${group.kind === 'exact' ? 'exact' : `near (${group.distance} bits)`}: ${group.keys.join(', ')}`);
        process.stdout.write(`${lines.join('\n')}\n`);
      }
    });
}
