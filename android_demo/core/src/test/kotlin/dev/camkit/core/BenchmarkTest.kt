package dev.camkit.core

import com.google.gson.JsonObject
import com.google.gson.JsonParser
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File
import java.nio.file.Files

/**
 * The benchmark with a fake runtime and a fake clock; every result JSON goes to the folder
 * named by `-Dcamkit.contract.out` (the host validates them against its schema and ingests
 * them with `camkit report`: tests/test_android_core.py).
 */
class BenchmarkTest {
    /** A clock that advances 50 us per reading, and by what the fake runtime "spends"; heap
     * use that grows 1.5 MB per reading. */
    class FakePlatform : Platform {
        var now = 1_000_000_000L
        var thermal = "none"
        override fun nanoTime(): Long = now.also { now += 50_000 }
        override fun thermalStatus() = thermal
        override fun device() = DeviceInfo("Pixel 8", "Tensor G3", "Android 15", "arm64-v8a")
        override val appName = "camkit-android"
        override val appVersion = "0.1.0"
        private var readings = 0
        override fun memoryMb() = 100.0 + 1.5 * readings++  // grows with every reading
    }

    /** Replays the sample's reference, perturbed by [noise] on every other value. */
    class FakeRunner(
        private val platform: FakePlatform, private val manifest: Manifest, private val noise: Float,
        override val delegation: Delegation, private val crashAt: Int = -1,
    ) : ModelRunner {
        private val sample = Npz.read(manifest.sample()!!)
        private var calls = 0
        override val runtimeVersion = "1.4.0"

        override fun run(inputs: Map<String, Tensor>): Map<String, Tensor> {
            for (io in manifest.inputs) assertEquals(io.dtype, inputs.getValue(io.name).dtype)
            if (calls == crashAt) throw IllegalStateException("GPU delegate lost its context")
            platform.now += 10_000_000L + (calls++ % 5) * 1_000_000L  // 10..14 ms
            return manifest.outputs.associate { io ->
                val ref = sample.getValue("out/${io.name}")
                val values = FloatArray(ref.size) { ref.floats!![it] + if (it % 2 == 0) noise else 0f }
                io.name to Packing.toDtype(Tensor(ref.shape, floats = values), io)
            }
        }

        override fun close() {}
    }

    private val full = Delegation("GPU", 12, 12, 1, true, emptyList())

    private fun factory(platform: FakePlatform, noise: Float = 0f, delegation: Delegation = full, crashAt: Int = -1) =
        RunnerFactory { artifact, manifest, backend, strict ->
            assertTrue(artifact.isFile)
            if (strict && backend == Backend.LITERT_NPU) throw CamkitException("the NPU cannot take RESIZE_BILINEAR (node 7); strict mode refuses a CPU fallback")
            platform.now += 120_000_000L
            FakeRunner(platform, manifest, noise, delegation, crashAt)
        }

    private fun manifest(name: String) = Manifest.read(Fixtures.file("manifests/$name"))

    private fun write(name: String, report: ProfileReport): JsonObject {
        val text = ProfileJson.write(report)
        val dir = System.getProperty("camkit.contract.out")?.let(::File)
            ?: Files.createTempDirectory("camkit-contract").toFile()
        dir.mkdirs()
        File(dir, "$name.json").writeText(text)
        val json = JsonParser.parseString(text).asJsonObject
        assertEquals(KEYS, json.keySet().toList())
        assertEquals(APP_KEYS, json.getAsJsonObject("app").keySet().toList())
        return json
    }

    @Test
    fun onnxOnCpuExactParity() {
        val platform = FakePlatform()
        val argv = listOf("am", "start", "--es", "backend", "ort-cpu")
        val report = Benchmark(factory(platform), platform)
            .run(manifest("toy-tiny-fp32.onnx.manifest.json"), BenchmarkConfig(Backend.ORT_CPU, runs = 7, warmup = 2, threads = 4), argv)
        val json = write("ort-cpu-toy-tiny-fp32", report)
        assertNull(report.error)
        assertEquals("onnxruntime", report.runtime.name)
        assertNull(report.runtime.toolGeneration)
        assertNull(report.runtime.delegate)
        assertEquals(mapOf("backend" to "ort-cpu", "strict" to "true", "threads" to "4"), report.runtime.options)
        assertEquals(7, report.latency.n)
        assertTrue(report.latency.minMs!! >= 10.0 && report.latency.maxMs!! <= 14.2, "${report.latency}")
        assertTrue(report.app.loadColdMs!! >= 120.0 && report.app.loadWarmMs!! >= 120.0)
        assertEquals(report.app.loadColdMs, report.latency.initMs)
        assertTrue(report.app.preprocessMs!! > 0 && report.app.postprocessMs!! > 0)
        assertEquals(listOf(16, 24), report.app.inputSize)
        assertEquals("inf", json.getAsJsonObject("app").getAsJsonArray("parity")[0].asJsonObject.get("psnr_db").asString)
        assertEquals(argv, json.getAsJsonArray("argv").map { it.asString })
        assertEquals(manifest("toy-tiny-fp32.onnx.manifest.json").artifactSha256, json.getAsJsonObject("model").get("sha256").asString)
        assertEquals("none", report.app.thermalBefore)
        assertEquals(3.0, report.memory.peakMb)  // readings: before, after the first run, at the end
    }

    @Test
    fun litertGpuQuantizedParity() {
        val platform = FakePlatform()
        val report = Benchmark(factory(platform, noise = 0.002f), platform)
            .run(manifest("toy-tiny-w8a8-nhwc-uint8.tflite.manifest.json"), BenchmarkConfig(Backend.LITERT_GPU, runs = 20, warmup = 3), listOf())
        write("litert-gpu-toy-tiny-w8a8-nhwc-uint8", report)
        assertNull(report.error)
        assertEquals("compiled_model", report.runtime.toolGeneration)
        assertEquals("GPU", report.runtime.delegate)
        assertEquals("gpu", report.runtime.accelerator)
        val parity = report.app.parity!!.single()
        assertEquals("output", parity.output)
        assertTrue(parity.psnrDb in 40.0..80.0, "$parity")
        assertTrue(parity.maxAbs <= 0.5 / 255 + 0.002 + 1e-6, "$parity")
        assertEquals(20, report.latency.n)
        assertEquals(12.05, report.latency.warmupMeanMs!!, 1e-9)  // calls 1..3: 11, 12, 13 ms + one clock tick
    }

    @Test
    fun strictNpuRefusalIsAResult() {
        val platform = FakePlatform()
        platform.thermal = "light"
        val report = Benchmark(factory(platform), platform)
            .run(manifest("toy-tiny-w8a8-nhwc-uint8.tflite.manifest.json"), BenchmarkConfig(Backend.LITERT_NPU), listOf())
        val json = write("litert-npu-strict-refused", report)
        val error = json.getAsJsonObject("error")
        assertEquals("tool_error", error.get("kind").asString)
        assertTrue(error.get("message").asString.startsWith("cold load: the NPU cannot take RESIZE_BILINEAR"))
        assertTrue(json.getAsJsonObject("latency").entrySet().all { it.value.isJsonNull })
        assertEquals("light", report.app.thermalAfter)
        assertNull(report.app.parity)
    }

    @Test
    fun strictFallbackIsRefusedWithTheOps() {
        val platform = FakePlatform()
        val partial = Delegation("GPU", 10, 12, 2, false, listOf("RESIZE_BILINEAR", "GATHER"))
        val report = Benchmark(factory(platform, delegation = partial), platform)
            .run(manifest("toy-tiny-w8a8-nhwc-uint8.tflite.manifest.json"), BenchmarkConfig(Backend.LITERT_GPU), listOf())
        write("litert-gpu-strict-fallback", report)
        assertEquals("tool_error", report.error!!.kind)
        assertTrue(report.error!!.message.contains("RESIZE_BILINEAR, GATHER"), report.error!!.message)
        assertEquals(listOf("RESIZE_BILINEAR", "GATHER"), report.app.fallbackOps)
        assertNotNull(report.app.loadColdMs)
        // not strict: the mixed graph is measured and its fallback reported
        val loose = Benchmark(factory(platform, delegation = partial), platform)
            .run(manifest("toy-tiny-w8a8-nhwc-uint8.tflite.manifest.json"), BenchmarkConfig(Backend.LITERT_GPU, strict = false), listOf())
        write("litert-gpu-fallback-measured", loose)
        assertNull(loose.error)
        assertEquals(false, loose.delegation!!.fullyDelegated)
    }

    @Test
    fun fallbackLearnedOnlyByRunningIsReportedAndRefused() {
        // ONNX Runtime says which ops fell back only in the profile of a run, not at load
        val learned = Delegation("NNAPI", 10, 12, 2, false, listOf("Resize"))
        fun factory(platform: FakePlatform) = RunnerFactory { _, manifest, _, _ ->
            object : ModelRunner by FakeRunner(platform, manifest, 0f, full) {
                private var ran = false
                override val delegation get() = if (ran) learned else Delegation("NNAPI", null, null, null, null, null)
                override fun run(inputs: Map<String, Tensor>) = FakeRunner(platform, manifest, 0f, full).run(inputs).also { ran = true }
            }
        }
        val platform = FakePlatform()
        val loose = Benchmark(factory(platform), platform)
            .run(manifest("toy-tiny-fp32.onnx.manifest.json"), BenchmarkConfig(Backend.ORT_NNAPI, strict = false), listOf())
        assertNull(loose.error)
        assertEquals(listOf("Resize"), loose.app.fallbackOps)
        val strict = Benchmark(factory(platform), platform)
            .run(manifest("toy-tiny-fp32.onnx.manifest.json"), BenchmarkConfig(Backend.ORT_NNAPI), listOf())
        assertEquals("tool_error", strict.error!!.kind)
        assertTrue(strict.error!!.message.startsWith("first inference: strict: ort-nnapi left Resize"), strict.error!!.message)
    }

    @Test
    fun crashMidRunKeepsWhatWasMeasured() {
        val platform = FakePlatform()
        val report = Benchmark(factory(platform, crashAt = 4), platform)
            .run(manifest("toy-tiny-fp32.onnx.manifest.json"), BenchmarkConfig(Backend.ORT_CPU, runs = 5, warmup = 3), listOf())
        write("ort-cpu-crashed", report)
        assertEquals("crashed", report.error!!.kind)
        assertTrue(report.error!!.message.startsWith("timed runs: IllegalStateException: GPU delegate lost its context"), report.error!!.message)
        assertNotNull(report.latency.firstMs)
        assertNotNull(report.app.parity)
    }

    @Test
    fun refusalsBeforeAnythingRuns() {
        val platform = FakePlatform()
        val bench = Benchmark(factory(platform), platform)
        val unknown = bench.run(Fixtures.file("manifests/toy-tiny-fp32.onnx.manifest.json"), "tpu", 5, 1, true, listOf("am"))
        write("unknown-backend", unknown)
        assertTrue(unknown.error!!.message.contains("unknown backend 'tpu'"))
        assertNull(unknown.runtime.name)
        assertEquals("tpu", unknown.app.backend)
        val broken = bench.run(Fixtures.file("manifests/broken-schema.manifest.json"), "ort-cpu", 5, 1, true, listOf())
        write("broken-manifest", broken)
        assertTrue(broken.error!!.message.contains("schema 99"))
        val mismatch = bench.run(manifest("toy-tiny-fp32.onnx.manifest.json"), BenchmarkConfig(Backend.LITERT_GPU), listOf())
        assertTrue(mismatch.error!!.message.contains("ort-cpu"), mismatch.error!!.message)
    }

    companion object {
        val KEYS = listOf("schema", "kind", "runtime", "latency", "raw_output_sha256", "model", "device", "host", "argv",
            "delegation", "memory", "ops", "error", "static", "app")
        val APP_KEYS = listOf("name", "version", "backend", "strict", "load_cold_ms", "load_warm_ms", "preprocess_ms",
            "postprocess_ms", "input_size", "thermal_before", "thermal_after", "fallback_ops", "parity")
    }
}
