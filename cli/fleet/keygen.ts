/** `zonegate fleet keygen --out DIR --name NAME [--json]`: a new ed25519 signing key pair. */
import type { Command } from '../framework';
import { usageError } from '../framework';
import { generateSigningKey, gitWorkTreeOf, writeKeyPair } from '../../fleet/keys';

export const fleetKeygenCommand: Command = {
  path: ['fleet', 'keygen'],
  summary: 'create an ed25519 signing key pair (NAME.key mode 0600, NAME.pub) and print its keyId',
  usage: 'fleet keygen --out DIR --name NAME [--json]',
  description: `
Writes DIR/NAME.key (the private seed, mode 0600; never overwritten) and DIR/NAME.pub, and prints
the keyId (first 16 bytes of the sha256 of the raw public key, in hex) that trust roots and
signatures name the key by. Keep root keys offline. Warns (stderr) when DIR is inside a git work
tree: a private key there is one \`git add\` away from being published.`,
  options: {
    out: { type: 'string', value: 'DIR', description: 'folder for the key files (created if needed)' },
    name: { type: 'string', value: 'NAME', description: 'file name stem, e.g. policy-1' },
  },
  json: true,
  async run(ctx) {
    if (typeof ctx.options.out !== 'string') throw usageError('--out DIR is required');
    if (typeof ctx.options.name !== 'string') throw usageError('--name NAME is required');
    const r = await writeKeyPair({ dir: ctx.options.out, name: ctx.options.name, key: generateSigningKey() });
    const tree = gitWorkTreeOf(r.privateFile);
    if (tree !== null) ctx.err(`warning: the private key ${r.privateFile} is inside the git work tree ${tree}; keep it out of commits (.gitignore) and move root keys offline`);
    if (ctx.json) ctx.printJson({ ok: true, ...r });
    else ctx.out(`keyId ${r.keyId}\n  private: ${r.privateFile} (mode 0600)\n  public:  ${r.publicFile}`);
    return 0;
  },
};
