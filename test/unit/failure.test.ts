import { describe, expect, it } from 'vitest';
import { classifyError } from '../../src/runtime/failure.js';
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

  it('treats sharp\'s reasonless "Unknown error" as a decoding failure (truncated files under load)', () => {
    expect(classifyError(new Error('Unknown error'))).toMatchObject({ code: 'E_DECODE', message: expect.stringMatching(/corrupt or truncated/) });
  });
});
