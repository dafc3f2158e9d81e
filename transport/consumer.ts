// ensureDurableConsumer: the one way a durable pull consumer is made — looked up,
// created when JetStream says it does not exist, then bound.
import type { Consumer, ConsumerConfig, JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { isNotFound } from "./jetstream-errors.js";

/** The durable consumer `config.durable_name` on `stream`, created with `config` if missing. */
export async function ensureDurableConsumer(
  nats: { js: JetStreamClient; jsm: JetStreamManager },
  stream: string,
  config: Partial<ConsumerConfig> & { durable_name: string },
): Promise<Consumer> {
  try {
    await nats.jsm.consumers.info(stream, config.durable_name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await nats.jsm.consumers.add(stream, config);
  }
  return nats.js.consumers.get(stream, config.durable_name);
}
