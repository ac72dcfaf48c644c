package dev.camkit.core

import kotlin.math.abs
import kotlin.math.log10

/** Parity metrics as toolkit/checks/metrics.py computes them (float64 over float32 values). */
object Metrics {
    /** PSNR in dB: 10 log10(peak^2 / mse), mse the float64 mean of (a - b)^2; +inf when equal. */
    fun psnr(a: FloatArray, b: FloatArray, peak: Double = 1.0): Double {
        sameSize(a, b)
        var sum = 0.0
        for (i in a.indices) {
            val d = a[i].toDouble() - b[i].toDouble()
            sum += d * d
        }
        val mse = sum / a.size
        return if (mse == 0.0) Double.POSITIVE_INFINITY else 10.0 * log10(peak * peak / mse)
    }

    /** The largest |a - b|, in float64. */
    fun maxAbs(a: FloatArray, b: FloatArray): Double {
        sameSize(a, b)
        var worst = 0.0
        for (i in a.indices) worst = maxOf(worst, abs(a[i].toDouble() - b[i].toDouble()))
        return worst
    }

    private fun sameSize(a: FloatArray, b: FloatArray) {
        ensure(a.size == b.size && a.isNotEmpty()) { "cannot compare ${a.size} values with ${b.size}" }
    }
}
