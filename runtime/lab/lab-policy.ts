/**
 * The loopback lab copy of a site policy: every IPv4 address and network 10.x.y.z becomes
 * 127.x.y.z, so that clients bound to loopback addresses carry the policy's identities on one
 * machine (the HMI at 10.10.0.5 becomes 127.10.0.5). The text is edited in place, comments and
 * layout kept; nothing else changes. Pure: text in, text out.
 */
export function labPolicyCopy(text: string): string {
  return text.replace(/(?<![\d.])10\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d])/g, '127.$1.$2.$3');
}
