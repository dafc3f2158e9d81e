// protocol: the wire vocabulary — envelopes, names, ids, subjects and buckets,
// KV records, events, controls, error codes. No I/O.
export * from "./envelope.js";
export * from "./errors.js";
export * from "./events.js";
export * from "./ids.js";
export * from "./jcs.js";
export * from "./names.js";
export * from "./records.js";
export * from "./subjects.js";
export * from "./control.js";
