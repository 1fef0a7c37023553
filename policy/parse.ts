/**
 * A policy text (YAML or JSON) to a validated PolicyDocument: parseSource, then validatePolicy
 * with the source's locator so that every issue carries file, line and column.
 */
import { parseSource } from './source';
import type { SourceFormat } from './source';
import { validatePolicy } from './validate';
import type { PolicyDocument } from './types';

/**
 * Parses and validates. Throws ZonegateError('ERR_POLICY_PARSE') for syntax errors and
 * ZonegateError('ERR_POLICY_INVALID') listing every problem otherwise.
 */
export function parsePolicy(text: string, opts: { file?: string; format?: SourceFormat } = {}): PolicyDocument {
  const src = parseSource(text, { file: opts.file, format: opts.format });
  return validatePolicy(src.value, { file: opts.file, locate: src.locate });
}
