package dev.camkit.core

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory

/** The non-square photo packed every way and back (fixtures `packing/`). */
class PackingTest {
    private val cases = Fixtures.json("packing/cases.json")
    private val tensors = Fixtures.npz("packing/tensors.npz")
    private val photo = Fixtures.png("packing/photo.png")

    private fun expectedImage(key: String): IntArray {
        val t = tensors.getValue(key)
        val b = t.bytes!!
        return IntArray(t.shape[0] * t.shape[1]) {
            (0xFF shl 24) or ((b[3 * it].toInt() and 0xFF) shl 16) or ((b[3 * it + 1].toInt() and 0xFF) shl 8) or (b[3 * it + 2].toInt() and 0xFF)
        }
    }

    @TestFactory
    fun packEveryWay(): List<DynamicTest> = cases.getAsJsonArray("cases").map { it.asJsonObject }.map { case ->
        DynamicTest.dynamicTest("pack ${case.get("name").asString}") {
            val io = TensorIo.parse(case.getAsJsonObject("io"), "cases.json")
            val packed = Packing.pack(photo, io)
            Fixtures.assertTensorEquals(tensors.getValue(case.get("packed").asString), packed, case.get("name").asString)
            val want = expectedImage(case.get("unpacked").asString)
            assertArrayEquals(want, Packing.unpack(packed, io).argb, "unpack(pack(photo))")
            assertArrayEquals(want, Packing.unpack(tensors.getValue(case.get("packed").asString), io).argb, "unpack(fixture)")
        }
    }

    @TestFactory
    fun unpackClampsAndRounds(): List<DynamicTest> = cases.getAsJsonArray("unpack_only").map { it.asJsonObject }.map { case ->
        DynamicTest.dynamicTest("unpack ${case.get("name").asString}") {
            val io = TensorIo.parse(case.getAsJsonObject("io"), "cases.json")
            val got = Packing.unpack(tensors.getValue(case.get("packed").asString), io)
            assertArrayEquals(expectedImage(case.get("unpacked").asString), got.argb)
        }
    }

    @Test
    fun photoIsNotSquareAndPacksRowMajor() {
        assertEquals(listOf(9, 14), cases.getAsJsonArray("size").map { it.asInt })
        assertEquals(14, photo.width)
        val io = Fixtures.io("image", "nchw", 9, 14)
        val t = Packing.pack(photo, io)
        // NCHW: channel 1 (green) of pixel (y=2, x=5)
        assertEquals(photo.channel(2, 5, 1) / 255f, t.floats!![1 * 9 * 14 + 2 * 14 + 5])
    }

    @Test
    fun quantizationIsRoundHalfEvenAndClamps() {
        val q = Quantization(0.5, 3)
        assertEquals(3 + 2, Packing.quantize(1.25f, q)) // 2.5 -> 2 (half to even)
        assertEquals(3 + 4, Packing.quantize(1.75f, q)) // 3.5 -> 4
        assertEquals(255, Packing.quantize(1000f, q))
        assertEquals(0, Packing.quantize(-10f, q))
        assertTrue(Quantization(1.0 / 255, 0).isPixelBytes)
    }

    @Test
    fun refusesWhatDoesNotFit() {
        val wrongSize = Fixtures.io("image", "nhwc", 10, 14)
        assertTrue(assertThrows<CamkitException> { Packing.pack(photo, wrongSize) }.message!!.contains("10x14x3"))
        val range = Fixtures.io("image", "nhwc", 9, 14, range = listOf(-1.0, 1.0))
        assertTrue(assertThrows<CamkitException> { Packing.pack(photo, range) }.message!!.contains("[-1.0, 1.0]"))
    }

    @Test
    fun grayChannel() {
        val io = Fixtures.io("mask", "nchw", 9, 14, c = 1)
        val t = Packing.pack(photo, io)
        assertArrayEquals(intArrayOf(1, 1, 9, 14), t.shape)
        val back = Packing.unpack(t, io)
        val r = photo.channel(4, 4, 0)
        assertEquals((0xFF shl 24) or (r shl 16) or (r shl 8) or r, back.argb[4 * 14 + 4])
    }
}
