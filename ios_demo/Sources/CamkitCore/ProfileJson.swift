import Foundation

/// A JSON value whose objects keep their key order (JSONSerialization's do not).
public indirect enum JsonValue: Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JsonValue])
    case object([(String, JsonValue)])

    public static func == (a: JsonValue, b: JsonValue) -> Bool { a.text() == b.text() }

    /// The value as JSON text, pretty-printed with `indent` spaces (0: one line).
    public func text(indent: Int = 2) -> String {
        var out = ""
        write(&out, indent: indent, depth: 0)
        return out
    }

    private func write(_ out: inout String, indent: Int, depth: Int) {
        let newline = indent > 0 ? "\n" : ""
        let pad = String(repeating: " ", count: indent * (depth + 1))
        let closePad = String(repeating: " ", count: indent * depth)
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .double(d): out += d.isFinite ? JsonValue.number(d) : "null"
        case let .string(s): out += JsonValue.quoted(s)
        case let .array(items):
            if items.isEmpty { out += "[]"; return }
            out += "[" + newline
            for (i, item) in items.enumerated() {
                out += pad
                item.write(&out, indent: indent, depth: depth + 1)
                out += (i < items.count - 1 ? "," : "") + newline
            }
            out += closePad + "]"
        case let .object(entries):
            if entries.isEmpty { out += "{}"; return }
            out += "{" + newline
            for (i, (key, value)) in entries.enumerated() {
                out += pad + JsonValue.quoted(key) + (indent > 0 ? ": " : ":")
                value.write(&out, indent: indent, depth: depth + 1)
                out += (i < entries.count - 1 ? "," : "") + newline
            }
            out += closePad + "}"
        }
    }

    /// A finite double as JSON: Swift's shortest round-trip form ("12.5", "1e-05"); integral
    /// values keep their ".0".
    static func number(_ d: Double) -> String { "\(d)" }

    /// `s` as a JSON string literal.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// The profile result JSON camkit reads (toolkit/profilers/profile_result.schema.json, schema
/// 2): every key present in the schema's order, unknown values null (never 0), times in ms, a
/// non-finite number null (PSNR of identical outputs is the string "inf").
public enum ProfileJson {
    /// The schema version written.
    public static let schema = 2

    /// `report` as pretty-printed JSON text (ending in a newline).
    public static func write(_ report: ProfileReport) -> String { tree(report).text() + "\n" }

    /// `report` as a JSON tree (what ``write(_:)`` prints).
    public static func tree(_ report: ProfileReport) -> JsonValue {
        var fields: [(String, JsonValue)] = []
        fields.append(("schema", .int(schema)))
        fields.append(("kind", .string(report.kind)))
        fields.append(("runtime", runtime(report.runtime)))
        fields.append(("latency", latency(report.latency)))
        fields.append(("raw_output_sha256", .null))
        fields.append(("model", model(report.model)))
        fields.append(("device", device(report.device)))
        fields.append(("host", .null))
        fields.append(("argv", strings(report.argv)))
        fields.append(("delegation", delegation(report.delegation)))
        fields.append(("memory", memory(report.memory)))
        fields.append(("ops", .array(report.ops.map { op($0) })))
        fields.append(("error", error(report.error)))
        fields.append(("static", .null))
        fields.append(("app", app(report.app)))
        return .object(fields)
    }

    private static func runtime(_ r: RuntimeInfo) -> JsonValue {
        var options: [(String, JsonValue)] = []
        for (key, value) in r.options { options.append((key, .string(value))) }
        var fields: [(String, JsonValue)] = []
        fields.append(("name", str(r.name)))
        fields.append(("tool", str(r.tool)))
        fields.append(("tool_generation", str(r.toolGeneration)))
        fields.append(("version", str(r.version)))
        fields.append(("delegate", str(r.delegate)))
        fields.append(("accelerator", str(r.accelerator)))
        fields.append(("options", .object(options)))
        return .object(fields)
    }

    private static func latency(_ l: LatencyStats) -> JsonValue {
        var fields: [(String, JsonValue)] = []
        fields.append(("init_ms", num(l.initMs)))
        fields.append(("first_ms", num(l.firstMs)))
        fields.append(("warmup_mean_ms", num(l.warmupMeanMs)))
        fields.append(("mean_ms", num(l.meanMs)))
        fields.append(("median_ms", num(l.medianMs)))
        fields.append(("p5_ms", num(l.p5Ms)))
        fields.append(("p90_ms", num(l.p90Ms)))
        fields.append(("p95_ms", num(l.p95Ms)))
        fields.append(("p99_ms", num(l.p99Ms)))
        fields.append(("min_ms", num(l.minMs)))
        fields.append(("max_ms", num(l.maxMs)))
        fields.append(("std_ms", num(l.stdMs)))
        fields.append(("n", int(l.n)))
        return .object(fields)
    }

    private static func model(_ m: ModelRef) -> JsonValue {
        .object([("sha256", str(m.sha256)), ("format", str(m.format)), ("precision", str(m.precision)),
                 ("manifest", str(m.manifest))])
    }

    private static func device(_ d: DeviceInfo?) -> JsonValue {
        guard let d else { return .null }
        return .object([("model", str(d.model)), ("soc", str(d.soc)), ("os", str(d.os)), ("abi", str(d.abi))])
    }

    private static func delegation(_ d: Delegation?) -> JsonValue {
        guard let d else { return .null }
        var fields: [(String, JsonValue)] = []
        fields.append(("delegate", str(d.delegate)))
        fields.append(("nodes_delegated", int(d.nodesDelegated)))
        fields.append(("nodes_total", int(d.nodesTotal)))
        fields.append(("partitions", int(d.partitions)))
        fields.append(("delegate_kernels", .null))
        fields.append(("fully_delegated", bool(d.fullyDelegated)))
        return .object(fields)
    }

    private static func memory(_ m: MemoryInfo) -> JsonValue {
        .object([("init_mb", num(m.initMb)), ("overall_mb", num(m.overallMb)), ("peak_mb", num(m.peakMb))])
    }

    private static func error(_ e: ProfileError?) -> JsonValue {
        guard let e else { return .null }
        return .object([("kind", .string(e.kind)), ("message", .string(e.message)), ("last_line", str(e.lastLine))])
    }

    /// A row of the schema's `ops` table: every key, the ones Core ML's plan does not give null.
    private static func op(_ r: OpRow) -> JsonValue {
        var fields: [(String, JsonValue)] = []
        fields.append(("table", .string(r.table)))
        fields.append(("node_type", .string(r.nodeType)))
        fields.append(("name", str(r.name)))
        for key in ["first_ms", "avg_ms", "percent", "cdf_percent", "mem_kb", "times_called", "count",
                    "output_shape", "macs", "params", "activation_bytes"] {
            fields.append((key, .null))
        }
        fields.append(("unsupported_on", strings(r.unsupportedOn)))
        fields.append(("placement", str(r.placement)))
        fields.append(("supported_on", strings(r.supportedOn)))
        fields.append(("cost_fraction", num(r.costFraction)))
        return .object(fields)
    }

    private static func app(_ a: AppInfo) -> JsonValue {
        var fields: [(String, JsonValue)] = []
        fields.append(("name", .string(a.name)))
        fields.append(("version", str(a.version)))
        fields.append(("backend", .string(a.backend)))
        fields.append(("strict", .bool(a.strict)))
        fields.append(("load_cold_ms", num(a.loadColdMs)))
        fields.append(("load_warm_ms", num(a.loadWarmMs)))
        fields.append(("preprocess_ms", num(a.preprocessMs)))
        fields.append(("postprocess_ms", num(a.postprocessMs)))
        fields.append(("input_size", a.inputSize.map { size -> JsonValue in .array(size.map { JsonValue.int($0) }) } ?? .null))
        fields.append(("thermal_before", str(a.thermalBefore)))
        fields.append(("thermal_after", str(a.thermalAfter)))
        fields.append(("fallback_ops", strings(a.fallbackOps)))
        fields.append(("parity", parity(a.parity)))
        return .object(fields)
    }

    private static func parity(_ list: [Parity]?) -> JsonValue {
        guard let list else { return .null }
        var items: [JsonValue] = []
        for p in list {
            let psnr: JsonValue = p.psnrDb == .infinity ? .string("inf") : num(p.psnrDb)
            items.append(.object([("output", .string(p.output)), ("psnr_db", psnr), ("max_abs", num(p.maxAbs)),
                                  ("reference", .string(p.reference))]))
        }
        return .array(items)
    }

    private static func str(_ value: String?) -> JsonValue {
        guard let value else { return .null }
        return .string(value)
    }

    private static func bool(_ value: Bool?) -> JsonValue {
        guard let value else { return .null }
        return .bool(value)
    }

    /// A finite number, else null.
    private static func num(_ value: Double?) -> JsonValue {
        guard let value, value.isFinite else { return .null }
        return .double(value)
    }

    private static func int(_ value: Int?) -> JsonValue {
        guard let value else { return .null }
        return .int(value)
    }

    private static func strings(_ values: [String]?) -> JsonValue {
        guard let values else { return .null }
        return .array(values.map { JsonValue.string($0) })
    }
}
