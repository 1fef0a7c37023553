import type { Command } from './framework';

/** Set by esbuild at bundle time; the package version otherwise. */
declare const ZONEGATE_VERSION: string | undefined;

export function runtimeVersion(): string {
  return typeof ZONEGATE_VERSION === 'string' ? ZONEGATE_VERSION : '0.0.0-dev';
}

export const versionCommand: Command = {
  path: ['version'],
  summary: 'print the zonegate runtime version',
  usage: 'version [--json]',
  json: true,
  run(ctx) {
    const info = { version: runtimeVersion(), node: process.versions.node, arch: process.arch };
    if (ctx.json) ctx.printJson(info);
    else ctx.out(`zonegate ${info.version} (node ${info.node}, ${info.arch})`);
    return 0;
  },
};
