/** `imgpipe models`: the model catalogue, what is installed, and hash verification. */
import { Command } from 'commander';
import { examples, formatTable, modelCardOption } from './common.js';
import { cardAlteration, loadedCards } from '../tasks/custom/load.js';
import type { ModelCard } from '../tasks/custom/card.js';

/** A model card's model, listed like a catalogued one. */
function cardRow(card: ModelCard) {
  const { width, height, layout, colour, resize } = card.input;
  const altered = cardAlteration(card);
  return {
    id: card.id,
    tasks: [card.id],
    package: card.model,
    format: 'onnx' as const,
    bytes: card.modelBytes,
    licence: card.licence,
    input: `${width}x${height} ${layout} ${colour}, ${resize}`,
    installed: !altered,
    problems: altered ? [altered] : [],
  };
}

function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

export function modelsCommand(): Command {
  const command = new Command('models')
    .summary('list the models, their tasks, sizes, licences, and whether they are installed intact')
    .option('--json', 'machine-readable output')
    .addOption(modelCardOption())
    .addHelpText('after', examples(['imgpipe models', 'imgpipe models verify', 'imgpipe models --json', 'imgpipe models --model-card my-model.json']))
    .action(async (flags: { json?: boolean }) => {
      const { modelCatalog, checkModel } = await import('../runtime/models.js');
      const rows = modelCatalog().map((model) => {
        // Hashed, as at start-up: "installed" means present and intact (0.07 s for every model).
        const status = checkModel(model);
        return {
          id: model.id,
          tasks: model.tasks,
          package: `${model.package}@${model.version}`,
          format: model.format,
          bytes: model.files.reduce((sum, file) => sum + file.bytes, 0),
          licence: model.licence,
          input: model.input,
          installed: status.installed && status.problems.length === 0,
          problems: status.installed ? status.problems : [status.reason],
          ...(model.optional ? { optional: model.optional } : {}),
        };
      });
      rows.push(...loadedCards().map(cardRow));
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `${formatTable(
          ['model', 'tasks', 'package', 'format', 'size', 'licence', 'installed'],
          rows.map((r) => [r.id, r.tasks.join(','), r.package, r.format, megabytes(r.bytes), r.licence, r.installed ? 'yes' : `no: ${r.problems.join('; ')}${'optional' in r ? ' (optional)' : ''}`]),
        )}\n`,
      );
    });
  command
    .command('verify')
    .summary("check every model file's sha256 against the catalogue")
    .option('--json', 'machine-readable output')
    .addOption(modelCardOption())
    .addHelpText('after', examples(['imgpipe models verify', 'imgpipe models verify --model-card my-model.json', '', 'Exit codes: 0 all verified, 1 a model is missing or altered (a card\'s model included), 2 a card with another mistake.']))
    .action(async (flags: { json?: boolean }) => {
      const { modelCatalog, checkModel, installHint, repairHint } = await import('../runtime/models.js');
      const results = [];
      for (const model of modelCatalog()) {
        const status = checkModel(model);
        // An optional model that is not installed is not a fault: say so, and how to get it.
        if (!status.installed && model.optional) results.push({ id: model.id, ok: true, skipped: true, problems: [`not installed; optional: ${model.optional}`], fix: installHint(model) });
        else if (!status.installed) results.push({ id: model.id, ok: false, problems: [status.reason], fix: installHint(model) });
        else results.push({ id: model.id, ok: status.problems.length === 0, problems: status.problems, fix: repairHint(model, status.folder) });
      }
      // A card's model was hashed against the card's sha256 (when it has one) as the card was read.
      for (const card of loadedCards()) {
        const altered = cardAlteration(card);
        if (altered) results.push({ id: card.id, ok: false, problems: [altered], fix: `restore the file the card describes, or put the new file's sha256 in ${card.file}` });
        else results.push({ id: card.id, ok: true, problems: card.sha256 ? [] : ['the card gives no sha256: nothing to verify against'], fix: `add "sha256" to ${card.file}` });
      }
      if (flags.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      else {
        for (const r of results) process.stdout.write(`${'skipped' in r ? 'skip' : r.ok ? 'ok  ' : 'FAIL'} ${r.id}${r.ok ? (r.problems.length > 0 ? ` (${r.problems.join('; ')})` : '') : `: ${r.problems.join('; ')} (fix: ${r.fix})`}\n`);
      }
      process.exitCode = results.every((r) => r.ok) ? 0 : 1;
    });
  return command;
}
