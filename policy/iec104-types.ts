/**
 * The ASDU type identifications IEC 60870-5-104 uses (IEC 60870-5-101:2003 section 7.2.1.1 and
 * 7.3, restricted by IEC 60870-5-104:2006 section 8: the CP24-time-tagged types 2, 4, 6, 8, 10,
 * 12, 14, 16, 17, 18 and 19, and C_TS_NA_1 104 and C_CD_NA_1 106, are not used over 104), with
 * the size of one information element (the bytes after each 3-byte IOA). A type id not in this
 * table is unknown: the parser reports it as such (a station answers cause 44).
 *
 * Sizes: NVA/SVA 2, R32 4, QDS/QOS/QPM 1, BSI 4, BCR 5, CP16 2, CP56 7. F_SG_NA_1 125 carries a
 * segment of LOS bytes (its element size is 4 + LOS, read from the element: SEGMENT below).
 */

/** Element size of F_SG_NA_1: NOF (2) + NOS (1) + LOS (1), then LOS bytes of segment. */
export const SEGMENT = -1;

// [type id, name, element size]
const TYPES: ReadonlyArray<readonly [number, string, number]> = [
  // process information, monitor direction
  [1, 'M_SP_NA_1', 1], [3, 'M_DP_NA_1', 1], [5, 'M_ST_NA_1', 2], [7, 'M_BO_NA_1', 5],
  [9, 'M_ME_NA_1', 3], [11, 'M_ME_NB_1', 3], [13, 'M_ME_NC_1', 5], [15, 'M_IT_NA_1', 5],
  [20, 'M_PS_NA_1', 5], [21, 'M_ME_ND_1', 2],
  [30, 'M_SP_TB_1', 8], [31, 'M_DP_TB_1', 8], [32, 'M_ST_TB_1', 9], [33, 'M_BO_TB_1', 12],
  [34, 'M_ME_TD_1', 10], [35, 'M_ME_TE_1', 10], [36, 'M_ME_TF_1', 12], [37, 'M_IT_TB_1', 12],
  [38, 'M_EP_TD_1', 10], [39, 'M_EP_TE_1', 11], [40, 'M_EP_TF_1', 11],
  // process information, control direction
  [45, 'C_SC_NA_1', 1], [46, 'C_DC_NA_1', 1], [47, 'C_RC_NA_1', 1],
  [48, 'C_SE_NA_1', 3], [49, 'C_SE_NB_1', 3], [50, 'C_SE_NC_1', 5], [51, 'C_BO_NA_1', 4],
  [58, 'C_SC_TA_1', 8], [59, 'C_DC_TA_1', 8], [60, 'C_RC_TA_1', 8],
  [61, 'C_SE_TA_1', 10], [62, 'C_SE_TB_1', 10], [63, 'C_SE_TC_1', 12], [64, 'C_BO_TA_1', 11],
  // system information
  [70, 'M_EI_NA_1', 1],
  [100, 'C_IC_NA_1', 1], [101, 'C_CI_NA_1', 1], [102, 'C_RD_NA_1', 0], [103, 'C_CS_NA_1', 7],
  [105, 'C_RP_NA_1', 1], [107, 'C_TS_TA_1', 9],
  // parameters
  [110, 'P_ME_NA_1', 3], [111, 'P_ME_NB_1', 3], [112, 'P_ME_NC_1', 5], [113, 'P_AC_NA_1', 1],
  // file transfer
  [120, 'F_FR_NA_1', 6], [121, 'F_SR_NA_1', 7], [122, 'F_SC_NA_1', 4], [123, 'F_LS_NA_1', 5],
  [124, 'F_AF_NA_1', 4], [125, 'F_SG_NA_1', SEGMENT], [126, 'F_DR_TA_1', 13], [127, 'F_SC_NB_1', 16],
];

const UNKNOWN = -128;
const sizes = new Int8Array(256).fill(UNKNOWN);
const names: string[] = new Array<string>(256).fill('');
for (const [t, name, size] of TYPES) { sizes[t] = size; names[t] = name; }

/** The element size of a type (bytes, 0 for none, SEGMENT for F_SG_NA_1), or undefined when unknown. */
export function elementSize(typeId: number): number | undefined {
  const s = sizes[typeId & 0xff];
  return s === UNKNOWN || typeId !== (typeId & 0xff) ? undefined : s;
}

/** Whether 104 defines the type. */
export function typeKnown(typeId: number): boolean {
  return elementSize(typeId) !== undefined;
}

/** `C_SC_NA_1`, or `type 42` for an unknown one. */
export function typeName(typeId: number): string {
  return (typeId === (typeId & 0xff) && names[typeId]) || `type ${typeId}`;
}

/** Type ids by name, for tests and the lab peers. */
export const TypeId = Object.freeze({
  M_SP_NA_1: 1, M_DP_NA_1: 3, M_ST_NA_1: 5, M_BO_NA_1: 7, M_ME_NA_1: 9, M_ME_NB_1: 11, M_ME_NC_1: 13, M_IT_NA_1: 15,
  M_PS_NA_1: 20, M_ME_ND_1: 21, M_SP_TB_1: 30, M_DP_TB_1: 31, M_ST_TB_1: 32, M_BO_TB_1: 33, M_ME_TD_1: 34,
  M_ME_TE_1: 35, M_ME_TF_1: 36, M_IT_TB_1: 37, M_EP_TD_1: 38, M_EP_TE_1: 39, M_EP_TF_1: 40,
  C_SC_NA_1: 45, C_DC_NA_1: 46, C_RC_NA_1: 47, C_SE_NA_1: 48, C_SE_NB_1: 49, C_SE_NC_1: 50, C_BO_NA_1: 51,
  C_SC_TA_1: 58, C_DC_TA_1: 59, C_RC_TA_1: 60, C_SE_TA_1: 61, C_SE_TB_1: 62, C_SE_TC_1: 63, C_BO_TA_1: 64,
  M_EI_NA_1: 70, C_IC_NA_1: 100, C_CI_NA_1: 101, C_RD_NA_1: 102, C_CS_NA_1: 103, C_RP_NA_1: 105, C_TS_TA_1: 107,
  P_ME_NA_1: 110, P_ME_NB_1: 111, P_ME_NC_1: 112, P_AC_NA_1: 113,
  F_FR_NA_1: 120, F_SR_NA_1: 121, F_SC_NA_1: 122, F_LS_NA_1: 123, F_AF_NA_1: 124, F_SG_NA_1: 125, F_DR_TA_1: 126, F_SC_NB_1: 127,
} as const);

/** Causes of transmission (IEC 60870-5-101 section 7.2.3), the ones a gateway reads or answers with. */
export const Cause = Object.freeze({
  PERIODIC: 1, BACKGROUND: 2, SPONTANEOUS: 3, INITIALISED: 4, REQUEST: 5, ACTIVATION: 6, ACTIVATION_CON: 7,
  DEACTIVATION: 8, DEACTIVATION_CON: 9, ACTIVATION_TERM: 10, RETURN_REMOTE: 11, RETURN_LOCAL: 12, FILE: 13,
  INTERROGATED_STATION: 20,
  UNKNOWN_TYPE: 44, UNKNOWN_CAUSE: 45, UNKNOWN_COMMON_ADDRESS: 46, UNKNOWN_IOA: 47,
} as const);
