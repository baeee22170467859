/**
 * V8 doubles a heap's young generation (the semi-spaces where new objects are made) as objects
 * keep surviving its collections, up to 16 MB a semi-space (48 MB with its copy space and large
 * objects) per isolate: the main thread's grows within the first seconds of a run and every
 * worker thread's too, so peak RSS rose with a run's length although nothing was kept (a heap
 * snapshot at 10,000 images: 8 MB live on the main thread, 32 MB of young generation).
 *
 * Kept at its starting size (1 MB a semi-space), measured on 2 cores: `meta` on 10,000 images
 * peaked at 133 MB instead of 162 at the same jobs/s (299 and 288); nsfw, faces, objects and embed
 * on 40 photos at 1,005 MB instead of 1,147 in the same time (66.4-66.7 s against 66.1-69.4 s).
 * Scavenges cost in proportion to what survives, not to the space, so more frequent ones of a
 * small space cost no more here.
 *
 * The growth factor is a process-wide V8 flag that V8 reads each time it would grow a space, so
 * setting it at start-up, before any worker thread exists, covers every isolate. (Node documents
 * changing V8 flags after start-up as unpredictable in general; this one is only a number read
 * at each growth. `--max-semi-space-size` would say the same but is read only when a heap is
 * made, too late for the main thread.)
 */
import v8 from 'node:v8';

export function keepYoungGenerationSmall(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}
