import { describe, it, expect } from 'vitest';
import sharp, { type Colour, type Sharp } from 'sharp';
import { pixelStats } from '../../src/tasks/meta/pixels.js';

async function rgbaOf(image: Sharp): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await image.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

async function statsOf(image: Sharp) {
  const { data, width, height } = await rgbaOf(image);
  return pixelStats(data, width, height);
}

function solid(width: number, height: number, background: Colour): Sharp {
  return sharp({ create: { width, height, channels: 4, background } });
}

/** Detailed 512x512 content: text, thin lines and shapes, the kind of edges blur destroys. */
const DETAILED = Buffer.from(
  `<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512">
    <rect width="512" height="512" fill="#d8d0c0"/>
    ${Array.from({ length: 40 }, (_, i) => `<line x1="0" y1="${i * 13}" x2="512" y2="${i * 13 + 60}" stroke="#222" stroke-width="1"/>`).join('')}
    <circle cx="380" cy="140" r="90" fill="#3050a0"/>
    <rect x="40" y="300" width="200" height="160" fill="#a03020"/>
    <text x="60" y="120" font-size="48" font-family="sans-serif" fill="#000">imgpipe</text>
  </svg>`,
);

describe('pixelStats', () => {
  it('reports a flat mid grey as 0.502 bright, no contrast, no sharpness', async () => {
    expect(await statsOf(solid(64, 64, '#808080'))).toEqual({ brightness: 0.502, contrast: 0, sharpness: 0 });
  });

  it('weights channels by Rec. 709 luma', async () => {
    expect((await statsOf(solid(16, 16, '#ff0000'))).brightness).toBe(0.213);
    expect((await statsOf(solid(16, 16, '#00ff00'))).brightness).toBe(0.715);
    expect((await statsOf(solid(16, 16, '#0000ff'))).brightness).toBe(0.072);
    expect((await statsOf(solid(16, 16, '#ffffff'))).brightness).toBe(1);
    expect((await statsOf(solid(16, 16, '#000000'))).brightness).toBe(0);
  });

  it('gives RMS contrast 0.5 for half black, half white', async () => {
    const image = solid(100, 50, '#000000').composite([
      { input: await solid(50, 50, '#ffffff').png().toBuffer(), left: 50, top: 0 },
    ]);
    const stats = await statsOf(image);
    expect(stats.brightness).toBe(0.5);
    expect(stats.contrast).toBe(0.5);
    // Only the two columns either side of the edge respond, with ±255.
    expect(stats.sharpness).toBeCloseTo((2 * 255 ** 2) / 98, 0);
  });

  it('matches the closed form for a one-pixel checkerboard', () => {
    const width = 10;
    const height = 10;
    const data = new Uint8Array(width * height * 4);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const v = (x + y) % 2 ? 255 : 0;
        data.set([v, v, v, 255], (y * width + x) * 4);
      }
    }
    // Every interior Laplacian is ±4*255, split evenly: variance (1020)^2.
    expect(pixelStats(data, width, height)).toEqual({ brightness: 0.5, contrast: 0.5, sharpness: 1040400 });
  });

  it('composites transparent pixels over white', async () => {
    const transparent = await statsOf(solid(32, 32, { r: 0, g: 0, b: 0, alpha: 0 }));
    expect(transparent).toEqual({ brightness: 1, contrast: 0, sharpness: 0 });

    const halfTransparentBlack = await statsOf(solid(32, 32, { r: 0, g: 0, b: 0, alpha: 0.5 }));
    expect(halfTransparentBlack.brightness).toBeCloseTo(0.5, 2);
  });

  it('sees a blurred copy as far less sharp, with the same brightness', async () => {
    const sharpStats = await statsOf(sharp(DETAILED));
    const blurredStats = await statsOf(sharp(DETAILED).blur(5));
    expect(sharpStats.sharpness).toBeGreaterThan(500);
    expect(blurredStats.sharpness).toBeLessThan(sharpStats.sharpness / 20);
    expect(blurredStats.brightness).toBeCloseTo(sharpStats.brightness, 2);
    expect(blurredStats.contrast).toBeLessThan(sharpStats.contrast);

    // Mild blur sits in between: the measure is monotonic in blur strength.
    const mildStats = await statsOf(sharp(DETAILED).blur(1));
    expect(mildStats.sharpness).toBeLessThan(sharpStats.sharpness);
    expect(mildStats.sharpness).toBeGreaterThan(blurredStats.sharpness);
  });

  it('gives sharpness 0 below 3x3 and handles empty images', () => {
    const twoByTwo = new Uint8Array([0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 255]);
    const stats = pixelStats(twoByTwo, 2, 2);
    expect(stats).toEqual({ brightness: 0.5, contrast: 0.5, sharpness: 0 });
    expect(pixelStats(new Uint8Array(0), 0, 0)).toEqual({ brightness: 0, contrast: 0, sharpness: 0 });
  });

  it('rejects a buffer too small for the stated size', () => {
    expect(() => pixelStats(new Uint8Array(12), 2, 2)).toThrow(/RGBA/);
  });
});
