import { describe, expect, it } from 'vitest';
import { classifyError } from '../../src/runtime/failure.js';
import { looksLikeSvg } from '../../src/runtime/image.js';
import { setMaxPixels } from '../../src/runtime/limits.js';
import { TaskError } from '../../src/tasks/contract.js';

describe('failure codes', () => {
  it('maps library and system errors to stable codes with one-line messages', () => {
    expect(classifyError(new Error('Input buffer contains unsupported image format'))).toEqual({ code: 'E_DECODE', message: 'Input buffer contains unsupported image format' });
    expect(classifyError(new Error('VipsJpeg: Premature end of input file\nvips2png: unable to write'))).toEqual({ code: 'E_DECODE', message: 'VipsJpeg: Premature end of input file; vips2png: unable to write' });
    expect(classifyError(new Error('Input image exceeds pixel limit')).code).toBe('E_TOO_LARGE');
    expect(classifyError(Object.assign(new Error('no such file'), { code: 'ENOENT' })).code).toBe('E_NOT_FOUND');
    expect(classifyError(Object.assign(new Error('denied'), { code: 'EACCES' })).code).toBe('E_READ');
    expect(classifyError(new TaskError('E_WRITE', 'disk full'))).toEqual({ code: 'E_WRITE', message: 'disk full' });
    expect(classifyError(new Error('something else entirely')).code).toBe('E_TASK');
  });

  it("blames the task, not the image, for JavaScript's own errors, even when their words match a decoder's", () => {
    // 'x'.repeat(6e8) in a handler: "Invalid string length" used to read as a corrupt image.
    expect(classifyError(new RangeError('Invalid string length'))).toEqual({ code: 'E_TASK', message: 'Invalid string length' });
    expect(classifyError(new TypeError('Invalid tensor shape'))).toEqual({ code: 'E_TASK', message: 'Invalid tensor shape' });
    expect(classifyError(new Error('VipsJpeg: Invalid SOS parameters for sequential JPEG')).code).toBe('E_DECODE');
  });

  it('words whatever a task throws, never failing on it: a message that is not text, an object without a prototype', () => {
    // Classifying must not throw itself: the job would be recorded with imgpipe's own TypeError as its reason.
    expect(classifyError({ message: 42 })).toEqual({ code: 'E_TASK', message: '42' });
    expect(classifyError(Object.create(null))).toEqual({ code: 'E_TASK', message: '[object Object]' });
    expect(classifyError({ get message(): string { throw new Error('getter'); } })).toEqual({ code: 'E_TASK', message: '[object Object]' });
    expect(classifyError(null)).toEqual({ code: 'E_TASK', message: 'null' });
    expect(classifyError('plain text')).toEqual({ code: 'E_TASK', message: 'plain text' });
  });

  it('treats sharp\'s reasonless "Unknown error" as a decoding failure (truncated files under load)', () => {
    expect(classifyError(new Error('Unknown error'))).toMatchObject({ code: 'E_DECODE', message: expect.stringMatching(/corrupt or truncated/) });
  });

  it('words the pixel limit and a missing HEVC decoder so that the user knows what to do', () => {
    setMaxPixels(1000);
    expect(classifyError(new Error('Input image exceeds pixel limit'))).toEqual({
      code: 'E_TOO_LARGE',
      message: 'the image has more than 1000 pixels (--max-pixels): refused from its header, before decoding',
    });
    const libheif = 'source: bad seek to 1024\nsource: bad seek to 512\nheif: Error while loading plugin: Support for this compression format has not been built in: HEVC (a suitable decoder plugin is libde265) (11.6003)';
    expect(classifyError(new Error(libheif))).toEqual({
      code: 'E_UNSUPPORTED',
      message: "HEIC/HEIF coded with HEVC (as phones write it): this build's libvips has no HEVC decoder (sharp's prebuilt binaries leave it out); convert it to JPEG or AVIF first",
    });
  });

  it('tells SVG from other files by its content, whatever the name', () => {
    expect(looksLikeSvg(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBe(true);
    expect(looksLikeSvg(Buffer.from('\uFEFF  <?xml version="1.0"?>\n<!-- drawn -->\n<SVG width="1">'))).toBe(true);
    expect(looksLikeSvg(Buffer.from('<?xml version="1.0"?><feed/>'))).toBe(false);
    // A JPEG whose XMP metadata mentions <svg> is still a JPEG.
    expect(looksLikeSvg(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe1]), Buffer.from('<x:xmpmeta><svg>')]))).toBe(false);
  });
});
