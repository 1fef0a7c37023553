/**
 * The `zonegate` executable with every command imported up front (tests bundle this entry). The
 * shipped bundle starts the same way from a registry that loads each command's code on first
 * use (build/cli-build.mjs).
 */
import { startCli } from './start';
import { commands } from './commands';

startCli(commands);
