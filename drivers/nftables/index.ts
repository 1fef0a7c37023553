/**
 * The nftables driver: zone segmentation in the kernel. render.ts turns a policy and the
 * gateway's deployment facts into one `nft -f` script (pure); apply.ts checks, commits and rolls
 * back through `nft`; counters.ts reads per-conduit counters back.
 */
export { renderRuleset } from './render';
export type { ManagementOptions, ProxyListener, RenderOptions, RenderResult, SkippedConduit } from './options';
export { applyRuleset, listTable, removeRuleset } from './apply';
export type { ApplyOptions, ApplyResult, NftCommandOptions } from './apply';
export { parseCounters, readCounters } from './counters';
export type { Counters, PacketCount, RuleCounter, SharedCount } from './counters';
export { missingInterfaces } from './interfaces';
