// Makes a bundle pure ASCII: esbuild escapes strings (charset 'ascii') but keeps the comments it
// keeps, and one regex, as written; a single character past Latin-1 (an arrow in a comment) makes
// V8 hold the whole script source, which it keeps for lazy compilation, as a two-byte string:
// 6.9 MiB of heap for the 3.5 MB CLI in every command and in the gateway, instead of 3.5.
// Each non-ASCII UTF-16 unit becomes \uXXXX: the same text in strings and regexes (esbuild leaves
// no template literal with one), harmless in a comment; only columns after it on its line move.
import { readFileSync, writeFileSync } from 'node:fs';

export function asciiOnly(file) {
  const text = readFileSync(file, 'utf8');
  const ascii = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (ascii !== text) writeFileSync(file, ascii);
}
