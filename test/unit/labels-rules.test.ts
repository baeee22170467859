/**
 * labels' rules: a name is one label, with the strongest evidence and every source that gave it.
 * The inputs are shaped like the real results on face-api's sample5.jpg (five faces at 0.99, the
 * object detector's best person at 0.528), where a list once held `people` twice and `person`
 * only from the weaker source.
 */
import { describe, expect, it } from 'vitest';
import type { Box } from '../../src/runtime/boxes.js';
import { candidatesFrom, mergeByName, type LabelInputs } from '../../src/tasks/labels/rules.js';

const box: Box = { x: 0, y: 0, width: 10, height: 10 };

function inputs(faceScores: number[], personScores: number[], faceCount = faceScores.length): LabelInputs {
  return {
    meta: { width: 1920, height: 1398, colourSpace: 'srgb', colours: [], brightness: 0.5, contrast: 0.2, blurry: false },
    nsfw: { classes: { drawing: 0.01, hentai: 0, neutral: 0.5, porn: 0.3, sexy: 0.19 }, top: 'neutral', explicit: 0.3, unsafe: 0.49, verdict: 'review', flagged: false },
    faces: { count: faceCount, faces: faceScores.map((score) => ({ box, score })), model: 'accurate', width: 1920, height: 1398 },
    objects: {
      objects: personScores.map((score) => ({ label: 'person', score, box })),
      counts: personScores.length > 0 ? { person: personScores.length } : {},
      width: 1920,
      height: 1398,
    },
    pixels: { transparent: 0, chroma: 40, value: 0.5 },
    classifiers: {},
  };
}

const named = (labels: ReturnType<typeof mergeByName>, name: string) => labels.filter((label) => label.name === name);

describe('labels: one label per name', () => {
  it('five faces at 0.99 make person and people from faces, with objects among the sources', () => {
    const labels = mergeByName(candidatesFrom(inputs([0.992, 0.99, 0.985, 0.981, 0.97], [0.528, 0.41])));
    expect(named(labels, 'person')).toEqual([{ name: 'person', confidence: 0.992, source: 'faces', sources: ['faces', 'objects'] }]);
    expect(named(labels, 'people')).toEqual([{ name: 'people', confidence: 0.99, source: 'faces', sources: ['faces', 'objects'] }]);
    expect(named(labels, 'face')).toEqual([{ name: 'face', confidence: 0.992, source: 'faces', sources: ['faces'] }]);
    const names = labels.map((label) => label.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('the stronger evidence wins whichever source it is: a confident body beats a doubtful face', () => {
    const labels = mergeByName(candidatesFrom(inputs([0.55], [0.81, 0.77])));
    expect(named(labels, 'person')).toEqual([{ name: 'person', confidence: 0.81, source: 'objects', sources: ['objects', 'faces'] }]);
    // One face cannot make people; two persons can.
    expect(named(labels, 'people')).toEqual([{ name: 'people', confidence: 0.77, source: 'objects', sources: ['objects'] }]);
  });

  it('faces below faces’ own threshold (count) are no person, and no face at all leaves person to objects', () => {
    expect(named(mergeByName(candidatesFrom(inputs([0.4, 0.3], [], 0))), 'person')).toEqual([]);
    expect(named(mergeByName(candidatesFrom(inputs([], [0.6]))), 'person')).toEqual([{ name: 'person', confidence: 0.6, source: 'objects', sources: ['objects'] }]);
    expect(named(mergeByName(candidatesFrom(inputs([], [0.6]))), 'people')).toEqual([]);
  });

  it('an example label named like a rule’s joins it: the faces’ 0.981 over the examples’ 0.619, both sources kept', () => {
    const candidates = candidatesFrom(inputs([0.99, 0.981], []));
    candidates.push({ name: 'people', confidence: 0.619, source: 'examples' }, { name: 'party', confidence: 0.64, source: 'examples' });
    const labels = mergeByName(candidates);
    expect(named(labels, 'people')).toEqual([{ name: 'people', confidence: 0.981, source: 'faces', sources: ['faces', 'examples'] }]);
    expect(named(labels, 'party')).toEqual([{ name: 'party', confidence: 0.64, source: 'examples', sources: ['examples'] }]);
    // Highest confidence first, as before.
    expect(labels.map((label) => label.confidence)).toEqual([...labels.map((label) => label.confidence)].sort((a, b) => b - a));
  });

  it('a class found twice by one source is one label, at its best score, its source named once', () => {
    const labels = mergeByName([
      { name: 'cup', confidence: 0.4, source: 'objects' },
      { name: 'cup', confidence: 0.7, source: 'objects' },
    ]);
    expect(labels).toEqual([{ name: 'cup', confidence: 0.7, source: 'objects', sources: ['objects'] }]);
  });
});
