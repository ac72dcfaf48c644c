package dev.camkit.core

import java.io.File

/** A benchmark's settings: [runs] timed inferences after [warmup] untimed ones; [strict]: a
 * backend that cannot take the whole graph fails instead of falling back; [threads]: the CPU
 * threads the runner was given (recorded only). */
data class BenchmarkConfig(
    val backend: Backend,
    val runs: Int = 20,
    val warmup: Int = 3,
    val strict: Boolean = true,
    val threads: Int? = null,
)

/** What only the phone knows; tests pass fakes. */
interface Platform {
    /** A monotonic clock in ns (System.nanoTime). */
    fun nanoTime(): Long

    /** "none", "light", "moderate", "severe", "critical", "emergency", "shutdown", or null. */
    fun thermalStatus(): String?

    /** The phone: model, SoC, "Android 15", ABI. */
    fun device(): DeviceInfo

    /** "camkit-android". */
    val appName: String

    /** The app's version name. */
    val appVersion: String?

    /** Java plus native heap in use, MB; null (the default) when unknown. */
    fun memoryMb(): Double? = null
}

/**
 * The on-device benchmark: cold load (the first), close, warm load (the second), the first
 * inference on the sample input, [BenchmarkConfig.warmup] runs, [BenchmarkConfig.runs] timed
 * runs, each with the app's pre-processing (pack) and post-processing (unpack) of the sample's
 * photo-sized input timed apart; on-device parity of each output vs the sample's reference;
 * thermal state before and after. Never throws: a failure gives a report with `error` set
 * (kind "tool_error" for a refusal, "crashed" for anything else) and what was measured so far.
 */
class Benchmark(private val factory: RunnerFactory, private val platform: Platform) {
    /** [manifest] on [config]'s backend; [argv]: what started the run, as the app received it. */
    fun run(manifest: Manifest, config: BenchmarkConfig, argv: List<String>): ProfileReport {
        val state = BenchmarkRun(platform, config.backend.id, config.backend, config.strict, config.threads, manifest)
        return state.report(argv) { state.measure(factory, manifest, config) }
    }

    /** As [run], from a manifest file and a backend id (as the headless intent gives them):
     * an unreadable manifest or an unknown backend is a report with `error` too. */
    fun run(manifestFile: File, backendId: String, runs: Int, warmup: Int, strict: Boolean, argv: List<String>,
            threads: Int? = null): ProfileReport {
        val backend = runCatching { Backend.of(backendId) }.getOrNull()
        val manifest = runCatching { Manifest.read(manifestFile) }
        if (backend != null && manifest.isSuccess) {
            return run(manifest.getOrThrow(), BenchmarkConfig(backend, runs, warmup, strict, threads), argv)
        }
        val state = BenchmarkRun(platform, backendId, backend, strict, threads, manifest.getOrNull())
        return state.report(argv) {
            state.stage = "start"
            Backend.of(backendId)
            manifest.getOrThrow()
        }
    }
}

/** One benchmark's measurements as they come (all null until measured). */
internal class BenchmarkRun(
    private val platform: Platform,
    private val backendId: String,
    private val backend: Backend?,
    private val strict: Boolean,
    private val threads: Int?,
    private val manifest: Manifest?,
) {
    var stage = "start"
    private var loadCold: Double? = null
    private var loadWarm: Double? = null
    private var first: Double? = null
    private val warm = ArrayList<Double>()
    private val times = ArrayList<Double>()
    private val pre = ArrayList<Double>()
    private val post = ArrayList<Double>()
    private var inputSize: List<Int>? = null
    private var thermalBefore: String? = null
    private var thermalAfter: String? = null
    private var delegation: Delegation? = null
    private var runtimeVersion: String? = null
    private var parity: List<Parity>? = null
    private var memoryBefore: Double? = null
    private var memoryPeak: Double? = null

    /** Runs [body]; whatever it throws becomes the report's error. */
    fun report(argv: List<String>, body: () -> Unit): ProfileReport {
        val error = try {
            body()
            null
        } catch (e: CamkitException) {
            ProfileError("tool_error", "$stage: ${Json.firstLine(e.message)}")
        } catch (e: Throwable) {
            ProfileError("crashed", "$stage: ${e.javaClass.simpleName}: ${Json.firstLine(e.message)}")
        }
        if (thermalAfter == null && thermalBefore != null) thermalAfter = safe { platform.thermalStatus() }
        return build(argv, error)
    }

    fun measure(factory: RunnerFactory, manifest: Manifest, config: BenchmarkConfig) {
        stage = "checking the manifest"
        ensure(config.runs >= 1 && config.warmup >= 0) { "runs must be >= 1 and warmup >= 0, got ${config.runs}, ${config.warmup}" }
        ensure(config.backend.format == manifest.format) {
            "backend ${config.backend.id} runs ${config.backend.format} artifacts and ${manifest.file.name} is ${manifest.format}; " +
                "pick one of ${Backend.forFormat(manifest.format).joinToString { it.id }.ifEmpty { "none: the app runs no ${manifest.format}" }}"
        }
        stage = "reading the sample"
        val sample = SampleData.read(manifest)
        inputSize = sample.imageIo?.let { io -> sample.image?.let { listOf(it.height, it.width) } }
        thermalBefore = safe { platform.thermalStatus() }
        memoryBefore = safe { platform.memoryMb() }
        stage = "cold load"
        val cold = timed({ loadCold = it }) { factory.load(manifest.artifact(), manifest, config.backend, config.strict) }
        cold.use { takeDelegation(it, config) }
        stage = "warm load"
        val runner = timed({ loadWarm = it }) { factory.load(manifest.artifact(), manifest, config.backend, config.strict) }
        runner.use {
            takeDelegation(runner, config)
            stage = "first inference"
            val outputs = timed({ first = it }) { runner.run(sample.feeds) }
            // some runtimes learn where each op ran only by running it (ONNX Runtime's profile)
            takeDelegation(runner, config)
            stage = "parity"
            parity = parityOf(manifest, outputs, sample)
            noteMemory()
            stage = "warm-up"
            repeat(config.warmup) { timed({ warm.add(it) }) { runner.run(sample.feeds) } }
            stage = "timed runs"
            repeat(config.runs) { timedRun(manifest, runner, sample) }
            noteMemory()
        }
        thermalAfter = safe { platform.thermalStatus() }
    }

    private fun timedRun(manifest: Manifest, runner: ModelRunner, sample: SampleData) {
        val io = sample.imageIo
        if (io != null) timed({ pre.add(it) }) { Packing.pack(sample.image!!, io) }
        val outputs = timed({ times.add(it) }) { runner.run(sample.feeds) }
        val shown = manifest.outputs.filter { it.role == "image" && (it.channels == 1 || it.channels == 3) }
        if (shown.isNotEmpty()) timed({ post.add(it) }) {
            for (o in shown) Packing.unpack(outputs[o.name] ?: throw CamkitException("the artifact returned no '${o.name}'"), o)
        }
    }

    private fun takeDelegation(runner: ModelRunner, config: BenchmarkConfig) {
        delegation = runner.delegation
        runtimeVersion = runner.runtimeVersion
        val d = runner.delegation
        ensure(!config.strict || d.fullyDelegated != false) {
            "strict: ${config.backend.id} left ${d.fallbackOps?.joinToString() ?: "some ops"} off the accelerator " +
                "(${d.nodesDelegated ?: "?"} of ${d.nodesTotal ?: "?"} nodes delegated); run with strict false to measure the mixed graph"
        }
    }

    private fun parityOf(manifest: Manifest, outputs: Map<String, Tensor>, sample: SampleData): List<Parity>? {
        if (sample.references.isEmpty()) return null
        return manifest.outputs.filter { it.name in sample.references }.map { io ->
            val got = outputs[io.name] ?: throw CamkitException("the artifact returned no '${io.name}' (it returned ${outputs.keys})")
            val values = got.toFloats(io.quantization)
            val reference = sample.references.getValue(io.name)
            ensure(values.size == reference.size) {
                "output '${io.name}' has ${values.size} values, the sample's reference ${reference.size}; re-export"
            }
            Parity(io.name, Metrics.psnr(reference, values), Metrics.maxAbs(reference, values))
        }
    }

    private fun noteMemory() {
        val now = safe { platform.memoryMb() } ?: return
        memoryPeak = maxOf(memoryPeak ?: now, now)
    }

    private inline fun <T> timed(record: (Double) -> Unit, block: () -> T): T {
        val start = platform.nanoTime()
        val result = block()
        record((platform.nanoTime() - start) / 1e6)
        return result
    }

    private inline fun <T> safe(block: () -> T): T? = try {
        block()
    } catch (e: Exception) {
        null
    }

    private fun build(argv: List<String>, error: ProfileError?): ProfileReport {
        val base = if (times.isEmpty()) LatencyStats() else Stats.latency(times.toDoubleArray())
        val latency = base.copy(initMs = loadCold, firstMs = first,
            warmupMeanMs = if (warm.isEmpty()) null else Stats.mean(warm.toDoubleArray()))
        val options = linkedMapOf("backend" to backendId, "strict" to strict.toString())
        threads?.let { options["threads"] = it.toString() }
        val peak = memoryBefore?.let { before -> memoryPeak?.let { maxOf(0.0, it - before) } }
        return ProfileReport(
            runtime = RuntimeInfo(backend?.runtime, platform.appName, backend?.toolGeneration, runtimeVersion,
                backend?.delegate, backend?.accelerator, options),
            latency = latency,
            model = ModelRef(manifest?.artifactSha256, manifest?.format, manifest?.precision, manifest?.file?.name),
            device = safe { platform.device() },
            argv = argv,
            delegation = delegation,
            memory = MemoryInfo(peakMb = peak),
            error = error,
            app = AppInfo(
                platform.appName, platform.appVersion, backendId, strict, loadCold, loadWarm,
                median(pre), median(post), inputSize, thermalBefore, thermalAfter, delegation?.fallbackOps, parity,
            ),
        )
    }

    private fun median(values: List<Double>): Double? =
        if (values.isEmpty()) null else Stats.percentile(values.toDoubleArray(), 0.5)
}
