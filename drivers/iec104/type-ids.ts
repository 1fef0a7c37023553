/** The IEC 104 type table lives with the policy (policy/iec104-types.ts): one table of facts. */
export { SEGMENT, TypeId, Cause, elementSize, typeKnown, typeName } from '../../policy/iec104-types';
