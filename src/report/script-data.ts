/**
 * Data for the report's pages as classic scripts: `imgpipeReport.register("name", {...})`.
 * Pages opened from disk (file://) may not fetch JSON in Chromium, but they may load scripts.
 *
 * Everything in the data comes from files and results (file names, OCR text): it is JSON, which
 * a script can only read as data, and `<`, `>`, `&`, U+2028 and U+2029 are written as \u escapes
 * so that no sequence in it (`</script>`, `<!--`) means anything to an HTML parser either, even
 * if the script were ever inlined into a page.
 */
const UNSAFE = /[<>&\u2028\u2029]/g;

function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function dataScript(name: string, value: unknown): string {
  return `imgpipeReport.register(${safeJson(name)}, ${safeJson(value)});\n`;
}
