/**
 * The IEC 60870-5-104 driver, first slice: the codec (APCI framing, ASDUs, encoders), the type
 * table and decision classes, the APCI window of one side, the reader that composes them, the
 * select-before-execute store, the gateway's negative answers and the audit field. The proxy,
 * its policy and the daemon wiring come in a later slice (issue 17).
 */
export {
  ApciSplitter, ApciFrame, ApciFormat, UFunction, uFunctionName, encodeIFrame, encodeSFrame, encodeUFrame,
  APCI_START, APCI_BYTES, APDU_MIN_LENGTH, APDU_MAX_LENGTH, APDU_MAX_BYTES, ASDU_MAX_BYTES, SEQ_MODULO,
  type ApciHandler, type ApciSplitterOptions, type ApciFormatCode, type UFunctionCode,
} from './apci';
export { TypeId, Cause, elementSize, typeKnown, typeName, SEGMENT } from './type-ids';
export { Asdu, parseAsdu, commandKind, CommandKind, ASDU_MAX_OBJECTS, ASDU_HEADER_BYTES, IOA_BYTES, IOA_MAX, type AsduFault, type CommandKindCode } from './asdu';
export {
  encodeAsdu, answerAsdu, sco, dco, rco, setpointNormalized, setpointScaled, setpointFloat, bitstring, measuredFloat, siq, qoi, cp56, element,
  type AsduSpec, type CommandOptions, type SetpointOptions,
} from './encode';
export { typeClass, controlCauseAllowed, stationWide, controlDirection, timeTaggedCommand, selectable, IEC104_CLASSES, type Iec104Class } from './classes';
export { ApciWindow, IEC104_LINK_DEFAULTS, type Iec104Link, type WindowOptions, type WindowDue } from './window';
export { auditFields, AUDIT_MAX_OBJECTS, type Iec104AuditFields } from './audit-fields';
export { Iec104SelectStore } from './select-store';
export { refusalAsdu, refusalCause, refusalForReason, type Iec104Refusal } from './answers';
export { ApduReader, type ApduReaderHandler, type ApduReaderOptions } from './reader';
export { createIec104Proxy } from './proxy';
export type { Iec104Proxy, Iec104ProxyOptions, Iec104ProxyStats, Iec104Decider } from './types';
