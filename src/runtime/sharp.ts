/**
 * sharp, loaded through its CommonJS build. Every worker thread of an image task loads sharp
 * before its first job, and the CommonJS build loads in about half the time of the ESM one
 * (measured on 2 cores: 54-82 ms against 99-176 ms), which a short run feels. Import sharp from
 * here, never from 'sharp' directly: the two builds are separate module instances, and a thread
 * that loaded both would pay twice.
 */
import { createRequire } from 'node:module';
import type sharpModule from 'sharp';

export type { OverlayOptions, Sharp } from 'sharp';

const sharp = createRequire(import.meta.url)('sharp') as typeof sharpModule;
export default sharp;
