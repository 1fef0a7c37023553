/** The built-in drivers' report sections, in the order the driver registry lists them (for callers without a registry). */
import type { ReportSection } from '../section';
import { modbusReportSection } from './modbus';
import { dnp3ReportSection } from './dnp3';
import { iec104ReportSection } from './iec104';

export const BUILTIN_REPORT_SECTIONS: readonly ReportSection[] = [modbusReportSection, dnp3ReportSection, iec104ReportSection];
