import type { TaskMeta } from '../contract.js';
import { galleryFingerprint, listGallery } from '../../runtime/gallery.js';

const labels: TaskMeta = {
  name: 'labels',
  // 2: one label per name, with the strongest evidence and every source (was: one per name and
  // source); `person` from a face even when objects found a person too.
  version: 2,
  description: 'labels with a confidence and a source: objects, people and faces, photo or drawing, text, colours, image properties, the classes of any classifier in the run (model cards); and labels learnt from examples (--labels-from)',
  needs: ['meta', 'nsfw', 'faces', 'objects', 'embed'],
  // Text is a label only when the run reads text: OCR is too slow to add to every labelling run.
  uses: ['ocr'],
  // And the classes of any classifier the run includes, such as one from a model card.
  usesProvided: ['classes'],
  concurrency: 'threads',
  threadsPerJob: 1,
  timeoutSeconds: 120,
  models: ['nsfwjs-mobilenet-v2'],
  options: {
    from: {
      type: 'string',
      default: '',
      // Given, it must name a folder: "" (an unset shell variable) would silently mean no examples.
      pattern: /\S/,
      patternHint: 'a folder path',
      description: 'folder of examples, DIR/<label>/*.jpg|png|webp: an image gets the labels whose examples are nearest in the embedding space',
    },
    'min-similarity': {
      type: 'number',
      default: 0.6,
      min: -1,
      max: 1,
      description: 'cosine similarity to the nearest example of a label from which the image gets it (measured: two different photos of people 0.40-0.75; a photo of people against a scene, a page or a drawing 0.07-0.37)',
    },
  },
  validate(options) {
    const dir = String(options.from);
    if (dir === '') return undefined;
    const examples = listGallery(dir, '--labels-from');
    return typeof examples === 'string' ? examples : undefined;
  },
  fingerprint(options) {
    const dir = String(options.from);
    if (dir === '') return '';
    const examples = listGallery(dir, '--labels-from');
    return typeof examples === 'string' ? '' : galleryFingerprint(examples, dir);
  },
  worker: new URL('./worker.js', import.meta.url),
};

export default labels;
