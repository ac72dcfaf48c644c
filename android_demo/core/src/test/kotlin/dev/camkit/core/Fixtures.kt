package dev.camkit.core

import com.google.gson.JsonObject
import com.google.gson.JsonParser
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.fail
import java.io.File
import javax.imageio.ImageIO

/**
 * The golden fixtures `camkit app fixtures OUT` writes (toolkit/app_fixtures.py), found by
 * the system property `camkit.fixtures`, the environment variable CAMKIT_FIXTURES, or
 * `index.json` on the test classpath (Gradle's test resources). Missing fixtures FAIL the
 * tests: a core that was never compared with camkit is not a passing core.
 */
object Fixtures {
    /** The fixtures version these tests read (toolkit/app_fixtures.py FIXTURES_VERSION). */
    const val VERSION = 3

    val root: File by lazy { locate() }

    val index: JsonObject by lazy { json(file("index.json")) }

    private fun locate(): File {
        val named = System.getProperty("camkit.fixtures") ?: System.getenv("CAMKIT_FIXTURES")
        val dir = named?.let(::File)
            ?: Fixtures::class.java.classLoader.getResource("index.json")?.takeIf { it.protocol == "file" }
                ?.let { File(it.toURI()).parentFile }
            ?: fail<File>("no golden fixtures: set -Dcamkit.fixtures=DIR (camkit app fixtures DIR) or CAMKIT_FIXTURES")
        if (!File(dir, "index.json").isFile) fail<Unit>("no golden fixtures at $dir (no index.json): run 'camkit app fixtures $dir'")
        val version = json(File(dir, "index.json")).get("version").asInt
        assertEquals(VERSION, version, "fixtures at $dir are version $version; regenerate with this camkit")
        return dir
    }

    fun file(rel: String): File = File(root, rel).also { if (!it.exists()) fail<Unit>("fixture $it is missing") }

    fun json(file: File): JsonObject = JsonParser.parseString(file.readText()).asJsonObject

    fun json(rel: String): JsonObject = json(file(rel))

    private val npzCache = HashMap<String, Map<String, Tensor>>()

    fun npz(rel: String): Map<String, Tensor> = synchronized(npzCache) { npzCache.getOrPut(rel) { Npz.read(file(rel)) } }

    fun npy(rel: String): Tensor = Npz.readNpy(file(rel).readBytes(), rel)

    /** A PNG decoded by javax.imageio (the JVM's, tests only: Android has no ImageIO). */
    fun png(rel: String): Image {
        val img = ImageIO.read(file(rel)) ?: fail("$rel is not a PNG ImageIO reads")
        return Image(img.width, img.height, img.getRGB(0, 0, img.width, img.height, null, 0, img.width))
    }

    /** The tile cases (index.json `cases`). */
    fun cases(): List<String> = index.getAsJsonArray("cases").map { it.asString }

    fun assertTensorEquals(expected: Tensor, actual: Tensor, what: String) {
        assertArrayEquals(expected.shape, actual.shape, "$what: shape")
        assertEquals(expected.dtype, actual.dtype, "$what: dtype")
        if (expected.floats != null) assertArrayEquals(expected.floats, actual.floats, "$what: values")
        else assertArrayEquals(expected.bytes, actual.bytes, "$what: values")
    }

    fun maxAbs(a: FloatArray, b: FloatArray): Double {
        assertEquals(a.size, b.size, "sizes")
        return a.indices.maxOfOrNull { Math.abs(a[it].toDouble() - b[it].toDouble()) } ?: 0.0
    }

    /** An image tensor description for tests. */
    fun io(name: String, layout: String, h: Int, w: Int, c: Int = 3, dtype: String = "float32",
           role: String = "image", of: String? = null, range: List<Double>? = listOf(0.0, 1.0)): TensorIo {
        val shape = if (layout == "nchw") listOf(1, c, h, w) else listOf(1, h, w, c)
        val q = if (dtype == "uint8") Quantization(1.0 / 255, 0) else null
        return TensorIo(name, shape, dtype, q, layout, range, "srgb", role, of)
    }

    /** NHWC float32 [t] (1, h, w, c) in [layout]. */
    fun toLayout(t: Tensor, layout: String): Tensor {
        if (layout == "nhwc") return t
        val (h, w, c) = Triple(t.shape[1], t.shape[2], t.shape[3])
        val src = t.floats!!
        val out = FloatArray(src.size)
        for (i in 0 until h * w) for (ch in 0 until c) out[ch * h * w + i] = src[i * c + ch]
        return Tensor(intArrayOf(1, c, h, w), floats = out)
    }
}

/** A runner that checks each call's feeds and replays recorded outputs. */
class ReplayRunner(
    private val check: (call: Int, feeds: Map<String, Tensor>) -> Unit,
    private val reply: (call: Int) -> Map<String, Tensor>,
) : ModelRunner {
    var calls = 0
        private set
    override val delegation = Delegation.UNKNOWN
    override val runtimeVersion: String? = null

    override fun run(inputs: Map<String, Tensor>): Map<String, Tensor> {
        check(calls, inputs)
        return reply(calls++)
    }

    override fun close() {}
}

/** JUnit's assertThrows for Kotlin (Debian's junit5 jar lacks the Kotlin extensions). */
inline fun <reified T : Throwable> assertThrows(noinline block: () -> Unit): T =
    org.junit.jupiter.api.Assertions.assertThrows(T::class.java) { block() }
