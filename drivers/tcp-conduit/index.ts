/** The TCP conduit proxy driver: decide each connection once, then splice bytes both ways. */
export { createTcpConduit, type TcpConduit } from './create-conduit';
export type { TcpConduitOptions, TcpConduitStats, HostPort } from './options';
