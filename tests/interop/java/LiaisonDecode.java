// A partner's view of Liaison's topics: stock Apache Avro, the published .avsc
// files as the schema store, and messages in Avro single-object encoding.
//
// Usage: java LiaisonDecode <reader-type> <schema-dir> [<released-dir>...] -- <message-file>...
// Prints one JSON line per message: the decoded record, with bytes in base64,
// decimals as plain strings, dates as ISO dates, timestamps as epoch millis.

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.avro.AvroTypeException;
import org.apache.avro.Conversions;
import org.apache.avro.Schema;
import org.apache.avro.SchemaParseException;
import org.apache.avro.data.TimeConversions;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericEnumSymbol;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.SchemaStore;

public final class LiaisonDecode {

  // Parses every .avsc file of a directory. Files refer to each other by name,
  // and a parser must have seen a type before a file uses it, so the files are
  // first put in an order that works, then parsed with one parser.
  static Map<String, Schema> parseDirectory(File dir) throws Exception {
    List<File> pending = new ArrayList<>();
    for (File f : dir.listFiles()) {
      if (f.getName().endsWith(".avsc")) {
        pending.add(f);
      }
    }
    pending.sort(null);
    List<File> ordered = new ArrayList<>();
    while (!pending.isEmpty()) {
      RuntimeException last = null;
      List<File> retry = new ArrayList<>();
      for (File f : pending) {
        Schema.Parser trial = new Schema.Parser();
        try {
          for (File known : ordered) {
            trial.parse(known);
          }
          trial.parse(f);
          ordered.add(f);
        } catch (SchemaParseException | AvroTypeException e) {
          retry.add(f);
          last = e;
        }
      }
      if (retry.size() == pending.size()) {
        throw last;
      }
      pending = retry;
    }
    Schema.Parser parser = new Schema.Parser();
    Map<String, Schema> parsed = new HashMap<>();
    for (File f : ordered) {
      Schema s = parser.parse(f);
      parsed.put(s.getFullName(), s);
    }
    return parsed;
  }

  public static void main(String[] args) throws Exception {
    String readerType = args[0];
    int i = 1;
    Schema reader = null;
    SchemaStore.Cache store = new SchemaStore.Cache();
    for (; !args[i].equals("--"); i++) {
      Schema version = parseDirectory(new File(args[i])).get(readerType);
      if (version == null) {
        throw new IllegalArgumentException(readerType + " not in " + args[i]);
      }
      store.addSchema(version);
      if (reader == null) {
        reader = version;  // the first directory is the current one
      }
    }
    GenericData model = new GenericData();
    model.addLogicalTypeConversion(new Conversions.DecimalConversion());
    model.addLogicalTypeConversion(new Conversions.UUIDConversion());
    model.addLogicalTypeConversion(new TimeConversions.DateConversion());
    model.addLogicalTypeConversion(new TimeConversions.TimestampMillisConversion());
    BinaryMessageDecoder<GenericRecord> decoder = new BinaryMessageDecoder<>(model, reader, store);
    for (i++; i < args.length; i++) {
      GenericRecord record = decoder.decode(Files.readAllBytes(new File(args[i]).toPath()));
      StringBuilder out = new StringBuilder();
      json(record, out);
      System.out.println(out);
    }
  }

  static void json(Object value, StringBuilder out) {
    if (value == null) {
      out.append("null");
    } else if (value instanceof GenericRecord) {
      GenericRecord record = (GenericRecord) value;
      out.append('{');
      boolean first = true;
      for (Schema.Field field : record.getSchema().getFields()) {
        if (!first) {
          out.append(',');
        }
        first = false;
        string(field.name(), out);
        out.append(':');
        json(record.get(field.pos()), out);
      }
      out.append('}');
    } else if (value instanceof Map) {
      out.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
        if (!first) {
          out.append(',');
        }
        first = false;
        string(entry.getKey().toString(), out);
        out.append(':');
        json(entry.getValue(), out);
      }
      out.append('}');
    } else if (value instanceof Collection) {
      out.append('[');
      boolean first = true;
      for (Object item : (Collection<?>) value) {
        if (!first) {
          out.append(',');
        }
        first = false;
        json(item, out);
      }
      out.append(']');
    } else if (value instanceof ByteBuffer) {
      ByteBuffer buffer = ((ByteBuffer) value).duplicate();
      byte[] bytes = new byte[buffer.remaining()];
      buffer.get(bytes);
      string(Base64.getEncoder().encodeToString(bytes), out);
    } else if (value instanceof GenericFixed) {
      string(Base64.getEncoder().encodeToString(((GenericFixed) value).bytes()), out);
    } else if (value instanceof java.math.BigDecimal) {
      string(((java.math.BigDecimal) value).toPlainString(), out);
    } else if (value instanceof Instant) {
      out.append(((Instant) value).toEpochMilli());
    } else if (value instanceof LocalDate || value instanceof java.util.UUID
        || value instanceof CharSequence || value instanceof GenericEnumSymbol) {
      string(value.toString(), out);
    } else if (value instanceof Double || value instanceof Float) {
      double d = ((Number) value).doubleValue();
      out.append(Double.isFinite(d) ? Double.toString(d) : "\"" + d + "\"");
    } else {
      out.append(value);  // Integer, Long, Boolean
    }
  }

  static void string(String s, StringBuilder out) {
    out.append('"');
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') {
        out.append('\\').append(c);
      } else if (c < 0x20) {
        out.append(String.format("\\u%04x", (int) c));
      } else {
        out.append(c);
      }
    }
    out.append('"');
  }
}
