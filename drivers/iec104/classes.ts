/** The IEC 104 decision classes live with the policy (policy/iec104-classes.ts): one table of facts. */
export {
  typeClass, controlCauseAllowed, stationWide, controlDirection, timeTaggedCommand, selectable, IEC104_CLASSES, type Iec104Class,
} from '../../policy/iec104-classes';
