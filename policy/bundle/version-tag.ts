/** The policy version string that tags every decision: `v<version>-<first 8 hex of sha256(bundle bytes)>`. */
export function policyVersionTag(input: { version: number; hash: string }): string {
  return `v${input.version}-${input.hash.slice(0, 8)}`;
}
