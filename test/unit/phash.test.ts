import { describe, it, expect } from 'vitest';
import sharp, { type Sharp } from 'sharp';
import { hammingDistance, perceptualHash } from '../../src/tasks/meta/phash.js';

/** A scene with large shapes and a gradient, the kind of structure pHash keys on. */
const SCENE = Buffer.from(
  `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#1e3c72"/><stop offset="1" stop-color="#a8c0ff"/>
    </linearGradient></defs>
    <rect width="400" height="300" fill="url(#sky)"/>
    <circle cx="300" cy="80" r="45" fill="#ffe066"/>
    <polygon points="0,300 120,140 240,300" fill="#2d4739"/>
    <polygon points="150,300 280,170 400,300" fill="#3f6b4f"/>
    <rect x="40" y="230" width="60" height="50" fill="#8b3a3a"/>
  </svg>`,
);

/** Something else entirely: a checkerboard with a diagonal band. */
const OTHER = Buffer.from(
  `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300">
    <rect width="400" height="300" fill="#ffffff"/>
    ${Array.from({ length: 12 }, (_, i) =>
      Array.from({ length: 16 }, (_, j) =>
        (i + j) % 2 ? `<rect x="${j * 25}" y="${i * 25}" width="25" height="25" fill="#000"/>` : '',
      ).join(''),
    ).join('')}
    <polygon points="0,0 80,0 400,240 400,300" fill="#c00"/>
  </svg>`,
);

/** What the meta task feeds in: 32x32 single-channel 8-bit pixels. */
async function grey32(input: Buffer | Sharp): Promise<Buffer> {
  const image = Buffer.isBuffer(input) ? sharp(input) : input;
  const { data, info } = await sharp(await image.png().toBuffer())
    .flatten({ background: '#ffffff' })
    .greyscale()
    .resize(32, 32, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  expect(info.channels).toBe(1);
  return data;
}

describe('perceptualHash', () => {
  it('returns 16 lowercase hex digits and is deterministic', async () => {
    const pixels = await grey32(SCENE);
    const hash = perceptualHash(pixels);
    expect(hash).toMatch(/^[0-9a-f]{16}$/);
    expect(perceptualHash(Buffer.from(pixels))).toBe(hash);
  });

  it('hashes a flat image to only the DC bit', () => {
    expect(perceptualHash(new Uint8Array(1024).fill(77))).toBe('8000000000000000');
    expect(perceptualHash(new Uint8Array(1024).fill(0))).toBe('0000000000000000');
  });

  it('sets bits by the low-frequency structure: left-bright/right-dark flips the horizontal terms', () => {
    const leftBright = new Uint8Array(1024);
    for (let i = 0; i < 1024; i++) leftBright[i] = i % 32 < 16 ? 255 : 0;
    // Row 0 (vertical frequency 0) carries everything: DC and the odd horizontal frequencies
    // (positive for a bright left half at u = 1, 5; negative at 3, 7).
    expect(perceptualHash(leftBright)).toBe('c400000000000000');
  });

  it('matches an independent brute-force DCT on a textured input', () => {
    let seed = 12345;
    const pixels = new Uint8Array(1024);
    for (let i = 0; i < 1024; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      pixels[i] = ((i % 32) * 5 + (seed >>> 24) / 4) & 255;
    }
    expect(perceptualHash(pixels)).toBe(referenceHash(pixels));
  });

  it('barely changes for resized, recompressed and brightened copies', async () => {
    const original = perceptualHash(await grey32(SCENE));
    const copies = [
      sharp(SCENE).resize(123, 92),
      sharp(await sharp(SCENE).jpeg({ quality: 30 }).toBuffer()),
      sharp(SCENE).modulate({ brightness: 1.15 }),
    ];
    for (const copy of copies) {
      expect(hammingDistance(original, perceptualHash(await grey32(copy)))).toBeLessThanOrEqual(4);
    }
  });

  it('tolerates a slight rotation less well, yet stays far closer than an unrelated image', async () => {
    const pixels = await grey32(SCENE);
    const original = perceptualHash(pixels);
    // pHash is not rotation invariant: 2 degrees typically moves 8-10 bits, 5 degrees about 15.
    const rotated = hammingDistance(original, perceptualHash(await grey32(sharp(SCENE).rotate(2, { background: '#ffffff' }))));
    const unrelated = hammingDistance(original, perceptualHash(await grey32(OTHER)));
    expect(rotated).toBeLessThanOrEqual(12);
    expect(unrelated).toBeGreaterThanOrEqual(24);
    expect(unrelated).toBeGreaterThan(2 * rotated);
  });

  it('is far from its own negative', async () => {
    const pixels = await grey32(SCENE);
    // Negating the image negates every AC coefficient and so, near enough, the median: every
    // bit but DC flips, bar the one or two coefficients next to the median.
    const negative = perceptualHash(pixels.map((v) => 255 - v));
    expect(hammingDistance(perceptualHash(pixels), negative)).toBeGreaterThanOrEqual(60);
  });

  it('rejects input that is not 32x32', () => {
    expect(() => perceptualHash(new Uint8Array(1023))).toThrow(Error);
    expect(() => perceptualHash(new Uint8Array(32 * 32 * 3))).toThrow(/1024/);
  });
});

describe('hammingDistance', () => {
  it('counts differing bits', () => {
    expect(hammingDistance('0000000000000000', '0000000000000000')).toBe(0);
    expect(hammingDistance('0000000000000000', 'ffffffffffffffff')).toBe(64);
    expect(hammingDistance('8000000000000001', '0000000000000000')).toBe(2);
    expect(hammingDistance('00000000000000f0', '000000000000000f')).toBe(8);
    expect(hammingDistance('ABCDEF0123456789', 'abcdef0123456789')).toBe(0);
  });

  it('rejects strings that are not 64-bit hex hashes', () => {
    expect(() => hammingDistance('abc', '0000000000000000')).toThrow(Error);
    expect(() => hammingDistance('000000000000000g', '0000000000000000')).toThrow(Error);
  });
});

/** O(N^4) textbook DCT-II and the same bit layout, to check the separable fast path. */
function referenceHash(pixels: Uint8Array): string {
  const values: number[] = [];
  for (let v = 0; v < 8; v++) {
    for (let u = 0; u < 8; u++) {
      let sum = 0;
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          sum +=
            pixels[y * 32 + x]! * Math.cos((Math.PI * u * (2 * x + 1)) / 64) * Math.cos((Math.PI * v * (2 * y + 1)) / 64);
        }
      }
      values.push(4 * sum);
    }
  }
  const sorted = [...values].sort((a, b) => a - b);
  const median = (sorted[31]! + sorted[32]!) / 2;
  const bits = values.map((c) => (c > median ? '1' : '0')).join('');
  return BigInt('0b' + bits).toString(16).padStart(16, '0');
}
