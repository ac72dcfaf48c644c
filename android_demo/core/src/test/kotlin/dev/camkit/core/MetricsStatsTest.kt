package dev.camkit.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory

/** PSNR, max abs and latency statistics against the values camkit computes (fixtures). */
class MetricsStatsTest {
    @TestFactory
    fun metrics(): List<DynamicTest> = Fixtures.json("metrics.json").getAsJsonArray("pairs").map { it.asJsonObject }.map { p ->
        DynamicTest.dynamicTest("metrics ${p.get("name").asString}") {
            val a = p.getAsJsonArray("a").map { it.asDouble.toFloat() }.toFloatArray()
            val b = if (p.has("b")) p.getAsJsonArray("b").map { it.asDouble.toFloat() }.toFloatArray() else {
                val q = p.getAsJsonObject("quantization")
                val bytes = p.getAsJsonArray("b_uint8").map { it.asInt.toByte() }.toByteArray()
                Tensor(intArrayOf(bytes.size), bytes = bytes).toFloats(Quantization(q.get("scale").asDouble, q.get("zero_point").asInt))
            }
            val psnr = p.get("psnr_db")
            if (psnr.asJsonPrimitive.isString) {
                assertEquals("inf", psnr.asString)
                assertEquals(Double.POSITIVE_INFINITY, Metrics.psnr(a, b))
            } else {
                assertEquals(psnr.asDouble, Metrics.psnr(a, b), 1e-9)
            }
            assertEquals(p.get("max_abs").asDouble, Metrics.maxAbs(a, b), 0.0)
        }
    }

    @TestFactory
    fun latency(): List<DynamicTest> = Fixtures.json("latency.json").getAsJsonArray("sets").map { it.asJsonObject }.map { s ->
        DynamicTest.dynamicTest("latency ${s.get("name").asString}") {
            val samples = s.getAsJsonArray("samples_ms").map { it.asDouble }.toDoubleArray()
            val got = Stats.latency(samples)
            fun same(key: String, value: Double?) {
                val want = s.get(key)
                if (want.isJsonNull) assertNull(value, key) else assertEquals(want.asDouble, value!!, 1e-12 * Math.abs(want.asDouble), key)
            }
            same("mean_ms", got.meanMs); same("median_ms", got.medianMs); same("p5_ms", got.p5Ms)
            same("p90_ms", got.p90Ms); same("p95_ms", got.p95Ms); same("p99_ms", got.p99Ms)
            same("min_ms", got.minMs); same("max_ms", got.maxMs); same("std_ms", got.stdMs)
            assertEquals(s.get("n").asInt, got.n)
            for ((p, want) in s.getAsJsonObject("percentiles").entrySet()) {
                assertEquals(want.asDouble, Stats.percentile(samples, p.toDouble() / 100), 1e-12 * want.asDouble, "p$p")
            }
        }
    }

    @Test
    fun percentileEdges() {
        assertEquals(2.5, Stats.percentile(doubleArrayOf(4.0, 1.0, 3.0, 2.0), 0.5))
        assertEquals(1.0, Stats.percentile(doubleArrayOf(4.0, 1.0, 3.0, 2.0), 0.0))
        assertThrows<CamkitException> { Stats.percentile(doubleArrayOf(1.0), 50.0) }
        assertThrows<CamkitException> { Metrics.psnr(FloatArray(2), FloatArray(3)) }
    }
}
