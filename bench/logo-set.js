/**
 * The logos evaluation set: the made-up brands of fixtures/logos/ composited onto real photos
 * (the face-api demo photos and two fixture landscapes, as in bench/photos.js), deterministically
 * from a seed. Per photo: one image per gallery brand, one with a distractor brand that is not in
 * the gallery, and the photo as it is. Each logo is resized so that it covers a share of the image
 * (3-12 % by default), sheared (moderate perspective), rotated (up to ±25°), its brightness and
 * hue shifted, placed at random, and the result saved as JPEG quality 85.
 *
 * Used by the logos benchmark and by test/logos.test.ts:
 *   import { makeLogoSet, scoreLogos, LOGO_GALLERY } from '../bench/logo-set.js';
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
export const LOGO_GALLERY = path.join(ROOT, 'fixtures', 'logos', 'gallery');
const DISTRACTORS = path.join(ROOT, 'fixtures', 'logos', 'distractors');
export const LOGO_PHOTOS = [
  ...[1, 2, 3, 4, 5, 6].map((n) => path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo', `sample${n}.jpg`)),
  path.join(ROOT, 'fixtures', 'photos', 'landscape.jpg'),
  path.join(ROOT, 'fixtures', 'photos', 'dusk.jpg'),
];

/** mulberry32: small, fast, deterministic. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Writes the set into `out` and returns its truth: { images: { name: [{ brand, box, share }] } }
 * (box in the image's pixels; share of the image the logo's opaque pixels cover).
 * `transform: false` places logos as they are (no rotation, shear or colour change).
 */
export async function makeLogoSet({ out, seed = 7, photos = LOGO_PHOTOS, share = [0.03, 0.12], side = 1024, transform = true }) {
  mkdirSync(out, { recursive: true });
  const next = random(seed);
  const brands = readdirSync(LOGO_GALLERY).sort().map((name) => ({ name, file: path.join(LOGO_GALLERY, name, 'logo.png'), inGallery: true }));
  const distractors = readdirSync(DISTRACTORS).sort().map((file) => ({ name: path.basename(file, '.png'), file: path.join(DISTRACTORS, file), inGallery: false }));
  const images = {};
  let index = 0;
  for (const photo of photos) {
    const base = await sharp(photo).rotate().resize(side, side, { fit: 'inside' }).jpeg({ quality: 95 }).toBuffer({ resolveWithObject: true });
    const { width, height } = base.info;
    for (const logo of [...brands, ...distractors, null]) {
      const name = `logo-${String(index++).padStart(3, '0')}.jpg`;
      if (!logo) {
        await sharp(base.data).jpeg({ quality: 85 }).toFile(path.join(out, name));
        images[name] = [];
        continue;
      }
      const wanted = share[0] + next() * (share[1] - share[0]);
      const angle = transform ? (next() - 0.5) * 50 : 0;
      const shear = transform ? (next() - 0.5) * 0.3 : 0;
      const brightness = transform ? 0.7 + next() * 0.5 : 1;
      const hue = transform ? Math.round((next() - 0.5) * 40) : 0;
      const meta = await sharp(logo.file).metadata();
      const opaque = await opaqueShare(logo.file);
      // Scale for the wanted share of opaque pixels, then shrink if the transformed logo would not fit.
      let scale = Math.sqrt((wanted * width * height) / (meta.width * meta.height * opaque));
      let placed;
      for (;;) {
        const w = Math.max(8, Math.round(meta.width * scale));
        const h = Math.max(8, Math.round(meta.height * scale));
        let pipeline = sharp(logo.file).resize(w, h).modulate({ brightness, hue });
        if (shear !== 0) pipeline = sharp(await pipeline.png().toBuffer()).affine([[1, shear], [0, 1]], { background: '#0000' });
        if (angle !== 0) pipeline = sharp(await pipeline.png().toBuffer()).rotate(angle, { background: '#0000' });
        placed = await pipeline.png().toBuffer({ resolveWithObject: true });
        if (placed.info.width < width * 0.95 && placed.info.height < height * 0.95) break;
        scale *= 0.9;
      }
      const left = Math.floor(next() * (width - placed.info.width));
      const top = Math.floor(next() * (height - placed.info.height));
      await sharp(base.data).composite([{ input: placed.data, left, top }]).jpeg({ quality: 85 }).toFile(path.join(out, name));
      const covered = (await opaqueShare(placed.data)) * placed.info.width * placed.info.height;
      images[name] = logo.inGallery ? [{ brand: logo.name, box: { x: left, y: top, width: placed.info.width, height: placed.info.height }, share: Math.round((covered / (width * height)) * 1000) / 1000 }] : [];
    }
  }
  const truth = { seed, photos: photos.map((p) => path.relative(ROOT, p)), gallery: brands.map((b) => b.name), distractors: distractors.map((d) => d.name), images };
  writeFileSync(path.join(out, 'truth.json'), `${JSON.stringify(truth, null, 1)}\n`);
  return truth;
}

async function opaqueShare(input) {
  const { data, info } = await sharp(input).ensureAlpha().extractChannel(3).raw().toBuffer({ resolveWithObject: true });
  let opaque = 0;
  for (const value of data) if (value >= 128) opaque++;
  return opaque / (info.width * info.height);
}

/**
 * Precision and recall of `results` ({ name: [{ brand, box }] }) against `truth`: a detection is
 * right when its brand is the image's logo and its box's centre lies in the logo's box; logos
 * covering less than `minShare` of their image are left out of recall.
 */
export function scoreLogos(truth, results, minShare = 0.03) {
  let truePositives = 0;
  let falsePositives = 0;
  let logos = 0;
  let found = 0;
  const misses = [];
  const falses = [];
  for (const [name, expected] of Object.entries(truth.images)) {
    const detections = results[name] ?? [];
    for (const d of detections) {
      const hit = expected.some((t) => t.brand === d.brand && inside(d.box, t.box));
      if (hit) truePositives++;
      else {
        falsePositives++;
        falses.push(`${name} ${d.brand}`);
      }
    }
    for (const t of expected) {
      if (t.share < minShare) continue;
      logos++;
      if (detections.some((d) => d.brand === t.brand && inside(d.box, t.box))) found++;
      else misses.push(`${name} ${t.brand}`);
    }
  }
  return {
    precision: truePositives + falsePositives === 0 ? 1 : truePositives / (truePositives + falsePositives),
    recall: logos === 0 ? 1 : found / logos,
    truePositives,
    falsePositives,
    logos,
    found,
    misses,
    falses,
  };
}

function inside(box, outer) {
  const x = box.x + box.width / 2;
  const y = box.y + box.height / 2;
  return x >= outer.x && x <= outer.x + outer.width && y >= outer.y && y <= outer.y + outer.height;
}
