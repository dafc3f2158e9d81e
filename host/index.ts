// host: the process that runs hosted agents — runtime (controls, commit,
// supervision), worker threads, components, placement, metrics.
export { Host, type HostOptions, type HostCounters } from "./host.js";
export {
  ComponentLoader,
  ALLOWED_IMPORTS,
  forbiddenImports,
  type LoadedComponent,
} from "./components/component-loader.js";
export { EventHub } from "./event-hub.js";
export { HostMetrics, MetricsRegistry, Counter, Histogram } from "./metrics.js";
