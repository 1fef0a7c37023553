/**
 * The DNP3 driver: the codec (link, transport, application) and the inspecting proxy.
 */
export { crc16dnp, crcOk, putCrc } from './crc';
export { LinkSplitter, LinkFrame, encodeLinkFrame, frameBytes, LinkControl, LINK_MAX_DATA, LINK_MAX_FRAME, type LinkFrameHandler } from './link';
export { Reassembler, segmentFragment, DEFAULT_MAX_FRAGMENT, TRANSPORT_FIN, TRANSPORT_FIR, type SegmentResult } from './transport';
export { AppFragment, parseFragment, AppControl, Iin1, Iin2 } from './app';
export { DNP3_FUNCTIONS, FC, dnp3Function, dnp3FunctionName, type Dnp3Function } from './functions';
export { objectSize, objectName } from './objects';
export { encodeFragment, encodeFrames, crob, analogOutput, dnpTime, CrobCode, ControlStatus, type HeaderSpec, type FragmentSpec } from './encode';
export { createDnp3Proxy } from './proxy';
export type { Dnp3Proxy, Dnp3ProxyOptions, Dnp3ProxyStats, Dnp3Decider } from './types';
export { iin2ForReason, localResponse } from './answers';
export { auditFields } from './audit-fields';
