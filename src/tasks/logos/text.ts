/**
 * Brands found in text: OCR words (and pairs of neighbouring words, for names of two words)
 * compared with every brand name and alias, ignoring case, spaces and punctuation, with an
 * edit-distance similarity, so that an OCR slip ("N0RDWIND") still counts.
 */
import type { Box } from '../../runtime/boxes.js';
import type { Brand } from './gallery.js';

/** A word of the ocr task's result (`lines[].words`), restated here: a task imports no other task's code. */
export interface OcrWord {
  text: string;
  confidence: number;
  box: Box;
}

export interface TextMatch {
  brand: string;
  text: string;
  similarity: number;
  /** similarity x the OCR confidence (0-1). */
  score: number;
  box: Box;
}

const normalise = (text: string): string => text.toLowerCase().normalize('NFKD').replace(/[^\p{L}\p{N}]/gu, '');

/** Levenshtein distance, two rows. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

export function similarity(a: string, b: string): number {
  const length = Math.max(a.length, b.length);
  return length === 0 ? 0 : 1 - editDistance(a, b) / length;
}

function union(a: Box, b: Box): Box {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, width: Math.max(a.x + a.width, b.x + b.width) - x, height: Math.max(a.y + a.height, b.y + b.height) - y };
}

/** `lines`: the OCR result's lines of words, in reading order. */
export function matchText(lines: readonly (readonly OcrWord[])[], brands: readonly Brand[], minSimilarity: number): TextMatch[] {
  const names = brands.flatMap((brand) => brand.names.map((name) => ({ brand: brand.name, name: normalise(name) }))).filter((n) => n.name.length >= 3);
  const found: TextMatch[] = [];
  for (const line of lines) {
    // Single words, and each word joined with the next ("Nord Wind" for "nordwind").
    const spans = line.flatMap((word, i) => {
      const next = line[i + 1];
      return [{ words: [word] }, ...(next ? [{ words: [word, next] }] : [])];
    });
    for (const span of spans) {
      const text = normalise(span.words.map((w) => w.text).join(''));
      if (text.length < 3) continue;
      for (const { brand, name } of names) {
        const value = similarity(text, name);
        if (value < minSimilarity) continue;
        const confidence = Math.min(...span.words.map((w) => w.confidence)) / 100;
        const box = span.words.map((w) => w.box).reduce(union);
        found.push({ brand, text: span.words.map((w) => w.text).join(' '), similarity: Math.round(value * 1000) / 1000, score: Math.round(value * confidence * 1000) / 1000, box });
      }
    }
  }
  // One match per brand and place: the best.
  return found
    .sort((a, b) => b.score - a.score)
    .filter((match, i, all) => all.findIndex((other) => other.brand === match.brand && overlaps(other.box, match.box)) === i);
}

export function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}
