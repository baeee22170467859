/**
 * Model cards given with `--model-card`: read, checked against their models, and registered as
 * tasks before the command line is parsed (so that their options are flags like any task's).
 */
import { UsageError } from '../../errors.js';
import { parsePath } from '../../validate.js';
import { addTasks, allTasks } from '../registry.js';
import { readModelCard, type ModelCard } from './card.js';
import { cardTask } from './meta.js';

const loaded: ModelCard[] = [];
/** Cards whose model's sha256 differs from the card's, with the message that says so. */
const altered = new Map<ModelCard, string>();

/** The cards registered in this process, for `imgpipe models`. */
export function loadedCards(): readonly ModelCard[] {
  return loaded;
}

/** Why a registered card's model is not the file the card describes, or undefined. */
export function cardAlteration(card: ModelCard): string | undefined {
  return altered.get(card);
}

/**
 * An altered card model is a usage error (exit 2) for every command except `imgpipe models`
 * and `models verify`, which exist to report it (verify: FAIL, exit 1, as for a built-in
 * model). Called before a command's action: the command is not known when cards are read.
 */
export function refuseAlteredCards(): void {
  for (const message of altered.values()) throw new UsageError(message);
}

export async function registerModelCards(files: readonly string[]): Promise<void> {
  if (files.length === 0) return;
  // Loaded only when cards are given: the check pulls in the image runtime (sharp), which every
  // other command's start-up would otherwise pay for (0.2 s) on the main thread.
  const { checkCardAgainstModel, modelAlteration } = await import('./check.js');
  for (const file of files) {
    const card = readModelCard(file, new Set(allTasks().map((task) => task.name)));
    const alteration = modelAlteration(card);
    // Still registered, so that its flags parse and the command can say what is wrong; the
    // rest of the check is skipped: the file's tensors are not those the card was written for.
    if (alteration) altered.set(card, alteration);
    else await checkCardAgainstModel(card);
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
