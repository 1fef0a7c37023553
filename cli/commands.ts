/**
 * Every CLI command, in help order: the registry. Each command lives in its own file under cli/
 * (the fleet manager's under cli/fleet/); add one import and one entry here to register a new one.
 * cli/ is the top layer: it imports runtime/ and fleet/, which never import cli/ or each other.
 */
import type { Command } from './framework';
import { policyCheckCommand } from './policy-check';
import { policyTestCommand } from './policy-test';
import { policyExplainCommand } from './policy-explain';
import { policyDiffCommand } from './policy-diff';
import { policyReplayCommand } from './policy-replay';
import { policyLearnCommand } from './policy-learn';
import { runCommand } from './run';
import { statusCommand } from './status';
import { bundleVerifyCommand } from './bundle-verify';
import { bundleImportCommand } from './bundle-import';
import { auditVerifyCommand } from './audit-verify';
import { auditShowCommand } from './audit-show';
import { reportCommand } from './report';
import { nftRenderCommand } from './nft-render';
import { fleetKeygenCommand } from './fleet/keygen';
import { fleetTrustInitCommand, fleetTrustRotateCommand } from './fleet/trust';
import { fleetSignCommand } from './fleet/sign';
import { fleetPublishCommand } from './fleet/publish';
import { fleetStatusCommand } from './fleet/status';
import { fleetGrantCommand } from './fleet/grant';
import { fleetCommandCommand } from './fleet/command';
import { fleetAuditCollectCommand } from './fleet/audit-collect';
import { fleetAuditExportCommand, fleetAuditVerifyCommand } from './fleet/audit-db';
import { fleetReleaseCommand } from './fleet/release';
import { fleetServeCommand, fleetUserAddCommand } from './fleet/serve';
import { consoleCommand } from './console';
import { userAddCommand, userPasswdCommand, userListCommand, userUnlockCommand } from './user';
import { updateImportCommand, updateStatusCommand, updateCommitCommand } from './update';
import { labPlcCommand } from './lab-plc';
import { labClientCommand } from './lab-client';
import { labPolicyCommand } from './lab-policy';
import { labRtuCommand } from './lab-rtu';
import { labMasterCommand } from './lab-master';
import { versionCommand } from './version';

export const commands: readonly Command[] = [
  policyCheckCommand,
  policyTestCommand,
  policyExplainCommand,
  policyDiffCommand,
  policyReplayCommand,
  policyLearnCommand,
  runCommand,
  statusCommand,
  bundleVerifyCommand,
  bundleImportCommand,
  auditVerifyCommand,
  auditShowCommand,
  reportCommand,
  nftRenderCommand,
  fleetKeygenCommand,
  fleetTrustInitCommand,
  fleetTrustRotateCommand,
  fleetSignCommand,
  fleetPublishCommand,
  fleetStatusCommand,
  fleetGrantCommand,
  fleetCommandCommand,
  fleetAuditCollectCommand,
  fleetAuditVerifyCommand,
  fleetAuditExportCommand,
  fleetReleaseCommand,
  fleetServeCommand,
  fleetUserAddCommand,
  consoleCommand,
  userAddCommand,
  userPasswdCommand,
  userListCommand,
  userUnlockCommand,
  updateImportCommand,
  updateStatusCommand,
  updateCommitCommand,
  labPlcCommand,
  labClientCommand,
  labPolicyCommand,
  labRtuCommand,
  labMasterCommand,
  versionCommand,
];
