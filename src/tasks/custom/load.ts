/**
 * Model cards given with `--model-card`: read, checked against their models, and registered as
 * tasks before the command line is parsed (so that their options are flags like any task's).
 */
import { parsePath } from '../../validate.js';
import { addTasks, allTasks } from '../registry.js';
import { readModelCard, type ModelCard } from './card.js';
import { cardTask } from './meta.js';

const loaded: ModelCard[] = [];

/** The cards registered in this process, for `imgpipe models`. */
export function loadedCards(): readonly ModelCard[] {
  return loaded;
}

export async function registerModelCards(files: readonly string[]): Promise<void> {
  if (files.length === 0) return;
  // Loaded only when cards are given: the check pulls in the image runtime (sharp), which every
  // other command's start-up would otherwise pay for (0.2 s) on the main thread.
  const { checkCardAgainstModel } = await import('./check.js');
  for (const file of files) {
    const card = readModelCard(file, new Set(allTasks().map((task) => task.name)));
    await checkCardAgainstModel(card);
    addTasks([cardTask(card)]);
    loaded.push(card);
  }
}

const CARD = 'a card file (JSON)';

/**
 * The `--model-card` values in an argument list, read before commander parses it: they define
 * flags (`--<id>-<option>`) that commander must know about.
 */
export function modelCardArguments(argv: readonly string[]): string[] {
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    if (arg === '--model-card') {
      const value = argv[i + 1];
      // A flag after it is the next option, not a card: `--model-card --tasks meta`.
      files.push(parsePath('--model-card', value?.startsWith('-') ? undefined : value, CARD));
      i++;
    } else if (arg.startsWith('--model-card=')) files.push(parsePath('--model-card', arg.slice('--model-card='.length), CARD));
  }
  return files;
}
