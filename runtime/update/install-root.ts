/**
 * Where the A/B installation lives: --root, else ZONEGATE_ROOT, else the root of the slot this
 * bundle runs from (`<root>/slots/<a|b>/zonegate.js`), else /opt/zonegate.
 */
import { dirname, resolve } from 'node:path';

/** The installation root for the CLI. */
export function installRoot(options: { flag?: string; env: NodeJS.ProcessEnv; script?: string }): string {
  if (options.flag) return resolve(options.flag);
  if (options.env.ZONEGATE_ROOT) return resolve(options.env.ZONEGATE_ROOT);
  const script = options.script ? resolve(options.script) : '';
  const m = /^(.*)\/slots\/[ab]$/.exec(dirname(script));
  return m ? m[1] : '/opt/zonegate';
}
