/**
 * Turns whatever a task threw into a stable (code, message) pair for the ledger. Library
 * messages are matched here, once, so that scripts can rely on the codes.
 */
import { messageOf, TaskError, type ErrorCode } from '../errors.js';
import { pixelLimit } from './limits.js';

export interface Failure {
  code: ErrorCode;
  message: string;
}

const NODE_ERRNO: Record<string, ErrorCode> = {
  ENOENT: 'E_NOT_FOUND',
  ENOTDIR: 'E_NOT_FOUND',
  EACCES: 'E_READ',
  EPERM: 'E_READ',
  EISDIR: 'E_READ',
  ELOOP: 'E_READ',
  EIO: 'E_READ',
};

const LIBRARY_PATTERNS: [RegExp, ErrorCode][] = [
  [/unsupported (feature|codec|compression)|no decoder|not supported by this build/i, 'E_UNSUPPORTED'],
  [/unsupported image format|input buffer is empty|premature end|corrupt|truncated|invalid|bad (huffman|marker)|not a (jpeg|png)|read error|load(_buffer)?:|vips/i, 'E_DECODE'],
];

export function classifyError(error: unknown): Failure {
  if (error instanceof TaskError) return { code: error.code, message: oneLine(error.message) };
  const err = error as NodeJS.ErrnoException | undefined;
  const message = oneLine(messageOf(error));
  // Seen on truncated JPEGs; the worker has already run the job once more for a reason.
  if (isReasonless(error)) {
    return { code: 'E_DECODE', message: 'the image could not be decoded (libvips gave no reason; the file is probably corrupt or truncated)' };
  }
  if (err?.code && NODE_ERRNO[err.code]) return { code: NODE_ERRNO[err.code]!, message };
  if (/exceeds pixel limit/i.test(message)) {
    return { code: 'E_TOO_LARGE', message: `the image has more than ${pixelLimit()} pixels (--max-pixels): refused from its header, before decoding` };
  }
  // libheif names the codec it lacks. Phones' HEIC is HEVC, which sharp's prebuilt libvips leaves
  // out (patents); the libvips message buries that under lines of seek errors.
  const missing = /compression format has not been built in: (\w+)/i.exec(message);
  if (missing) {
    const codec = missing[1]!;
    const what = codec.toUpperCase() === 'HEVC' ? 'HEIC/HEIF coded with HEVC (as phones write it)' : `a ${codec}-coded image`;
    return { code: 'E_UNSUPPORTED', message: `${what}: this build's libvips has no ${codec} decoder (sharp's prebuilt binaries leave it out); convert it to JPEG or AVIF first` };
  }
  // JavaScript's own errors are the task's code failing ("Invalid string length", "Invalid array
  // length", "x is not a function"), never a decoder's verdict on the image: libraries report a
  // bad file as a plain Error, which the patterns below read.
  if (error instanceof RangeError || error instanceof TypeError || error instanceof ReferenceError || error instanceof SyntaxError) return { code: 'E_TASK', message };
  for (const [pattern, code] of LIBRARY_PATTERNS) {
    if (pattern.test(message)) return { code, message };
  }
  return { code: 'E_TASK', message };
}

/**
 * sharp's "Unknown error": libvips keeps its error text per thread, and when one of its own
 * threads raised the error, sharp could not read it. The same decode run again can report the
 * real reason.
 */
export function isReasonless(error: unknown): boolean {
  return !(error instanceof TaskError) && oneLine(messageOf(error)) === 'Unknown error';
}

/** Ledger messages are one line: library messages often carry several. */
export function oneLine(message: string): string {
  const flat = message.replace(/\s*\n\s*/g, '; ').trim();
  return flat.length > 500 ? `${flat.slice(0, 497)}...` : flat;
}
