/**
 * Every CLI command, in help order. Each command lives in its own file under runtime/cli/ (or
 * fleet/cli/); add one import and one entry here to register a new one.
 */
import type { Command } from './framework';
import { versionCommand } from './version';
import { labPlcCommand } from './lab-plc';
import { policyCheckCommand } from './policy-check';
import { policyTestCommand } from './policy-test';
import { policyExplainCommand } from './policy-explain';
import { runCommand } from './run';

export const commands: readonly Command[] = [
  policyCheckCommand,
  policyTestCommand,
  policyExplainCommand,
  runCommand,
  versionCommand,
  labPlcCommand,
];
