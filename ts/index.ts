// The embedding API: serve a Python app from a wasm guest on a TCP port.
// This module only names what is public; serve/ holds the code.
export { serve, type ReloadResult, type ServerHandle } from './serve/serve.js';
export { AppError, DEFAULT_APP, DEFAULT_LIMITS, type Limits, type ServeOptions } from './serve/options.js';
export type { PoolStats } from './serve/pool.js';
export { flushOutput } from './serve/output.js';
export type { AccessRecord, RequestKind } from './serve/access-log.js';
export type { InstanceStats } from './host/instance.js';
export type { EgressOptions, OutboundStats } from './host/outbound.js';
export { runVolumeCommand, VolumeToolError, VOLUME_COMMANDS } from './serve/volume-tool.js';
export { EnvironmentError, parseEnvFile } from './serve/environment.js';
