import { describe, expect, it } from 'vitest';
import { etaText } from '../../src/pipeline/progress.js';

describe('the progress bar time left', () => {
  it('reads as a person would write it, whole seconds up to hours', () => {
    expect(etaText(0)).toBe('0s');
    expect(etaText(41.6)).toBe('42s');
    expect(etaText(725)).toBe('12m05s');
    expect(etaText(3 * 3600 + 4 * 60 + 59)).toBe('3h04m');
    expect(etaText(-3)).toBe('0s');
  });
});
