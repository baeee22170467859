import { describe, it, expect } from 'vitest';
import sharp, { type Exif } from 'sharp';
import { summariseExif } from '../../src/tasks/meta/exif.js';

async function exifOf(exif: Exif): Promise<Buffer> {
  const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
    .jpeg()
    .withExif(exif)
    .toBuffer();
  const { exif: raw } = await sharp(jpeg).metadata();
  expect(raw).toBeInstanceOf(Buffer);
  return raw!;
}

describe('summariseExif', () => {
  it('reads camera, exposure, date and GPS position', async () => {
    const raw = await exifOf({
      IFD0: { Make: 'Canon', Model: 'EOS 5D', Software: 'Firmware 1.1.1', DateTime: '2021:06:02 08:00:00' },
      IFD2: {
        DateTimeOriginal: '2021:06:01 12:34:56',
        ExposureTime: '1/250',
        FNumber: '28/10',
        ISOSpeedRatings: '400',
        FocalLength: '50/1',
        LensModel: 'EF50mm f/1.8 II',
      },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 2964/100', GPSLongitudeRef: 'E', GPSLongitude: '2/1 21/1 778/100' },
    });
    expect(summariseExif(raw)).toEqual({
      make: 'Canon',
      model: 'EOS 5D',
      lens: 'EF50mm f/1.8 II',
      software: 'Firmware 1.1.1',
      // DateTimeOriginal wins over the file's modification DateTime.
      takenAt: '2021-06-01T12:34:56',
      exposureTime: 0.004,
      fNumber: 2.8,
      iso: 400,
      focalLength: 50,
      gps: true,
      latitude: 48.858233,
      longitude: 2.352161,
    });
  });

  it('signs southern and western coordinates negative', async () => {
    // Sydney Opera House: 33°51'24.6"S 151°12'54.5"E; Rio: 22°54'30"S 43°11'47"W.
    const sydney = summariseExif(
      await exifOf({
        IFD3: { GPSLatitudeRef: 'S', GPSLatitude: '33/1 51/1 246/10', GPSLongitudeRef: 'E', GPSLongitude: '151/1 12/1 545/10' },
      }),
    );
    expect(sydney?.latitude).toBeCloseTo(-33.856833, 6);
    expect(sydney?.longitude).toBeCloseTo(151.215139, 6);

    const rio = summariseExif(
      await exifOf({
        IFD3: { GPSLatitudeRef: 'S', GPSLatitude: '22/1 54/1 30/1', GPSLongitudeRef: 'W', GPSLongitude: '43/1 11/1 47/1' },
      }),
    );
    expect(rio?.latitude).toBeCloseTo(-22.908333, 6);
    expect(rio?.longitude).toBeCloseTo(-43.196389, 6);
  });

  it('trims padded strings, drops empty ones and leaves absent fields out', async () => {
    const summary = summariseExif(await exifOf({ IFD0: { Make: '  NIKON CORPORATION  ', Model: '   ', Software: ' ' } }));
    expect(summary).toEqual({ make: 'NIKON CORPORATION', gps: false });
    expect(summary).not.toHaveProperty('model');
    expect(summary).not.toHaveProperty('latitude');
  });

  it('keeps the recorded offset when the file states one', async () => {
    const summary = summariseExif(
      await exifOf({ IFD2: { DateTimeOriginal: '2023:12:31 23:59:58', OffsetTimeOriginal: '-05:00' } }),
    );
    expect(summary?.takenAt).toBe('2023-12-31T23:59:58-05:00');
  });

  it('falls back to the IFD0 DateTime and ignores a zeroed clock', async () => {
    expect(summariseExif(await exifOf({ IFD0: { DateTime: '2019:02:03 04:05:06' } }))?.takenAt).toBe('2019-02-03T04:05:06');
    const zeroed = summariseExif(
      await exifOf({ IFD0: { DateTime: '2019:02:03 04:05:06' }, IFD2: { DateTimeOriginal: '0000:00:00 00:00:00' } }),
    );
    expect(zeroed?.takenAt).toBe('2019-02-03T04:05:06');
  });

  it('returns null for missing or malformed EXIF instead of throwing', async () => {
    expect(summariseExif(undefined)).toBeNull();
    expect(summariseExif(Buffer.alloc(0))).toBeNull();
    expect(summariseExif(Buffer.from('not exif at all'))).toBeNull();
    expect(summariseExif(Buffer.from('Exif\0\0MM\0\x2a'))).toBeNull();

    // A real block cut short and one with its IFD offset pointing far outside the buffer.
    const raw = await exifOf({ IFD0: { Make: 'Canon', Model: 'EOS 5D' } });
    expect(() => summariseExif(raw.subarray(0, 20))).not.toThrow();
    const corrupt = Buffer.from(raw);
    corrupt.writeUInt32LE(0x7fffffff, 10); // little-endian TIFF: IFD0 offset at 6 + 4
    expect(() => summariseExif(corrupt)).not.toThrow();
  });

  it('handles a JPEG without EXIF', async () => {
    const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).jpeg().toBuffer();
    const { exif } = await sharp(jpeg).metadata();
    expect(summariseExif(exif)).toBeNull();
  });
});
