// facts: the record — schema, fact log, recorder, verifier.
export {
  factDigest,
  factId,
  GENESIS,
  signFact,
  verifyFactSignature,
  type Fact,
  type FactType,
  FACT_TYPES,
} from "./fact.js";
export { FactLog, factFiles } from "./fact-log.js";
export { Recorder, RECORDER_IDENTITY, type RecorderOptions } from "./recorder.js";
export { verifyFacts, checkArtifact, type VerifyReport, type FactProblem } from "./verify.js";
