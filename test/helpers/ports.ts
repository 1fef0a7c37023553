// The tests' free ports: the lab's picker (runtime/lab/free-port.ts), which make demo uses too.
export { freePort } from '../../runtime/lab/free-port';
