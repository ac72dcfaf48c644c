package dev.camkit.core

import com.google.gson.GsonBuilder
import com.google.gson.JsonArray
import com.google.gson.JsonElement
import com.google.gson.JsonNull
import com.google.gson.JsonObject
import com.google.gson.JsonPrimitive

/**
 * The profile result JSON camkit reads (toolkit/profilers/profile_result.schema.json, schema
 * 2): every key present, unknown values null (never 0), times in ms, a non-finite number null
 * (PSNR of identical outputs is the string "inf").
 */
object ProfileJson {
    /** The schema version written. */
    const val SCHEMA = 2

    /** [report] as pretty-printed JSON text. */
    fun write(report: ProfileReport): String =
        GsonBuilder().serializeNulls().setPrettyPrinting().create().toJson(tree(report)) + "\n"

    /** [report] as a Gson tree (what [write] prints). */
    fun tree(report: ProfileReport): JsonObject = obj(
        "schema" to num(SCHEMA),
        "kind" to str(report.kind),
        "runtime" to runtime(report.runtime),
        "latency" to latency(report.latency),
        "raw_output_sha256" to JsonNull.INSTANCE,
        "model" to report.model.let {
            obj("sha256" to str(it.sha256), "format" to str(it.format), "precision" to str(it.precision),
                "manifest" to str(it.manifest))
        },
        "device" to (report.device?.let {
            obj("model" to str(it.model), "soc" to str(it.soc), "os" to str(it.os), "abi" to str(it.abi))
        } ?: JsonNull.INSTANCE),
        "host" to JsonNull.INSTANCE,
        "argv" to (report.argv?.let { strings(it) } ?: JsonNull.INSTANCE),
        "delegation" to (report.delegation?.let {
            obj("delegate" to str(it.delegate), "nodes_delegated" to num(it.nodesDelegated),
                "nodes_total" to num(it.nodesTotal), "partitions" to num(it.partitions),
                "delegate_kernels" to JsonNull.INSTANCE, "fully_delegated" to bool(it.fullyDelegated))
        } ?: JsonNull.INSTANCE),
        "memory" to report.memory.let {
            obj("init_mb" to num(it.initMb), "overall_mb" to num(it.overallMb), "peak_mb" to num(it.peakMb))
        },
        "ops" to JsonArray(),
        "error" to (report.error?.let {
            obj("kind" to str(it.kind), "message" to str(it.message), "last_line" to str(it.lastLine))
        } ?: JsonNull.INSTANCE),
        "static" to JsonNull.INSTANCE,
        "app" to app(report.app),
    )

    private fun runtime(r: RuntimeInfo) = obj(
        "name" to str(r.name), "tool" to str(r.tool), "tool_generation" to str(r.toolGeneration),
        "version" to str(r.version), "delegate" to str(r.delegate), "accelerator" to str(r.accelerator),
        "options" to JsonObject().also { o -> r.options.forEach { (k, v) -> o.addProperty(k, v) } },
    )

    private fun latency(l: LatencyStats) = obj(
        "init_ms" to num(l.initMs), "first_ms" to num(l.firstMs), "warmup_mean_ms" to num(l.warmupMeanMs),
        "mean_ms" to num(l.meanMs), "median_ms" to num(l.medianMs), "p5_ms" to num(l.p5Ms),
        "p90_ms" to num(l.p90Ms), "p95_ms" to num(l.p95Ms), "p99_ms" to num(l.p99Ms),
        "min_ms" to num(l.minMs), "max_ms" to num(l.maxMs), "std_ms" to num(l.stdMs), "n" to num(l.n),
    )

    private fun app(a: AppInfo) = obj(
        "name" to str(a.name), "version" to str(a.version), "backend" to str(a.backend), "strict" to bool(a.strict),
        "load_cold_ms" to num(a.loadColdMs), "load_warm_ms" to num(a.loadWarmMs),
        "preprocess_ms" to num(a.preprocessMs), "postprocess_ms" to num(a.postprocessMs),
        "input_size" to (a.inputSize?.let { s -> JsonArray().also { arr -> s.forEach { arr.add(it) } } } ?: JsonNull.INSTANCE),
        "thermal_before" to str(a.thermalBefore), "thermal_after" to str(a.thermalAfter),
        "fallback_ops" to (a.fallbackOps?.let { strings(it) } ?: JsonNull.INSTANCE),
        "parity" to (a.parity?.let { list ->
            JsonArray().also { arr ->
                list.forEach {
                    arr.add(obj("output" to str(it.output),
                        "psnr_db" to if (it.psnrDb == Double.POSITIVE_INFINITY) str("inf") else num(it.psnrDb),
                        "max_abs" to num(it.maxAbs), "reference" to str(it.reference)))
                }
            }
        } ?: JsonNull.INSTANCE),
    )

    private fun obj(vararg entries: Pair<String, JsonElement>) = JsonObject().also { o -> entries.forEach { o.add(it.first, it.second) } }

    private fun str(value: String?): JsonElement = value?.let { JsonPrimitive(it) } ?: JsonNull.INSTANCE

    private fun bool(value: Boolean?): JsonElement = value?.let { JsonPrimitive(it) } ?: JsonNull.INSTANCE

    private fun num(value: Number?): JsonElement = when {
        value == null -> JsonNull.INSTANCE
        value is Double && !value.isFinite() -> JsonNull.INSTANCE
        else -> JsonPrimitive(value)
    }

    private fun strings(values: List<String>) = JsonArray().also { arr -> values.forEach { arr.add(it) } }
}
