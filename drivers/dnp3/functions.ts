/** The DNP3 function table lives with the policy (policy/dnp3.ts): one table of facts. */
export { DNP3_FUNCTIONS, FC, dnp3Function, dnp3FunctionName, type Dnp3Function } from '../../policy/dnp3';
