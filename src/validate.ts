/**
 * Validation at the edges (flags, config files, env vars), with one message shape:
 * `<where>: expected <what>, got <value>`. Inside, types are trusted.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from './errors.js';
import type { OptionSpec, OptionValue } from './tasks/contract.js';

export function invalid(where: string, expected: string, got: unknown): UsageError {
  return new UsageError(`${where}: expected ${expected}, got ${describe(got)}`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'nothing';
  return JSON.stringify(value) ?? String(value);
}

/**
 * A number as people write it in decimal: digits, an optional fraction and exponent (`1e3`), spaces
 * around allowed. Number() alone would also take `0x10`, `0b1` and `Infinity`, and a blank as 0.
 */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function decimal(raw: unknown): unknown {
  return typeof raw === 'string' && DECIMAL.test(raw.trim()) ? Number(raw) : raw;
}

export function parseInteger(where: string, raw: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = decimal(raw);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(where, `an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}`, raw);
  }
  return value;
}

export function parseNumber(where: string, raw: unknown, min: number, max: number): number {
  const value = decimal(raw);
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw invalid(where, `a number from ${min} to ${max}`, raw);
  }
  return value;
}

export function parseBoolean(where: string, raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  if (raw === 'true' || raw === '1' || raw === 'yes') return true;
  if (raw === 'false' || raw === '0' || raw === 'no') return false;
  throw invalid(where, 'true or false', raw);
}

export function parseChoice<T extends string>(where: string, raw: unknown, choices: readonly T[]): T {
  if (typeof raw === 'string' && (choices as readonly string[]).includes(raw)) return raw as T;
  throw invalid(where, `one of ${choices.join(', ')}`, raw);
}

/** Parses `a=1,b=2` (or a config object `{a: 1}`) into a map, validating each value. */
export function parseKeyValues<T>(
  where: string,
  raw: unknown,
  parseValue: (where: string, value: unknown) => T,
): Map<string, T> {
  const pairs: [string, unknown][] = [];
  if (typeof raw === 'string') {
    for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw invalid(where, 'a list like task=N,task=N', raw);
      pairs.push([part.slice(0, eq).trim(), part.slice(eq + 1).trim()]);
    }
  } else if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    pairs.push(...Object.entries(raw));
  } else {
    throw invalid(where, 'a list like task=N,task=N', raw);
  }
  const map = new Map<string, T>();
  for (const [key, value] of pairs) map.set(key, parseValue(`${where} (${key})`, value));
  return map;
}

/** Validates one task option value against its spec. */
export function parseOption(where: string, spec: OptionSpec, raw: unknown): OptionValue {
  switch (spec.type) {
    case 'integer':
      return parseInteger(where, raw, spec.min ?? Number.MIN_SAFE_INTEGER, spec.max);
    case 'number':
      return parseNumber(where, raw, spec.min ?? -Number.MAX_VALUE, spec.max ?? Number.MAX_VALUE);
    case 'boolean':
      return parseBoolean(where, raw);
    case 'enum':
      return parseChoice(where, raw, spec.values);
    case 'string':
      if (typeof raw !== 'string' || (spec.pattern && !spec.pattern.test(raw))) {
        throw invalid(where, spec.patternHint ?? 'a string', raw);
      }
      return raw;
  }
}

/** An http or https URL (a service to talk to, like a Pushgateway). */
export function parseHttpUrl(where: string, raw: unknown): string {
  const expected = 'an http(s) URL like http://pushgateway:9091';
  if (typeof raw !== 'string') throw invalid(where, expected, raw);
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw invalid(where, expected, raw);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') throw invalid(where, expected, raw);
  return url.href;
}

/**
 * A file or folder path: a non-empty string. An empty one means something else to each consumer,
 * never what was meant: SQLite opens a temporary database (a run's results lost), path.resolve
 * gives the current folder.
 */
export function parsePath(where: string, raw: unknown, expected = 'a path'): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw invalid(where, expected, raw);
  return raw;
}

/**
 * A file imgpipe will create or replace: its folder must exist and be writable, and the file, if
 * present, writable too. Checked at start-up so that the problem is a usage error, not a late one.
 */
export function parseWritableFile(where: string, raw: unknown): string {
  const file = parsePath(where, raw, 'a file path');
  const dir = path.dirname(path.resolve(file));
  try {
    if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a folder`);
    accessSync(dir, constants.W_OK);
    if (existsSync(file)) {
      if (statSync(file).isDirectory()) throw new UsageError(`${where}: ${file} is a folder; give a file path`);
      accessSync(file, constants.W_OK);
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${where}: cannot write ${file} (${(error as Error).message}); give a path in an existing, writable folder`);
  }
  return file;
}
