// placement: which host runs which agent — the pure assignment, lease I/O, the scheduler.
export { assign } from "./assign.js";
export { ageOf, readPlacement } from "./leases.js";
export { Placement, type PlacementOptions, type StopReason } from "./scheduler.js";
