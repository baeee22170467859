/**
 * V8 doubles a heap's young generation (the semi-spaces where new objects are made) as objects
 * keep surviving its collections, up to 16 MB a semi-space (about 48 MB with its copy space and
 * large objects) per isolate. Every worker thread is an isolate, so a pool's peak RSS rose with a
 * run's length although nothing was kept.
 *
 * Each worker thread keeps its own at the starting size (1 MB a semi-space). Measured on 2 cores:
 * `meta` on 10,000 images peaked at 133 MB instead of 160-162 at the same jobs/s (295-299 against
 * 288-298); nsfw, faces, objects and embed on 40 photos at 1,005 MB instead of 1,147 in the same
 * time (66.4-66.7 s against 66.1-69.4 s). Scavenges cost in proportion to what survives, not to
 * the space, so more frequent ones of a small space cost no more here. Set on the main thread
 * alone it changed nothing (162 MB): there the growth is small beside the workers'.
 *
 * The flag must be set inside the thread whose heap it should hold: set on the main thread before
 * the workers start, it did not reach them. (Node documents changing V8 flags after start-up as
 * unpredictable in general; this one is only a number V8 reads each time it would grow a space.
 * `--max-semi-space-size` would say the same but is read only when a heap is made.)
 */
import v8 from 'node:v8';

export function keepYoungGenerationSmall(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}

// On import: the worker entry imports this module first, before sharp and the task's modules.
keepYoungGenerationSmall();
