package dev.camkit.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import java.io.ByteArrayOutputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.zip.ZipEntry
import java.util.zip.ZipOutputStream

/** The manifest set (fixtures `manifests/`): the valid ones read back, each broken one refused. */
class ManifestTest {
    private val expected = Fixtures.json("manifests/expected.json").getAsJsonObject("manifests")

    @TestFactory
    fun everyManifest(): List<DynamicTest> = expected.entrySet().map { (name, want) ->
        val w = want.asJsonObject
        DynamicTest.dynamicTest(name) {
            val file = Fixtures.file("manifests/$name")
            if (w.get("ok").asBoolean) {
                val m = Manifest.read(file)
                assertEquals(w.get("model_id").asString, m.modelId)
                assertEquals(w.get("variant").asString, m.variant)
                assertEquals(w.get("format").asString, m.format)
                assertEquals(w.get("precision").asString, m.precision)
                assertEquals(w.get("artifact").asString, m.artifactFile)
                assertEquals(w.get("sample").asString, m.sampleFile)
                assertEquals(w.getAsJsonArray("inputs").map { it.asString }, m.inputs.map { it.name })
                assertEquals(w.getAsJsonArray("outputs").map { it.asString }, m.outputs.map { it.name })
                assertTrue(m.inputs.all { it.layout == w.get("layout").asString && it.dtype == w.get("dtype").asString })
                assertEquals("tiles", m.fullResolution!!.strategy)
                val budget = w.get("psnr_budget_db")
                assertEquals(if (budget.isJsonNull) null else budget.asDouble, m.psnrBudgetDb)
                assertTrue(m.artifact().isFile)
                val arrays = Npz.read(m.sample()!!)  // np.savez_compressed: deflated, zip64
                for ((key, digest) in w.getAsJsonObject("arrays").entrySet()) {
                    val t = arrays.getValue(key)
                    val d = digest.asJsonObject
                    assertEquals(d.getAsJsonArray("shape").map { it.asInt }, t.shape.toList(), key)
                    val bytes = ByteBuffer.allocate(4 * t.size).order(ByteOrder.LITTLE_ENDIAN)
                    bytes.asFloatBuffer().put(t.floats!!)
                    assertEquals(d.get("sha256").asString, Sha256.of(bytes.array()), key)
                }
            } else {
                val e = assertThrows<CamkitException> { Manifest.read(file) }
                val message = e.message!!
                assertFalse(message.contains('\n'), "one line: $message")
                for (word in w.getAsJsonArray("message_has")) {
                    assertTrue(message.contains(word.asString), "'${w.get("problem").asString}' refusal names '${word.asString}': $message")
                }
            }
        }
    }

    @Test
    fun withoutVerificationABadSha256Reads() {
        val m = Manifest.read(Fixtures.file("manifests/broken-sha256.manifest.json"), verifySha256 = false)
        assertEquals("0".repeat(64), m.artifactSha256)
        assertNull(m.featuresArtifact)
    }

    @Test
    fun npzStoredAndRefusals() {
        fun npy(descr: String, shape: String, data: ByteArray): ByteArray {
            var header = "{'descr': '$descr', 'fortran_order': False, 'shape': $shape, }"
            while ((10 + header.length + 1) % 64 != 0) header += " "
            header += "\n"
            val out = ByteArrayOutputStream()
            out.write(byteArrayOf(0x93.toByte(), 'N'.code.toByte(), 'U'.code.toByte(), 'M'.code.toByte(), 'P'.code.toByte(), 'Y'.code.toByte(), 1, 0))
            out.write(byteArrayOf((header.length and 0xFF).toByte(), (header.length shr 8).toByte()))
            out.write(header.toByteArray())
            out.write(data)
            return out.toByteArray()
        }
        val zip = ByteArrayOutputStream()
        ZipOutputStream(zip).use { z ->
            z.putNextEntry(ZipEntry("a/b.npy"))
            z.write(npy("|u1", "(2, 3)", byteArrayOf(1, 2, 3, 4, 5, (-1).toByte())))
            z.closeEntry()
        }
        val t = Npz.read(zip.toByteArray()).getValue("a/b")
        assertEquals(listOf(2, 3), t.shape.toList())
        assertEquals(255f, t.raw(5))
        val f8 = assertThrows<CamkitException> { Npz.readNpy(npy("<f8", "(1,)", ByteArray(8)), "x.npy") }
        assertTrue(f8.message!!.contains("'<f8'"))
        assertThrows<CamkitException> { Npz.read("not a zip".toByteArray()) }
    }

    @Test
    fun backends() {
        assertEquals(Backend.LITERT_GPU, Backend.of("litert-gpu"))
        assertEquals("GPU", Backend.LITERT_GPU.delegate)
        assertNull(Backend.ORT_CPU.delegate)
        val e = assertThrows<CamkitException> { Backend.of("tpu") }
        assertTrue(Backend.entries.all { e.message!!.contains(it.id) }, e.message)
    }
}
