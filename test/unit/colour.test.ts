import { describe, it, expect } from 'vitest';
import sharp, { type Colour, type Sharp } from 'sharp';
import { colourName, deltaE2000, dominantColours, srgbToLab } from '../../src/runtime/colour.js';

async function rgbaOf(image: Sharp): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await image.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

function solid(width: number, height: number, background: Colour): Sharp {
  return sharp({ create: { width, height, channels: 4, background } });
}

/** Solid image with rectangles of other colours on it, as PNG so composite inputs are exact. */
async function withBlocks(
  width: number,
  height: number,
  background: string,
  blocks: Array<{ left: number; top: number; width: number; height: number; colour: string }>,
): Promise<Sharp> {
  const overlays = await Promise.all(
    blocks.map(async (b) => ({
      input: await solid(b.width, b.height, b.colour).png().toBuffer(),
      left: b.left,
      top: b.top,
    })),
  );
  return sharp(await solid(width, height, background).composite(overlays).png().toBuffer());
}

describe('srgbToLab', () => {
  it('maps the sRGB primaries and white to their published D65 Lab values', () => {
    const cases: Array<[[number, number, number], [number, number, number]]> = [
      [[255, 255, 255], [100, 0, 0]],
      [[0, 0, 0], [0, 0, 0]],
      [[255, 0, 0], [53.24, 80.09, 67.2]],
      [[0, 255, 0], [87.73, -86.18, 83.18]],
      [[0, 0, 255], [32.3, 79.19, -107.86]],
    ];
    for (const [rgb, expected] of cases) {
      const lab = srgbToLab(...rgb);
      expect(lab[0]).toBeCloseTo(expected[0], 1);
      expect(lab[1]).toBeCloseTo(expected[1], 1);
      expect(lab[2]).toBeCloseTo(expected[2], 1);
    }
  });

  it('linearises the gamma: mid grey 128 is L* 53.6, not 50', () => {
    const [L, a, b] = srgbToLab(128, 128, 128);
    expect(L).toBeCloseTo(53.59, 1);
    expect(Math.abs(a)).toBeLessThan(0.01);
    expect(Math.abs(b)).toBeLessThan(0.01);
  });
});

describe('deltaE2000', () => {
  // Sharma, Wu & Dalal (2005), Table 1: the pairs that exercise the hue-averaging and
  // rotation-term branches most implementations get wrong.
  const sharma: Array<[number, number, number, number, number, number, number]> = [
    [50.0, 2.6772, -79.7751, 50.0, 0.0, -82.7485, 2.0425],
    [50.0, 3.1571, -77.2803, 50.0, 0.0, -82.7485, 2.8615],
    [50.0, 2.8361, -74.02, 50.0, 0.0, -82.7485, 3.4412],
    [50.0, -1.3802, -84.2814, 50.0, 0.0, -82.7485, 1.0],
    [50.0, -1.1848, -84.8006, 50.0, 0.0, -82.7485, 1.0],
    [50.0, -0.9009, -85.5211, 50.0, 0.0, -82.7485, 1.0],
    [50.0, 0.0, 0.0, 50.0, -1.0, 2.0, 2.3669],
    [50.0, -1.0, 2.0, 50.0, 0.0, 0.0, 2.3669],
    [50.0, 2.49, -0.001, 50.0, -2.49, 0.0009, 7.1792],
    [50.0, 2.49, -0.001, 50.0, -2.49, 0.001, 7.1792],
    [50.0, 2.49, -0.001, 50.0, -2.49, 0.0011, 7.2195],
    [50.0, 2.49, -0.001, 50.0, -2.49, 0.0012, 7.2195],
    [50.0, -0.001, 2.49, 50.0, 0.0009, -2.49, 4.8045],
    [50.0, -0.001, 2.49, 50.0, 0.001, -2.49, 4.8045],
    [50.0, -0.001, 2.49, 50.0, 0.0011, -2.49, 4.7461],
    [50.0, 2.5, 0.0, 50.0, 0.0, -2.5, 4.3065],
    [50.0, 2.5, 0.0, 73.0, 25.0, -18.0, 27.1492],
    [50.0, 2.5, 0.0, 61.0, -5.0, 29.0, 22.8977],
    [50.0, 2.5, 0.0, 56.0, -27.0, -3.0, 31.903],
    [50.0, 2.5, 0.0, 58.0, 24.0, 15.0, 19.4535],
    [50.0, 2.5, 0.0, 50.0, 3.1736, 0.5854, 1.0],
    [50.0, 2.5, 0.0, 50.0, 3.2972, 0.0, 1.0],
    [50.0, 2.5, 0.0, 50.0, 1.8634, 0.5757, 1.0],
    [50.0, 2.5, 0.0, 50.0, 3.2592, 0.335, 1.0],
    [60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644],
    [63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.263],
    [61.2901, 3.7196, -5.3901, 61.4292, 2.248, -4.962, 1.8731],
    [35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645],
    [22.7233, 20.0904, -46.694, 23.0331, 14.973, -42.5619, 2.0373],
    [36.4612, 47.858, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146],
    [90.8027, -2.0831, 1.441, 91.1528, -1.6435, 0.0447, 1.4441],
    [90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381],
    [6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377],
    [2.0776, 0.0795, -1.135, 0.9033, -0.0636, -0.5514, 0.9082],
  ];

  it.each(sharma)('matches the reference pair (%f, %f, %f) / (%f, %f, %f) → %f', (L1, a1, b1, L2, a2, b2, expected) => {
    expect(deltaE2000([L1, a1, b1], [L2, a2, b2])).toBeCloseTo(expected, 4);
    expect(deltaE2000([L2, a2, b2], [L1, a1, b1])).toBeCloseTo(expected, 4);
  });

  it('is zero for identical colours', () => {
    expect(deltaE2000([41.2, 12.5, -30], [41.2, 12.5, -30])).toBe(0);
  });
});

describe('colourName', () => {
  it.each([
    [[255, 0, 0], 'red'],
    [[0, 0, 255], 'blue'],
    [[0, 128, 0], 'green'],
    [[0, 255, 0], 'green'],
    [[255, 255, 255], 'white'],
    [[0, 0, 0], 'black'],
    [[128, 128, 128], 'grey'],
    [[192, 192, 192], 'light grey'],
    [[60, 60, 60], 'dark grey'],
    [[255, 255, 0], 'yellow'],
    [[255, 140, 0], 'orange'],
    [[0, 0, 128], 'navy'],
    [[128, 0, 128], 'purple'],
    [[0, 128, 128], 'teal'],
    [[139, 69, 19], 'brown'],
    [[255, 182, 193], 'pink'],
    [[245, 245, 220], 'beige'],
    [[135, 206, 235], 'light blue'],
    [[70, 130, 180], 'blue'],
    [[128, 0, 0], 'dark red'],
    [[0, 100, 0], 'dark green'],
  ] as Array<[[number, number, number], string]>)('names %j %s', (rgb, name) => {
    expect(colourName(...rgb)).toBe(name);
  });

  it('tolerates small departures from the reference colours', () => {
    expect(colourName(230, 20, 25)).toBe('red');
    expect(colourName(20, 30, 230)).toBe('blue');
    expect(colourName(250, 250, 245)).toBe('white');
    expect(colourName(12, 10, 14)).toBe('black');
  });
});

describe('dominantColours', () => {
  it('gives one red colour with share 1 for a pure red image', async () => {
    const { data, width, height } = await rgbaOf(solid(64, 48, '#ff0000'));
    expect(dominantColours(data, width, height)).toEqual([{ hex: '#ff0000', rgb: [255, 0, 0], share: 1, name: 'red' }]);
  });

  it('splits a half red / half blue image into two colours of about half each', async () => {
    const { data, width, height } = await rgbaOf(
      await withBlocks(200, 100, '#ff0000', [{ left: 100, top: 0, width: 100, height: 100, colour: '#0000ff' }]),
    );
    const colours = dominantColours(data, width, height);
    expect(colours.map((c) => c.name).sort()).toEqual(['blue', 'red']);
    for (const c of colours) expect(c.share).toBeCloseTo(0.5, 2);
    expect(colours.find((c) => c.name === 'blue')!.hex).toBe('#0000ff');
  });

  it('orders colours by share, most common first, with shares that match the areas', async () => {
    // 60% white, 30% navy, 10% orange.
    const { data, width, height } = await rgbaOf(
      await withBlocks(100, 100, '#ffffff', [
        { left: 0, top: 0, width: 30, height: 100, colour: '#000080' },
        { left: 30, top: 0, width: 10, height: 100, colour: '#ff8c00' },
      ]),
    );
    const colours = dominantColours(data, width, height);
    expect(colours.map((c) => c.name)).toEqual(['white', 'navy', 'orange']);
    expect(colours.map((c) => c.share)).toEqual([0.6, 0.3, 0.1]);
  });

  it('ignores transparent pixels and returns nothing for a fully transparent image', async () => {
    const transparent = await rgbaOf(solid(32, 32, { r: 255, g: 0, b: 0, alpha: 0 }));
    expect(dominantColours(transparent.data, transparent.width, transparent.height)).toEqual([]);

    // A green square on a transparent canvas: only the square counts.
    const sticker = await rgbaOf(
      sharp(
        await solid(100, 100, { r: 0, g: 0, b: 0, alpha: 0 })
          .composite([{ input: await solid(20, 20, '#008000').png().toBuffer(), left: 40, top: 40 }])
          .png()
          .toBuffer(),
      ),
    );
    expect(dominantColours(sticker.data, sticker.width, sticker.height)).toEqual([
      { hex: '#008000', rgb: [0, 128, 0], share: 1, name: 'green' },
    ]);
  });

  it('merges near-identical shades into one colour and drops specks under 1%', async () => {
    // Two reds about 2 ΔE apart, plus a 0.25% yellow speck.
    const { data, width, height } = await rgbaOf(
      await withBlocks(200, 200, '#ff0000', [
        { left: 0, top: 0, width: 100, height: 200, colour: '#f50505' },
        { left: 190, top: 190, width: 10, height: 10, colour: '#ffff00' },
      ]),
    );
    const colours = dominantColours(data, width, height);
    expect(colours).toHaveLength(1);
    expect(colours[0]!.name).toBe('red');
    expect(colours[0]!.share).toBeCloseTo(0.998, 3);
  });

  it('returns at most `max` colours', async () => {
    const stripes = ['#ff0000', '#00ff00', '#0000ff', '#ffff00', '#000000', '#ffffff'].map((colour, i) => ({
      left: i * 20,
      top: 0,
      width: 20,
      height: 60,
      colour,
    }));
    const { data, width, height } = await rgbaOf(await withBlocks(120, 60, '#808080', stripes));
    expect(dominantColours(data, width, height, 6)).toHaveLength(6);
    expect(dominantColours(data, width, height, 3)).toHaveLength(3);
    expect(dominantColours(data, width, height)).toHaveLength(5);
  });

  // Its speed is measured by the engine bench (meta), not here: a timed unit test fails on a busy machine.
  it('is deterministic on a noisy 512x512 image', async () => {
    const { data, width, height } = await rgbaOf(
      sharp({ create: { width: 512, height: 512, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 50 } } }),
    );
    const first = dominantColours(data, width, height);
    const second = dominantColours(data, width, height);
    expect(second).toEqual(first);
    expect(first.length).toBeGreaterThan(0);
    for (let i = 1; i < first.length; i++) expect(first[i]!.share).toBeLessThanOrEqual(first[i - 1]!.share);
    for (const c of first) expect(c.hex).toMatch(/^#[0-9a-f]{6}$/);
  });

  it('rejects a buffer too small for the stated size', () => {
    expect(() => dominantColours(new Uint8Array(10), 4, 4)).toThrow(/RGBA/);
  });
});
