/** The package architecture names (build/package.mjs) and the one this process runs on. */

export const PACKAGE_ARCHES = ['arm64', 'armv7', 'x64'] as const;
export type PackageArch = (typeof PACKAGE_ARCHES)[number];

/** Maps Node's process.arch to a package architecture; undefined for one we do not build. */
export function packageArchOf(nodeArch: string): PackageArch | undefined {
  return ({ arm64: 'arm64', arm: 'armv7', x64: 'x64' } as Record<string, PackageArch>)[nodeArch];
}
