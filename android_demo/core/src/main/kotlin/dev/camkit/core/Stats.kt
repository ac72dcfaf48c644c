package dev.camkit.core

import kotlin.math.floor
import kotlin.math.sqrt

/**
 * The profile result's `latency` block, times in ms; null: not measured. [stdMs] is the
 * population standard deviation (numpy's default, ddof 0), null for a single run.
 */
data class LatencyStats(
    val initMs: Double? = null,
    val firstMs: Double? = null,
    val warmupMeanMs: Double? = null,
    val meanMs: Double? = null,
    val medianMs: Double? = null,
    val p5Ms: Double? = null,
    val p90Ms: Double? = null,
    val p95Ms: Double? = null,
    val p99Ms: Double? = null,
    val minMs: Double? = null,
    val maxMs: Double? = null,
    val stdMs: Double? = null,
    val n: Int? = null,
)

/** Latency statistics with the definitions of toolkit/profilers (numpy's, bit for bit). */
object Stats {
    /**
     * numpy's default (linear) percentile of [values] (sorted or not) at quantile [q] in
     * [0, 1] (0.5: the median): sorted x, position (n - 1) q, interpolated between its
     * neighbours as numpy does (from the upper one when the fraction is >= 0.5).
     */
    fun percentile(values: DoubleArray, q: Double): Double {
        ensure(values.isNotEmpty()) { "no values to take a percentile of" }
        ensure(q in 0.0..1.0) { "quantile $q is outside [0, 1] (the median is 0.5)" }
        val sorted = values.sortedArray()
        val position = (sorted.size - 1) * q
        val lo = floor(position).toInt()
        val hi = minOf(lo + 1, sorted.size - 1)
        val t = position - lo
        val a = sorted[lo]
        val b = sorted[hi]
        val diff = b - a
        return if (t >= 0.5) b - diff * (1 - t) else a + diff * t
    }

    /** The mean as numpy computes it (pairwise summation, then / n). */
    fun mean(values: DoubleArray): Double {
        ensure(values.isNotEmpty()) { "no values to average" }
        return pairwiseSum(values, 0, values.size) / values.size
    }

    /** The population standard deviation (ddof 0) as numpy computes it. */
    fun std(values: DoubleArray): Double {
        val mean = mean(values)
        val squares = DoubleArray(values.size) { (values[it] - mean) * (values[it] - mean) }
        return sqrt(pairwiseSum(squares, 0, squares.size) / values.size)
    }

    /** [samplesMs] (the timed runs) summarised; the init, first and warm-up fields stay null. */
    fun latency(samplesMs: DoubleArray): LatencyStats {
        ensure(samplesMs.isNotEmpty()) { "no timed runs to summarise; run at least one" }
        return LatencyStats(
            meanMs = mean(samplesMs), medianMs = percentile(samplesMs, 0.5), p5Ms = percentile(samplesMs, 0.05),
            p90Ms = percentile(samplesMs, 0.90), p95Ms = percentile(samplesMs, 0.95), p99Ms = percentile(samplesMs, 0.99),
            minMs = samplesMs.min(), maxMs = samplesMs.max(),
            stdMs = if (samplesMs.size > 1) std(samplesMs) else null, n = samplesMs.size,
        )
    }

    /** numpy's pairwise summation (umath loops `pairwise_sum`): blocks of 8 partial sums up to
     * 128 values, halves (rounded to 8) above. */
    private fun pairwiseSum(x: DoubleArray, start: Int, n: Int): Double {
        if (n < 8) {
            var res = 0.0
            for (i in start until start + n) res += x[i]
            return res
        }
        if (n <= 128) {
            val r = DoubleArray(8) { x[start + it] }
            var i = 8
            while (i < n - n % 8) {
                for (j in 0 until 8) r[j] += x[start + i + j]
                i += 8
            }
            var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while (i < n) res += x[start + i++]
            return res
        }
        var half = n / 2
        half -= half % 8
        return pairwiseSum(x, start, half) + pairwiseSum(x, start + half, n - half)
    }
}
