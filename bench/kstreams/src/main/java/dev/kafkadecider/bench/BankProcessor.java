package dev.kafkadecider.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueStore;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessageFormat;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.ValueType;

/**
 * One command: decode the msgpack envelope, read the aggregate's snapshot from the store, answer a commandId seen
 * in the last {@code dedupe} commands of the aggregate as a duplicate, else decide (topologies/bank-account.ts:
 * CreateAccount, Deposit, Withdraw; rejections account_exists, account_not_found, insufficient_funds), write the
 * snapshot (state, version, the remembered outcomes) back, and forward the event (if any) and the reply. The
 * shapes follow src/domain/envelopes.ts (EventEnvelope, ReplyEnvelope, SnapshotRecord).
 */
final class BankProcessor implements Processor<String, byte[], String, byte[]> {
  static final String EVENTS = "events";
  static final String REPLIES = "replies";
  private static final long MAX_CENTS = 100_000_000_000L;
  private static final byte[] MSGPACK = "application/msgpack".getBytes(StandardCharsets.UTF_8);

  private final String storeName;
  private final int dedupe;
  private ProcessorContext<String, byte[]> context;
  private KeyValueStore<String, byte[]> store;
  private final MessageBufferPacker packer = MessagePack.newDefaultBufferPacker();

  BankProcessor(String storeName, int dedupe) {
    this.storeName = storeName;
    this.dedupe = dedupe;
  }

  /** A remembered outcome (RememberedOutcome). */
  static final class Outcome {
    String commandId;
    String status;
    long version;
    final List<String> eventTypes = new ArrayList<>(1);
    final List<Long> eventVersions = new ArrayList<>(1);
    String errorCode;
    String errorMessage;
  }

  /** A snapshot (SnapshotRecord with the Account state). */
  static final class Snapshot {
    long version;
    String status = "none";
    String owner = "";
    long balance;
    final ArrayList<Outcome> recent = new ArrayList<>();
  }

  static final class Command {
    String commandId;
    String type;
    String owner;
    Long amount;
    boolean payloadOk = true;
    Long expectedVersion;
  }

  @Override
  public void init(ProcessorContext<String, byte[]> context) {
    this.context = context;
    this.store = context.getStateStore(storeName);
  }

  @Override
  public void process(Record<String, byte[]> record) {
    String aggregateId = record.key();
    Command c;
    try {
      c = decodeCommand(record.value());
    } catch (IOException | RuntimeException e) {
      c = null;
    }
    if (aggregateId == null || aggregateId.isEmpty() || c == null || c.commandId == null || c.type == null) {
      // kafka-decider dead-letters such a record; the bench never sends one. A reply keyed by the record key.
      reply(record, aggregateId == null ? "" : aggregateId, aggregateId, "invalid", 0, null, "invalid_command", "not a command envelope", null);
      return;
    }
    byte[] stored = store.get(aggregateId);
    Snapshot s;
    try {
      s = stored == null ? new Snapshot() : decodeSnapshot(stored);
    } catch (IOException e) {
      throw new IllegalStateException("cannot decode the snapshot of " + aggregateId, e);
    }
    for (Outcome o : s.recent) {
      if (o.commandId.equals(c.commandId)) {
        reply(record, c.commandId, aggregateId, "duplicate", o.version, o, o.errorCode, o.errorMessage, o.status);
        return;
      }
    }
    if (c.expectedVersion != null && c.expectedVersion != s.version) {
      reply(record, c.commandId, aggregateId, "conflict", s.version, null, "version_conflict",
          "expected version " + c.expectedVersion + ", the aggregate is at " + s.version, null);
      return;
    }
    String code = null;
    String message = null;
    String eventType = null;
    long amount = 0;
    switch (c.type) {
      case "CreateAccount":
        if (!c.payloadOk || c.owner == null || c.owner.isEmpty() || c.owner.length() > 200) {
          reply(record, c.commandId, aggregateId, "invalid", s.version, null, "invalid_payload", "owner: 1 to 200 characters", null);
          return;
        }
        if (s.status.equals("open")) {
          code = "account_exists";
          message = "the account is already open";
        } else eventType = "AccountCreated";
        break;
      case "Deposit":
      case "Withdraw":
        if (!c.payloadOk || c.amount == null || c.amount <= 0 || c.amount > MAX_CENTS) {
          reply(record, c.commandId, aggregateId, "invalid", s.version, null, "invalid_payload", "amount: a positive integer", null);
          return;
        }
        amount = c.amount;
        if (!s.status.equals("open")) {
          code = "account_not_found";
          message = "open the account first (CreateAccount)";
        } else if (c.type.equals("Withdraw") && amount > s.balance) {
          code = "insufficient_funds";
          message = "balance " + s.balance + " is less than " + amount;
        } else eventType = c.type.equals("Deposit") ? "MoneyDeposited" : "MoneyWithdrawn";
        break;
      default:
        reply(record, c.commandId, aggregateId, "invalid", s.version, null, "unknown_command", "unknown command type " + c.type, null);
        return;
    }

    Outcome o = new Outcome();
    o.commandId = c.commandId;
    if (eventType != null) {
      s.version++;
      switch (eventType) {
        case "AccountCreated":
          s.status = "open";
          s.owner = c.owner;
          s.balance = 0;
          break;
        case "MoneyDeposited":
          s.balance += amount;
          break;
        default:
          s.balance -= amount;
      }
      o.status = "accepted";
      o.eventTypes.add(eventType);
      o.eventVersions.add(s.version);
      emitEvent(record, aggregateId, c, eventType, s, amount);
    } else {
      o.status = "rejected";
      o.errorCode = code;
      o.errorMessage = message;
    }
    o.version = s.version;
    s.recent.add(0, o);
    while (s.recent.size() > dedupe) s.recent.remove(s.recent.size() - 1);
    long offset = context.recordMetadata().map(RecordMetadata::offset).orElse(-1L);
    store.put(aggregateId, encodeSnapshot(aggregateId, s, offset));
    reply(record, c.commandId, aggregateId, o.status, o.version, o, code, message, null);
  }

  private static Headers headers() {
    RecordHeaders h = new RecordHeaders();
    h.add("content-type", MSGPACK);
    return h;
  }

  private void emitEvent(Record<String, byte[]> in, String aggregateId, Command c, String type, Snapshot s, long amount) {
    try {
      packer.clear();
      packer.packMapHeader(11);
      str("eventId", aggregateId + "@" + s.version);
      str("type", type);
      str("aggregateId", aggregateId);
      packer.packString("version").packLong(s.version);
      packer.packString("payload");
      if (type.equals("AccountCreated")) {
        packer.packMapHeader(1);
        str("owner", s.owner);
      } else {
        packer.packMapHeader(2);
        packer.packString("amount").packLong(amount);
        packer.packString("balance").packLong(s.balance);
      }
      str("commandId", c.commandId);
      str("correlationId", c.commandId);
      str("causationId", c.commandId);
      str("eventTime", Instant.ofEpochMilli(in.timestamp()).toString());
      str("recordedAt", Instant.now().toString());
      packer.packString("schemaVersion").packInt(1);
      context.forward(new Record<>(aggregateId, packer.toByteArray(), in.timestamp(), headers()), EVENTS);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private void reply(Record<String, byte[]> in, String key, String aggregateId, String status, long version,
      Outcome o, String code, String message, String originalStatus) {
    try {
      packer.clear();
      int n = 5 + (code != null ? 1 : 0) + (originalStatus != null ? 1 : 0);
      packer.packMapHeader(n);
      str("commandId", key);
      str("aggregateId", aggregateId == null ? "" : aggregateId);
      str("status", status);
      packer.packString("version").packLong(version);
      packer.packString("events");
      packEvents(o);
      if (code != null) {
        packer.packString("error").packMapHeader(2);
        str("code", code);
        str("message", message == null ? "" : message);
      }
      if (originalStatus != null) str("originalStatus", originalStatus);
      context.forward(new Record<>(key, packer.toByteArray(), in.timestamp(), headers()), REPLIES);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private void packEvents(Outcome o) throws IOException {
    int n = o == null ? 0 : o.eventTypes.size();
    packer.packArrayHeader(n);
    for (int i = 0; i < n; i++) {
      packer.packArrayHeader(2);
      packer.packString(o.eventTypes.get(i));
      packer.packLong(o.eventVersions.get(i));
    }
  }

  private void str(String k, String v) throws IOException {
    packer.packString(k);
    packer.packString(v);
  }

  private byte[] encodeSnapshot(String aggregateId, Snapshot s, long offset) {
    try {
      packer.clear();
      packer.packMapHeader(5);
      str("aggregateId", aggregateId);
      packer.packString("version").packLong(s.version);
      packer.packString("state").packMapHeader(3);
      str("status", s.status);
      str("owner", s.owner);
      packer.packString("balance").packLong(s.balance);
      packer.packString("recent").packArrayHeader(s.recent.size());
      for (Outcome o : s.recent) {
        packer.packMapHeader(o.errorCode != null ? 5 : 4);
        str("commandId", o.commandId);
        str("status", o.status);
        packer.packString("version").packLong(o.version);
        packer.packString("events");
        packEvents(o);
        if (o.errorCode != null) {
          packer.packString("error").packMapHeader(2);
          str("code", o.errorCode);
          str("message", o.errorMessage == null ? "" : o.errorMessage);
        }
      }
      str("sourceOffset", Long.toString(offset));
      return packer.toByteArray();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  static Command decodeCommand(byte[] bytes) throws IOException {
    Command c = new Command();
    try (MessageUnpacker u = MessagePack.newDefaultUnpacker(bytes)) {
      int n = u.unpackMapHeader();
      for (int i = 0; i < n; i++) {
        String k = u.unpackString();
        switch (k) {
          case "commandId":
            c.commandId = u.unpackString();
            break;
          case "type":
            c.type = u.unpackString();
            break;
          case "expectedVersion":
            c.expectedVersion = u.unpackLong();
            break;
          case "payload":
            if (u.getNextFormat().getValueType() != ValueType.MAP) {
              c.payloadOk = false;
              u.skipValue();
              break;
            }
            int m = u.unpackMapHeader();
            for (int j = 0; j < m; j++) {
              String pk = u.unpackString();
              MessageFormat f = u.getNextFormat();
              if (pk.equals("owner") && f.getValueType() == ValueType.STRING) c.owner = u.unpackString();
              else if (pk.equals("amount") && f.getValueType() == ValueType.INTEGER) c.amount = u.unpackLong();
              else {
                if (pk.equals("owner") || pk.equals("amount")) c.payloadOk = false;
                u.skipValue();
              }
            }
            break;
          default:
            u.skipValue();
        }
      }
    }
    return c;
  }

  static Snapshot decodeSnapshot(byte[] bytes) throws IOException {
    Snapshot s = new Snapshot();
    try (MessageUnpacker u = MessagePack.newDefaultUnpacker(bytes)) {
      int n = u.unpackMapHeader();
      for (int i = 0; i < n; i++) {
        String k = u.unpackString();
        switch (k) {
          case "version":
            s.version = u.unpackLong();
            break;
          case "state":
            int m = u.unpackMapHeader();
            for (int j = 0; j < m; j++) {
              String sk = u.unpackString();
              switch (sk) {
                case "status":
                  s.status = u.unpackString();
                  break;
                case "owner":
                  s.owner = u.unpackString();
                  break;
                case "balance":
                  s.balance = u.unpackLong();
                  break;
                default:
                  u.skipValue();
              }
            }
            break;
          case "recent":
            int r = u.unpackArrayHeader();
            s.recent.ensureCapacity(r + 1);
            for (int j = 0; j < r; j++) s.recent.add(decodeOutcome(u));
            break;
          default:
            u.skipValue();
        }
      }
    }
    return s;
  }

  private static Outcome decodeOutcome(MessageUnpacker u) throws IOException {
    Outcome o = new Outcome();
    int n = u.unpackMapHeader();
    for (int i = 0; i < n; i++) {
      String k = u.unpackString();
      switch (k) {
        case "commandId":
          o.commandId = u.unpackString();
          break;
        case "status":
          o.status = u.unpackString();
          break;
        case "version":
          o.version = u.unpackLong();
          break;
        case "events":
          int e = u.unpackArrayHeader();
          for (int j = 0; j < e; j++) {
            u.unpackArrayHeader();
            o.eventTypes.add(u.unpackString());
            o.eventVersions.add(u.unpackLong());
          }
          break;
        case "error":
          int m = u.unpackMapHeader();
          for (int j = 0; j < m; j++) {
            String ek = u.unpackString();
            if (ek.equals("code")) o.errorCode = u.unpackString();
            else if (ek.equals("message")) o.errorMessage = u.unpackString();
            else u.skipValue();
          }
          break;
        default:
          u.skipValue();
      }
    }
    return o;
  }

  @Override
  public void close() {
    try {
      packer.close();
    } catch (IOException e) {
      // nothing to release
    }
  }
}
