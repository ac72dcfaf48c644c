package dev.camkit.core

/** The phone the run was on (the profile result's `device`). */
data class DeviceInfo(val model: String?, val soc: String?, val os: String?, val abi: String?)

/** What ran the model (`runtime`); [options] values are strings. */
data class RuntimeInfo(
    val name: String?,
    val tool: String?,
    val toolGeneration: String?,
    val version: String?,
    val delegate: String?,
    val accelerator: String?,
    val options: Map<String, String>,
)

/** Which artifact ran (`model`): its sha256 from the manifest, format, precision, manifest file name. */
data class ModelRef(val sha256: String?, val format: String?, val precision: String?, val manifest: String?)

/** Memory in MB (`memory`); null: not measured. */
data class MemoryInfo(val initMb: Double? = null, val overallMb: Double? = null, val peakMb: Double? = null)

/** Why a run gave no (or partial) numbers (`error`): [kind] tool_error, crashed, truncated or empty. */
data class ProfileError(val kind: String, val message: String, val lastLine: String? = null)

/** One output on the phone vs the sample's reference (`app.parity[]`); [psnrDb] +inf when identical. */
data class Parity(val output: String, val psnrDb: Double, val maxAbs: Double, val reference: String = "sample")

/** What the app measured beside the latency (`app`). */
data class AppInfo(
    val name: String,
    val version: String?,
    val backend: String,
    val strict: Boolean,
    val loadColdMs: Double? = null,
    val loadWarmMs: Double? = null,
    val preprocessMs: Double? = null,
    val postprocessMs: Double? = null,
    /** The sample input's [H, W]. */
    val inputSize: List<Int>? = null,
    val thermalBefore: String? = null,
    val thermalAfter: String? = null,
    val fallbackOps: List<String>? = null,
    /** Null: not measured. */
    val parity: List<Parity>? = null,
)

/** One benchmark run as camkit's profile result (schema 2); [ProfileJson] writes it. */
data class ProfileReport(
    val runtime: RuntimeInfo,
    val latency: LatencyStats,
    val model: ModelRef,
    val device: DeviceInfo?,
    val argv: List<String>?,
    val delegation: Delegation?,
    val memory: MemoryInfo,
    val error: ProfileError?,
    val app: AppInfo,
    val kind: String = "measured",
)
