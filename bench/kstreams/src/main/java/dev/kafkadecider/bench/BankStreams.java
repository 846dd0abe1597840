package dev.kafkadecider.bench;

import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.state.Stores;

/**
 * The Kafka Streams exactly_once_v2 baseline of the bench (bench/kstreams.ts): kafka-decider's bank-account
 * topology as a Kafka Streams app on the same wire contract. Commands (key aggregateId, msgpack envelope) in;
 * per-aggregate state in a persistent (RocksDB) key-value store with its changelog; one event (key aggregateId)
 * and one reply (key commandId) out, both msgpack.
 *
 * <p>Configuration from the environment: KS_BOOTSTRAP, KS_APPLICATION_ID (the consumer group), KS_COMMANDS,
 * KS_EVENTS, KS_REPLIES, KS_STATE_DIR, KS_DEDUPE (default 32), KS_THREADS (default 1). Prints "STATE RUNNING"
 * etc. on stdout at every state change; stops cleanly on SIGTERM.
 */
public final class BankStreams {
  static final String STORE = "accounts";

  private BankStreams() {}

  private static String env(String name, String dflt) {
    String v = System.getenv(name);
    if (v == null || v.isEmpty()) {
      if (dflt == null) throw new IllegalArgumentException(name + " is not set");
      return dflt;
    }
    return v;
  }

  public static Topology topology(String commands, String events, String replies, int dedupe) {
    Topology t = new Topology();
    t.addSource("commands", new StringDeserializer(), new ByteArrayDeserializer(), commands);
    t.addProcessor("bank", () -> new BankProcessor(STORE, dedupe), "commands");
    // Caching on, as a DSL store has by default: the changelog gets the last value of each key per commit.
    t.addStateStore(
        Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(STORE), Serdes.String(), Serdes.ByteArray())
            .withCachingEnabled(),
        "bank");
    t.addSink(BankProcessor.EVENTS, events, new StringSerializer(), new ByteArraySerializer(), "bank");
    t.addSink(BankProcessor.REPLIES, replies, new StringSerializer(), new ByteArraySerializer(), "bank");
    return t;
  }

  public static void main(String[] args) throws InterruptedException {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, env("KS_APPLICATION_ID", null));
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, env("KS_BOOTSTRAP", null));
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.STATE_DIR_CONFIG, env("KS_STATE_DIR", null));
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(env("KS_THREADS", "1")));
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    // commit.interval.ms: the exactly-once default (100 ms) unless KS_COMMIT_INTERVAL_MS says otherwise (the bench's
    // latency comparison runs both); everything else: Kafka Streams' defaults.
    String commitInterval = env("KS_COMMIT_INTERVAL_MS", "");
    if (!commitInterval.isEmpty())
      p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Long.parseLong(commitInterval));
    int dedupe = Integer.parseInt(env("KS_DEDUPE", "32"));
    Topology t = topology(env("KS_COMMANDS", null), env("KS_EVENTS", null), env("KS_REPLIES", null), dedupe);

    KafkaStreams streams = new KafkaStreams(t, p);
    CountDownLatch stopped = new CountDownLatch(1);
    streams.setStateListener(
        (now, before) -> {
          System.out.println("STATE " + now);
          System.out.flush();
          if (now == KafkaStreams.State.NOT_RUNNING || now == KafkaStreams.State.ERROR) stopped.countDown();
        });
    streams.setUncaughtExceptionHandler(
        e -> {
          e.printStackTrace();
          return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
    Thread hook =
        new Thread(
            () -> {
              streams.close(Duration.ofSeconds(20));
              stopped.countDown();
            });
    Runtime.getRuntime().addShutdownHook(hook);
    streams.start();
    stopped.await();
    // ERROR: close from here (the hook is for SIGTERM); a bounded wait either way.
    if (streams.state() == KafkaStreams.State.ERROR) {
      streams.close(Duration.ofSeconds(20));
      System.exit(1);
    }
    stopped.await(30, TimeUnit.SECONDS);
  }
}
